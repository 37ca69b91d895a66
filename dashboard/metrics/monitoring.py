"""Monitoring compliance of metrics.md (contract v2): one implementation of every figure.

Per administered session in scope (``filters.scoped_sessions``), from its ``vitals`` rows,
its own vital-sign columns, its CADSS/MOAA/S scores and the patient's medications:

- ``vitals_complete``: a ``pre_dose`` BP, a BP of any timepoint but ``pre_dose`` and
  ``discharge`` taken ``peak_check_from_min``–``peak_check_to_min`` minutes after
  ``scheduled_at``, and a BP on the latest ``discharge`` row. A BP is a row with both
  systolic and diastolic. A session without vitals rows has no discharge reading, so it is
  never complete (a v1 clinic's sessions count 0.0, not null).
- ``observed_long_enough``: duration_min + recovery_min (0 when null) ≥ the route's minimum;
  a null duration is not long enough.
- ``dosed_despite_elevated_bp``: the pre-dose BP (the latest ``pre_dose`` row with a BP, else the
  session's ``bp_sys_pre``/``bp_dia_pre``) at or above ``pre_dose_bp_sys`` or ``pre_dose_bp_dia``.
- ``discharged_with_excursion``: the latest ``discharge`` row beyond an excursion threshold.
- ``cadss_scored`` / ``moaas_scored``: a ``cadss`` / ``moaas`` score linked by ``session_id``.

Shares carry Wilson 95% CIs; funnels are binomial (``stats.funnel``), charts over time Laney
p′ (``stats.spc``). Session counts are never suppressed; the outcome split by medication is.
An older database without the v2 tables reads them as empty (``pipelines.compat``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import numpy as np
import polars as pl

from dashboard.metrics.control_charts import SpcOptions, chart_filters, mark_period
from dashboard.metrics.filters import Filters, Fragment, clinic_where, scoped_sessions
from dashboard.metrics.outcomes.cohort import cohort_where, settled_parameters
from dashboard.metrics.outcomes.suppression import is_suppressed
from dashboard.metrics.safety import PER, dose_band_sql
from dashboard.stats import spc
from dashboard.stats.intervals import poisson_rate_ci, wilson
from pipelines import compat
from pipelines.contract import ADMINISTERED_STATUSES
from pipelines.model.config import MetricConfig
from pipelines.model.outcome_rules import PRIMARY_INSTRUMENT
from pipelines.model.patient_outcomes import (
    cohort_columns,
    keyed_cohort,
    patient_outcomes,
    scores_for,
    settled_sql,
)

Grain = Literal["week", "month"]


@dataclass(frozen=True)
class Measure:
    label: str
    higher_is_better: bool
    help: str


MEASURES: dict[str, Measure] = {
    "vitals_complete": Measure(
        "Vitals complete", True, "pre-dose BP, a BP 30–60 min after the start and a discharge BP"
    ),
    "observed_long_enough": Measure(
        "Observed long enough", True, "duration + recovery at least the route's minimum"
    ),
    "dosed_despite_elevated_bp": Measure(
        "Dosed despite elevated pre-dose BP", False, "pre-dose BP at or above the limits, and dosed"
    ),
    "discharged_with_excursion": Measure(
        "Discharged with an unresolved excursion", False, "the discharge reading beyond a threshold"
    ),
    "cadss_scored": Measure("Dissociation scored (CADSS)", True, "a CADSS score linked to the session"),
    "moaas_scored": Measure("Sedation scored (MOAA/S)", True, "a MOAA/S score linked to the session"),
}
DIMENSIONS = ("clinic", "route", "modality", "provider")
NO_PROVIDER = "not recorded"
MIN_FUNNEL_UNITS = 3  # fewer clinics (or providers) with sessions: no funnel, as for AEs


def failing(measure: str) -> str:
    """SQL (on the per-session columns) true when a session fails ``measure``: the review lists."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {tuple(MEASURES)}, not {measure!r}")
    return f"NOT {measure}" if MEASURES[measure].higher_is_better else measure


# --- per-session rows ------------------------------------------------------------------------


def _sources(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str]:
    """(vitals source, medications source, provider column) of this database's version."""
    provider = "s.provider_key" if compat.has_provider_key(con) else "CAST(NULL AS VARCHAR)"
    return compat.v2_table_source(con, "vitals"), compat.v2_table_source(con, "medications"), provider


def session_rows_sql(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> Fragment:
    """Every administered session in scope with its monitoring columns (see the module docstring).

    Vitals and scores are read only for the sessions in scope. Columns: session_id,
    scheduled_at, day, clinic_id, clinic_name, region, patient_key, provider_key, route,
    modality, phase, dose_mg_per_kg, dose_band, duration_min, recovery_min, observed_min,
    min_observation, vitals_rows, pre_bp_sys, pre_bp_dia, pre_from (vitals | session | null),
    has_pre_bp, has_peak_bp, has_discharge_bp, discharge_bp_sys, discharge_bp_dia, discharge_hr,
    discharge_spo2, cadss, moaas, on_maoi_or_stimulant, excursion (session maxima), bp_excursion,
    and the six measures of ``MEASURES`` as booleans.
    """
    vitals, meds, provider = _sources(con)
    scoped, sp = scoped_sessions(f)
    status = ", ".join("?" for _ in ADMINISTERED_STATUSES)
    band, bp = dose_band_sql("s.dose_mg_per_kg")
    bp_given = "v.bp_sys IS NOT NULL AND v.bp_dia IS NOT NULL"
    reading = "{'sys': v.bp_sys, 'dia': v.bp_dia, 'hr': v.hr, 'spo2': v.spo2}"
    sql = f"""
        WITH s AS (SELECT * FROM ({scoped}) x WHERE x.status IN ({status})),
        v AS (
            SELECT v.session_id, count(*) AS vitals_rows,
                   arg_max({reading}, (v.taken_at, v.vital_id))
                       FILTER (WHERE v.timepoint = 'pre_dose' AND {bp_given}) AS pre,
                   bool_or(v.timepoint NOT IN ('pre_dose', 'discharge') AND {bp_given}
                           AND v.taken_at >= s.scheduled_at + to_minutes(CAST(? AS BIGINT))
                           AND v.taken_at <= s.scheduled_at + to_minutes(CAST(? AS BIGINT))) AS has_peak_bp,
                   arg_max({reading}, (v.taken_at, v.vital_id))
                       FILTER (WHERE v.timepoint = 'discharge') AS dis
            FROM {vitals} v JOIN s ON s.session_id = v.session_id
            GROUP BY v.session_id),
        a AS (
            SELECT session_id, max(score) FILTER (WHERE instrument = 'cadss') AS cadss,
                   min(score) FILTER (WHERE instrument = 'moaas') AS moaas
            FROM assessments
            WHERE instrument IN ('cadss', 'moaas') AND session_id IN (SELECT session_id FROM s)
            GROUP BY session_id),
        m AS (
            SELECT DISTINCT s.session_id FROM s JOIN {meds} m ON m.patient_key = s.patient_key
            WHERE m.drug_class IN ('maoi', 'stimulant')
              AND m.started_on <= CAST(s.scheduled_at AS DATE)
              AND (m.stopped_on IS NULL OR m.stopped_on >= CAST(s.scheduled_at AS DATE))),
        r AS (
            SELECT s.session_id, s.scheduled_at, CAST(s.scheduled_at AS DATE) AS day, s.clinic_id,
                   s.clinic_name, s.region, s.patient_key, {provider} AS provider_key, s.route,
                   s.modality, s.phase, s.dose_mg_per_kg, {band} AS dose_band, s.duration_min,
                   s.recovery_min, s.duration_min + coalesce(s.recovery_min, 0) AS observed_min,
                   CASE s.route WHEN 'iv' THEN ? WHEN 'im' THEN ? WHEN 'intranasal' THEN ? END
                       AS min_observation,
                   coalesce(v.vitals_rows, 0) AS vitals_rows,
                   CASE WHEN v.pre IS NOT NULL THEN v.pre.sys ELSE s.bp_sys_pre END AS pre_bp_sys,
                   CASE WHEN v.pre IS NOT NULL THEN v.pre.dia ELSE s.bp_dia_pre END AS pre_bp_dia,
                   CASE WHEN v.pre IS NOT NULL THEN 'vitals'
                        WHEN s.bp_sys_pre IS NOT NULL OR s.bp_dia_pre IS NOT NULL THEN 'session' END
                       AS pre_from,
                   v.pre IS NOT NULL AS has_pre_bp,
                   coalesce(v.has_peak_bp, false) AS has_peak_bp,
                   coalesce(v.dis.sys IS NOT NULL AND v.dis.dia IS NOT NULL, false) AS has_discharge_bp,
                   v.dis.sys AS discharge_bp_sys, v.dis.dia AS discharge_bp_dia,
                   v.dis.hr AS discharge_hr, v.dis.spo2 AS discharge_spo2,
                   a.cadss, a.moaas,
                   m.session_id IS NOT NULL AS on_maoi_or_stimulant,
                   coalesce(s.bp_sys_max >= ? OR s.bp_dia_max >= ? OR s.hr_max >= ? OR s.spo2_min < ?, false)
                       AS excursion,
                   coalesce(s.bp_sys_max >= ? OR s.bp_dia_max >= ?, false) AS bp_excursion
            FROM s LEFT JOIN v USING (session_id) LEFT JOIN a USING (session_id)
                   LEFT JOIN m USING (session_id))
        SELECT *,
               has_pre_bp AND has_peak_bp AND has_discharge_bp AS vitals_complete,
               coalesce(observed_min >= min_observation, false) AS observed_long_enough,
               coalesce(pre_bp_sys >= ? OR pre_bp_dia >= ?, false) AS dosed_despite_elevated_bp,
               coalesce(discharge_bp_sys >= ? OR discharge_bp_dia >= ? OR discharge_hr >= ?
                        OR discharge_spo2 < ?, false) AS discharged_with_excursion,
               cadss IS NOT NULL AS cadss_scored,
               moaas IS NOT NULL AS moaas_scored
        FROM r"""
    excursion = [cfg.bp_sys_max, cfg.bp_dia_max, cfg.hr_max, cfg.spo2_min]
    params = [
        *sp,
        *ADMINISTERED_STATUSES,
        cfg.peak_check_from_min,
        cfg.peak_check_to_min,
        *bp,
        cfg.min_observation_iv,
        cfg.min_observation_im,
        cfg.min_observation_intranasal,
        *excursion,
        cfg.bp_sys_max,
        cfg.bp_dia_max,
        cfg.pre_dose_bp_sys,
        cfg.pre_dose_bp_dia,
        *excursion,
    ]
    return sql, params


def _counts_sql() -> str:
    measures = ", ".join(f"count(*) FILTER (WHERE {m}) AS {m}" for m in MEASURES)
    return f"count(*) AS administered_sessions, {measures}"


def _with_shares(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``{measure}_rate`` with Wilson ``_ci_low``/``_ci_high`` (null when no session)."""
    n = frame["administered_sessions"].to_list()
    cols: list[pl.Series] = []
    for m in MEASURES:
        k = frame[m].to_list()
        cis = [wilson(int(a), int(b)) if b else (None, None) for a, b in zip(k, n, strict=True)]
        cols += [
            pl.Series(f"{m}_rate", [a / b if b else None for a, b in zip(k, n, strict=True)], pl.Float64),
            pl.Series(f"{m}_ci_low", [c[0] for c in cis], pl.Float64),
            pl.Series(f"{m}_ci_high", [c[1] for c in cis], pl.Float64),
        ]
    return frame.with_columns(cols)


def summary(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> dict[str, Any]:
    """Counts of every measure over the administered sessions in scope, with shares and Wilson CIs."""
    rows, params = session_rows_sql(con, f, cfg)
    frame = con.sql(f"SELECT {_counts_sql()} FROM ({rows})", params=params).pl()
    return _with_shares(frame.cast({c: pl.Int64 for c in frame.columns})).row(0, named=True)


def kpis(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> dict[str, dict[str, Any]]:
    """``summary`` of the period (``current``) and of the equal period before it (``previous``)."""
    return {"current": summary(con, f, cfg), "previous": summary(con, f.previous_period(), cfg)}


def _level(dimension: str) -> str:
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}, not {dimension!r}")
    return {
        "clinic": "clinic_id",
        "route": "route",
        "modality": "modality",
        "provider": f"coalesce(provider_key, '{NO_PROVIDER}')",
    }[dimension]


def by(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, dimension: str) -> pl.DataFrame:
    """``summary`` per clinic, route, modality or provider (pseudonym; ``not recorded`` when null).

    Columns: level, label (clinic name for clinics), clinic_id (a provider's clinic, the one with
    most of their sessions; else null), administered_sessions, each measure's count, rate and CI.
    """
    rows, params = session_rows_sql(con, f, cfg)
    level = _level(dimension)
    frame = con.sql(
        f"""SELECT {level} AS level, any_value(clinic_name) AS clinic_name, mode(clinic_id) AS clinic_id,
                   {_counts_sql()}
            FROM ({rows}) GROUP BY 1 ORDER BY 1""",
        params=params,
    ).pl()
    frame = frame.with_columns(
        label=pl.col("clinic_name") if dimension == "clinic" else pl.col("level"),
        clinic_id=pl.col("clinic_id") if dimension == "provider" else pl.lit(None, pl.String),
    ).drop("clinic_name")
    counts = ["administered_sessions", *MEASURES]
    frame = frame.select("level", "label", "clinic_id", pl.col(counts).cast(pl.Int64))
    return _with_shares(frame)


def funnel(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, measure: str, dimension: str = "clinic"
) -> pl.DataFrame:
    """Clinics (or providers) against the share over ``f``: a binomial funnel (Spiegelhalter 2005).

    ``f`` is the population, every clinic the viewer may see (``network_filters``), as for the AE
    funnel. θ0 = Σ count ÷ Σ sessions; limits on the share scale; with fewer than
    ``MIN_FUNNEL_UNITS`` units with sessions, limits and flags are null. Providers without a
    pseudonym are left out. Columns: level, label, clinic_id, administered_sessions, count, rate,
    expected, lower95, upper95, lower998, upper998, flag, target.
    """
    if dimension not in ("clinic", "provider"):
        raise ValueError("a funnel compares clinics or providers")
    from dashboard.stats import funnel as funnel_stats  # scipy on first use

    rows = by(con, f, cfg, dimension)
    if dimension == "provider":
        rows = rows.filter(pl.col("level") != NO_PROVIDER)
    rows = rows.select(
        "level",
        "label",
        "clinic_id",
        "administered_sessions",
        count=pl.col(measure),
        rate=pl.col(f"{measure}_rate"),
    )
    n, k = rows["administered_sessions"].to_numpy(), rows["count"].to_numpy()
    theta0 = float(k.sum() / n.sum()) if n.sum() else 0.0
    limits, theta0, _ = funnel_stats.funnel(k, n, theta0=theta0, kind="binomial")
    names = ("lower95", "upper95", "lower998", "upper998")
    scaled = limits.select("expected", *[(pl.col(c) / pl.col("n")).alias(c) for c in names], "flag")
    if int((n > 0).sum()) < MIN_FUNNEL_UNITS:
        scaled = scaled.with_columns(pl.lit(None, dtype=t).alias(c) for c, t in scaled.schema.items())
    return pl.concat([rows, scaled], how="horizontal").with_columns(target=pl.lit(theta0))


def funnel_curve(frame: pl.DataFrame, points: int = 120) -> pl.DataFrame:
    """Smooth binomial funnel lines (share scale) for a ``funnel`` frame."""
    from dashboard.stats import funnel as funnel_stats

    n_max = float(frame["administered_sessions"].max() or 0) * 1.05 if frame.height else 0.0
    theta0 = float(frame["target"][0]) if frame.height else 0.0
    return funnel_stats.funnel_curve(theta0, n_max, kind="binomial", points=points)


def p_chart(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    cfg: MetricConfig,
    measure: str,
    grain: Grain = "week",
    clinic_id: str | None = None,
    options: SpcOptions | None = None,
) -> pl.DataFrame:
    """p′-chart (Laney by default) of a measure's share per week or month, over the chart's window
    (``control_charts``), for the scope or one clinic of it. Columns of ``stats.spc.p_chart``
    plus ``in_period``."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {tuple(MEASURES)}, not {measure!r}")
    if grain not in ("week", "month"):
        raise ValueError(f"grain must be 'week' or 'month', not {grain!r}")
    options = options or SpcOptions()
    if clinic_id is not None:
        f = f.with_clinics((clinic_id,) if clinic_id in f.clinic_ids else ())
    rows, params = session_rows_sql(con, chart_filters(f, grain, options), cfg)
    data = con.sql(
        f"""SELECT CAST(date_trunc(?, day) AS DATE) AS period,
                   CAST(count(*) FILTER (WHERE {measure}) AS BIGINT) AS count, CAST(count(*) AS BIGINT) AS n
            FROM ({rows}) GROUP BY 1 ORDER BY 1""",
        params=[grain, *params],
    ).pl()
    chart = spc.p_chart(
        data,
        baseline_periods=cfg.spc_baseline_periods,
        baseline=options.baseline,
        laney=options.laney,
        higher_is_better=MEASURES[measure].higher_is_better,
    )
    return mark_period(chart, f, grain)


REVIEW_COLUMNS = (
    "session_id", "scheduled_at", "clinic_id", "clinic_name", "provider_key", "patient_key", "route",
    "modality", "dose_mg_per_kg", "duration_min", "recovery_min", "observed_min", "min_observation",
    "vitals_rows", "pre_bp_sys", "pre_bp_dia", "pre_from", "has_pre_bp", "has_peak_bp", "has_discharge_bp",
    "discharge_bp_sys", "discharge_bp_dia", "discharge_hr", "discharge_spo2", "cadss", "moaas",
)  # fmt: skip


def review_list(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    cfg: MetricConfig,
    measure: str,
    provider: str | None = None,
) -> pl.DataFrame:
    """The administered sessions in scope failing ``measure`` (all of them, newest first), with
    what the rule read; ``provider`` keeps one provider's (``not recorded``: those without)."""
    rows, params = session_rows_sql(con, f, cfg)
    where, wp = failing(measure), []
    if provider is not None:
        where += f" AND {_level('provider')} = ?"
        wp = [provider]
    return con.sql(
        f"SELECT {', '.join(REVIEW_COLUMNS)} FROM ({rows}) WHERE {where} "
        "ORDER BY scheduled_at DESC, session_id",
        params=[*params, *wp],
    ).pl()


def vitals_timeline(con: duckdb.DuckDBPyConnection, f: Filters, session_id: str) -> dict[str, Any]:
    """One session's readings against minutes from its start, if its clinic is in the viewer's scope.

    ``session``: the session's row (None when out of scope or unknown); ``readings``: minute,
    timepoint, taken_at, bp_sys, bp_dia, hr, spo2, resp_rate in time order. Without vitals rows,
    the session's own columns as two points: pre at minute 0 and the maxima at ``None`` (no time).
    """
    vitals, _, provider = _sources(con)
    where, params = clinic_where(f, "s.clinic_id")
    session = con.sql(
        f"""SELECT s.session_id, s.scheduled_at, s.clinic_id, c.clinic_name, {provider} AS provider_key,
                   s.route, s.status, s.duration_min, s.recovery_min, s.bp_sys_pre, s.bp_dia_pre, s.hr_pre,
                   s.bp_sys_max, s.bp_dia_max, s.hr_max, s.spo2_min
            FROM sessions s JOIN clinics c USING (clinic_id) WHERE s.session_id = ? AND {where}""",
        params=[session_id, *params],
    ).pl()
    if session.is_empty():
        return {"session": None, "readings": pl.DataFrame()}
    readings = con.sql(
        f"""SELECT date_diff('second', s.scheduled_at, v.taken_at) / 60.0 AS minute, v.timepoint, v.taken_at,
                   v.bp_sys, v.bp_dia, v.hr, v.spo2, v.resp_rate
            FROM {vitals} v JOIN sessions s ON s.session_id = v.session_id
            WHERE v.session_id = ? ORDER BY v.taken_at, v.vital_id""",
        params=[session_id],
    ).pl()
    return {"session": session.row(0, named=True), "readings": readings}


# --- dissociation and sedation by dose ---------------------------------------------------------


def sedation_by_dose(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """CADSS and MOAA/S per route and dose band (mg/kg; intranasal is not weight-based).

    Columns: route, dose_band, administered_sessions, cadss_scored, mean_cadss, mean_cadss_ci_low,
    mean_cadss_ci_high (t interval), moaas_scored, deep_sedation (MOAA/S ≤ ``deep_sedation_moaas``),
    deep_sedation_rate (of the sessions scored), deep_sedation_ci_low, deep_sedation_ci_high (Wilson).
    """
    rows, params = session_rows_sql(con, f, cfg)
    frame = con.sql(
        f"""SELECT route, dose_band, count(*) AS administered_sessions,
                   count(cadss) AS cadss_scored, avg(cadss) AS mean_cadss, stddev_samp(cadss) AS sd_cadss,
                   count(moaas) AS moaas_scored, count(*) FILTER (WHERE moaas <= ?) AS deep_sedation
            FROM ({rows}) GROUP BY 1, 2 ORDER BY 1, 2""",
        params=[cfg.deep_sedation_moaas, *params],
    ).pl()
    from dashboard.stats.intervals import t_interval

    t = [
        t_interval(int(n), m, sd) if n and n > 1 else (m, None, None)
        for n, m, sd in frame.select("cadss_scored", "mean_cadss", "sd_cadss").rows()
    ]
    scored = frame.select("deep_sedation", "moaas_scored").rows()
    w = [wilson(int(k), int(n)) if n else (None, None) for k, n in scored]
    return frame.with_columns(
        pl.col("administered_sessions", "cadss_scored", "moaas_scored", "deep_sedation").cast(pl.Int64),
        mean_cadss_ci_low=pl.Series([_finite(x[1]) for x in t], dtype=pl.Float64),
        mean_cadss_ci_high=pl.Series([_finite(x[2]) for x in t], dtype=pl.Float64),
        deep_sedation_rate=pl.when(pl.col("moaas_scored") > 0).then(
            pl.col("deep_sedation") / pl.col("moaas_scored")
        ),
        deep_sedation_ci_low=pl.Series([x[0] for x in w], dtype=pl.Float64),
        deep_sedation_ci_high=pl.Series([x[1] for x in w], dtype=pl.Float64),
    ).drop("sd_cadss")


def _finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


# --- concomitant medications -------------------------------------------------------------------

DRUG_CLASSES = (
    "benzodiazepine", "lamotrigine", "maoi", "stimulant", "opioid", "antipsychotic", "ssri_snri",
    "other_cns_depressant", "other",
)  # fmt: skip
SPLIT_DRUGS = ("benzodiazepine", "lamotrigine")  # reported to blunt response


def _cohort_medications(con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(keyed day-0 cohort of the viewer's filters, the drug classes each was on at day 0)."""
    keyed = keyed_cohort(con, *cohort_where(f), first_sessions=compat.first_sessions_source(con))
    meds = compat.v2_table_source(con, "medications")
    name = f"cohort_{uuid.uuid4().hex}"
    con.register(name, keyed.select("pid", "patient_key", "day0"))
    try:
        on = con.sql(
            f"""SELECT DISTINCT k.pid, m.drug_class
                FROM {name} k JOIN {meds} m ON m.patient_key = k.patient_key
                WHERE m.started_on <= CAST(k.day0 AS DATE)
                  AND (m.stopped_on IS NULL OR m.stopped_on >= CAST(k.day0 AS DATE))"""
        ).pl()
    finally:
        con.unregister(name)
    return keyed, on


def medications_at_day0(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """Share of the day-0 cohort (first administered session in the period) on each drug class
    that day (started on or before, not stopped before). Patient counts: below k suppressed.

    Columns: drug_class, patients (null if suppressed), cohort (null if suppressed), share,
    ci_low, ci_high (Wilson), suppressed.
    """
    keyed, on = _cohort_medications(con, f)
    classes = DRUG_CLASSES
    cohort = keyed.height
    counts = dict(on.group_by("drug_class").len().iter_rows())
    out = []
    for drug in classes:
        k = int(counts.get(drug, 0))
        hidden = is_suppressed(cohort, cfg) or (0 < k < cfg.suppression_k)
        lo, hi = wilson(k, cohort) if cohort and not hidden else (None, None)
        out.append(
            {
                "drug_class": drug,
                "patients": None if hidden else k,
                "cohort": None if is_suppressed(cohort, cfg) else cohort,
                "share": None if hidden or not cohort else k / cohort,
                "ci_low": lo,
                "ci_high": hi,
                "suppressed": hidden,
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "drug_class": pl.String, "patients": pl.Int64, "cohort": pl.Int64, "share": pl.Float64,
            "ci_low": pl.Float64, "ci_high": pl.Float64, "suppressed": pl.Boolean,
        },
    )  # fmt: skip


def outcomes_by_medication(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """Response and remission on the primary instrument, split by benzodiazepine and by lamotrigine
    use at day 0, per condition. The per-patient rules are the outcomes' own (``patient_outcomes``),
    with maturity and caseness applied as on the Outcomes page (``settled_sql``).

    Columns: condition, instrument, drug, on_drug, evaluable, responders, response_rate,
    response_ci_low, response_ci_high, remitters, remission_rate, suppressed. Every count below k
    (evaluable, responders, remitters) is null, with the rates computed from it (metrics.md
    "Small-cell suppression").
    """
    keyed, on = _cohort_medications(con, f)
    schema = {
        "condition": pl.String, "instrument": pl.String, "drug": pl.String, "on_drug": pl.Boolean,
        "evaluable": pl.Int64, "responders": pl.Int64, "response_rate": pl.Float64,
        "response_ci_low": pl.Float64, "response_ci_high": pl.Float64, "remitters": pl.Int64,
        "remission_rate": pl.Float64, "suppressed": pl.Boolean,
    }  # fmt: skip
    if keyed.is_empty():
        return pl.DataFrame(schema=schema)
    rows = patient_outcomes(cohort_columns(keyed), scores_for(con, keyed)).join(
        keyed.select("pid", "day0"), on="pid", how="left"
    )
    view = f"outcome_rows_{uuid.uuid4().hex}"
    con.register(view, rows)
    try:  # maturity and caseness as on the Outcomes page (``settled_sql``)
        patients = con.sql(settled_sql(view), params=settled_parameters(con, cfg)).pl()
    finally:
        con.unregister(view)
    primary = patients.filter(
        pl.col("instrument") == pl.col("condition").replace_strict(PRIMARY_INSTRUMENT, default=None)
    )
    out = []
    for drug in SPLIT_DRUGS:
        users = set(on.filter(pl.col("drug_class") == drug)["pid"].to_list())
        marked = primary.with_columns(on_drug=pl.col("pid").is_in(list(users)))
        totals = marked.group_by("condition", "instrument", "on_drug").agg(
            evaluable=pl.col("evaluable").sum(),
            responders=(pl.col("responder") & pl.col("evaluable")).sum(),
            remitters=(pl.col("remitter").fill_null(False) & pl.col("evaluable")).sum(),
            has_remission=pl.col("remitter").is_not_null().any(),
        )
        for r in totals.sort("condition", "on_drug", descending=[False, True]).iter_rows(named=True):
            n, resp, rem = int(r["evaluable"]), int(r["responders"]), int(r["remitters"])
            hide_n = is_suppressed(n, cfg)
            hide_resp = hide_n or 0 < resp < cfg.suppression_k
            hide_rem = hide_n or 0 < rem < cfg.suppression_k or not r["has_remission"]  # no remission rule
            lo, hi = wilson(resp, n) if n and not hide_resp else (None, None)
            out.append(
                {
                    "condition": r["condition"],
                    "instrument": r["instrument"],
                    "drug": drug,
                    "on_drug": r["on_drug"],
                    "evaluable": None if hide_n else n,
                    "responders": None if hide_resp else resp,
                    "response_rate": None if hide_resp or not n else resp / n,
                    "response_ci_low": lo,
                    "response_ci_high": hi,
                    "remitters": None if hide_rem else rem,
                    "remission_rate": None if hide_rem or not n else rem / n,
                    "suppressed": hide_n,
                }
            )
    return pl.DataFrame(out, schema=schema)


def safety_by_medication(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """AEs and BP excursions per 100 administered sessions, split by MAOI or stimulant use on the
    session's date. AEs are those linked to the sessions (by ``session_id``, any onset date).

    Columns: on_maoi_or_stimulant, administered_sessions, ae_count, ae_per_100, ae_ci_low,
    ae_ci_high (Garwood), bp_excursions, bp_excursions_per_100, bp_ci_low, bp_ci_high (Wilson).
    """
    rows, params = session_rows_sql(con, f, cfg)
    frame = con.sql(
        f"""WITH r AS ({rows}),
                 k AS (SELECT session_id, count(*) AS aes FROM adverse_events
                       WHERE session_id IN (SELECT session_id FROM r) GROUP BY 1)
            SELECT on_maoi_or_stimulant, count(*) AS administered_sessions,
                   CAST(coalesce(sum(k.aes), 0) AS BIGINT) AS ae_count,
                   count(*) FILTER (WHERE bp_excursion) AS bp_excursions
            FROM r LEFT JOIN k USING (session_id) GROUP BY 1""",
        params=params,
    ).pl()
    base = pl.DataFrame({"on_maoi_or_stimulant": [True, False]})
    frame = base.join(frame, on="on_maoi_or_stimulant", how="left").fill_null(0)
    out = []
    for r in frame.iter_rows(named=True):
        n, k, b = int(r["administered_sessions"]), int(r["ae_count"]), int(r["bp_excursions"])
        ae_lo, ae_hi = poisson_rate_ci(k, n, per=PER) if n else (None, None)
        bp_lo, bp_hi = wilson(b, n) if n else (None, None)
        out.append(
            {
                "on_maoi_or_stimulant": r["on_maoi_or_stimulant"],
                "administered_sessions": n,
                "ae_count": k,
                "ae_per_100": PER * k / n if n else None,
                "ae_ci_low": ae_lo,
                "ae_ci_high": ae_hi,
                "bp_excursions": b,
                "bp_excursions_per_100": PER * b / n if n else None,
                "bp_ci_low": None if bp_lo is None else PER * bp_lo,
                "bp_ci_high": None if bp_hi is None else PER * bp_hi,
            }
        )
    return pl.DataFrame(out)


# --- the metrics command -----------------------------------------------------------------------

REPORT_KEYS = (
    "administered_sessions",
    "vitals_complete_rate",
    "observed_long_enough_rate",
    "dosed_despite_elevated_bp",
    "discharged_with_excursion",
    "cadss_scored_rate",
    "moaas_scored_rate",
)


def _report_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {key: (int(row[key]) if not key.endswith("_rate") else row[key]) for key in REPORT_KEYS}


def report_block(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> dict[str, Any]:
    """metrics.md's ``monitoring`` block: ``network`` and one entry per clinic of ``f`` (with its
    ``clinic_id``), each with ``REPORT_KEYS`` (rates null when there is no session)."""
    network = summary(con, f, cfg)
    rows = {r["level"]: r for r in by(con, f, cfg, "clinic").iter_rows(named=True)}
    rates = {f"{m}_rate": None for m in MEASURES}
    empty = {"administered_sessions": 0, **dict.fromkeys(MEASURES, 0), **rates}
    return {
        "network": _report_entry(network),
        "clinics": [{"clinic_id": c, **_report_entry(rows.get(c, empty))} for c in f.clinic_ids],
    }


def has_monitoring_data(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database is of contract v2 (it has the ``vitals`` table): the metrics command
    then prints the ``monitoring`` block."""
    return compat.table_exists(con, "vitals")


__all__ = [
    "DIMENSIONS",
    "MEASURES",
    "by",
    "funnel",
    "kpis",
    "medications_at_day0",
    "outcomes_by_medication",
    "p_chart",
    "report_block",
    "review_list",
    "safety_by_medication",
    "sedation_by_dose",
    "session_rows_sql",
    "summary",
    "vitals_timeline",
]
