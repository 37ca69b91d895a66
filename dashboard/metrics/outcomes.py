"""Outcomes per condition (metrics.md "Outcomes" and "Small-cell suppression").

The rule table (condition → instrument → response/remission rule, severity
bands) is data in this module: the metrics, the Outcomes page and the docs
(checked by a test) all read ``RULES``/``PRIMARY_INSTRUMENT``.

Definitions as implemented (see docs/metrics.md "Outcomes"):
- Cohort: patients whose first administered session network-wide ("day 0",
  ties on ``scheduled_at`` broken by ``session_id``) is in the period. The
  patient counts for the clinic, region, route and modality of that session
  and for their ``primary_condition`` (the same attribution as new starts).
- Windows are counted in clinic-local calendar days from day 0's date; the
  day-0 boundary itself is day 0's exact ``scheduled_at``:
  baseline = latest score with ``assessed_at ≤ day0`` and date ≥ day0's date − 30;
  endpoint = latest score with ``assessed_at > day0`` and date ≤ day0's date + 42.
  "Latest"/"first" ties on ``assessed_at`` are broken by ``assessment_id``.
- Scores of every clinic count (the patient's assessments are network-wide).

Every figure built from fewer than ``cfg.suppression_k`` patients is
suppressed (null, ``suppressed=True``); see ``suppressed_clinics`` for the
complementary rule between clinics.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import duckdb
import numpy as np
import polars as pl

from dashboard.metrics.config import MetricConfig
from dashboard.metrics.filters import Filters, clinic_where, combine, dimension_where, period_where
from dashboard.stats.funnel import funnel, funnel_curve
from dashboard.stats.intervals import t_mean_ci, wilson
from dashboard.stats.survival import kaplan_meier
from pipelines.contract import (
    ADMINISTERED_STATUSES,
    ASSESSMENTS,
    CLINICS,
    CONDITIONS,
    INSTRUMENTS,
    PATIENTS,
    SESSIONS,
)
from pipelines.summaries import first_sessions_source

# --- the rule table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    low: float
    high: float  # inclusive
    label: str


@dataclass(frozen=True)
class InstrumentRule:
    instrument: str
    label: str
    response_kind: Literal["percent", "points"]  # reduction from baseline
    response_amount: float  # percent (50) or points (10)
    remission_op: Literal["<", "<="] | None = None  # endpoint score compared with the threshold
    remission_threshold: float | None = None
    bands: tuple[Band, ...] = ()  # severity bands for trajectory charts

    @property
    def response_text(self) -> str:
        unit = "%" if self.response_kind == "percent" else "-point"
        return f"≥ {self.response_amount:g}{unit} reduction"

    @property
    def remission_text(self) -> str:
        if self.remission_op is None:
            return "—"
        op = "<" if self.remission_op == "<" else "≤"
        return f"score {op} {self.remission_threshold:g}"

    @property
    def score_range(self) -> tuple[float, float]:
        return INSTRUMENTS[self.instrument]


def _bands(*spec: tuple[float, float, str]) -> tuple[Band, ...]:
    return tuple(Band(lo, hi, label) for lo, hi, label in spec)


RULES: dict[str, InstrumentRule] = {
    r.instrument: r
    for r in (
        InstrumentRule(
            "phq9",
            "PHQ-9",
            "percent",
            50,
            "<",
            5,
            _bands(
                (0, 4, "minimal"),
                (5, 9, "mild"),
                (10, 14, "moderate"),
                (15, 19, "moderately severe"),
                (20, 27, "severe"),
            ),
        ),
        InstrumentRule(
            "gad7",
            "GAD-7",
            "percent",
            50,
            "<",
            5,
            _bands((0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 21, "severe")),
        ),
        InstrumentRule(
            "pcl5",
            "PCL-5",
            "points",
            10,
            "<",
            33,
            _bands((0, 32, "below threshold"), (33, 80, "probable PTSD")),
        ),
        InstrumentRule(
            "ybocs",
            "Y-BOCS",
            "percent",
            35,
            "<=",
            12,
            _bands(
                (0, 7, "subclinical"),
                (8, 15, "mild"),
                (16, 23, "moderate"),
                (24, 31, "severe"),
                (32, 40, "extreme"),
            ),
        ),
        InstrumentRule("craving_vas", "Craving VAS", "percent", 50),
        InstrumentRule(
            "pain_nrs",
            "Pain NRS",
            "percent",
            30,
            bands=_bands((0, 0, "none"), (1, 3, "mild"), (4, 6, "moderate"), (7, 10, "severe")),
        ),
        InstrumentRule(
            "migraine_days",
            "Migraine days",
            "percent",
            50,
            bands=_bands(
                (0, 3, "low-frequency"),
                (4, 7, "moderate-frequency"),
                (8, 14, "high-frequency"),
                (15, 31, "chronic (≥ 15)"),
            ),
        ),
        InstrumentRule(
            "madrs",
            "MADRS",
            "percent",
            50,
            "<=",
            10,
            _bands((0, 6, "normal"), (7, 19, "mild"), (20, 34, "moderate"), (35, 60, "severe")),
        ),
        InstrumentRule(
            "qids_sr16",
            "QIDS-SR16",
            "percent",
            50,
            "<=",
            5,
            _bands(
                (0, 5, "none"),
                (6, 10, "mild"),
                (11, 15, "moderate"),
                (16, 20, "severe"),
                (21, 27, "very severe"),
            ),
        ),
    )
}
PRIMARY_INSTRUMENT: dict[str, str | None] = {
    "depression": "phq9",
    "bipolar_depression": "phq9",
    "anxiety": "gad7",
    "ptsd": "pcl5",
    "ocd": "ybocs",
    "alcohol_use": "craving_vas",
    "opioid_use": "craving_vas",
    "other_substance_use": "craving_vas",
    "chronic_pain": "pain_nrs",
    "migraine": "migraine_days",
    "other": None,
}
SECONDARY_INSTRUMENTS: tuple[str, ...] = ("madrs", "qids_sr16", "gad7")  # for any condition
IDEATION_INSTRUMENT = "cssrs_ideation"
IDEATION_CONDITIONS: tuple[str, ...] = ("depression", "bipolar_depression")

# Windows in days from day 0 (metrics.md)
BASELINE_DAYS = 30
ENDPOINT_DAYS = 42
RAPID_DAYS = 7
DURABILITY_DAYS = (60, 120)
FOLLOW_UP_DAYS = 120  # time to response: later scores are administratively censored at day 120
WORSENING_FRACTION = 0.20
AT_RISK_DAYS: tuple[int, ...] = (0, 14, 28, 42, 60, 90, 120)
_EPS = 1e-9  # float slack so 35% of 20 (7.000000000000001) counts a 7-point drop

MEASURES: dict[str, str] = {
    "response": "Response",
    "remission": "Remission",
    "mean_change": "Mean change",
    "rapid_response": "Rapid response (≤ 7 days)",
    "durability": "Durability (60–120 days)",
    "worsening": "Worsening (≥ 20%)",
    "ideation_improved": "C-SSRS ideation lower",
}


def instruments_for(condition: str) -> list[tuple[str, bool]]:
    """(instrument, is_primary) shown for a condition: its primary one, then the secondaries."""
    primary = PRIMARY_INSTRUMENT.get(condition)
    out = [(primary, True)] if primary else []
    return out + [(i, False) for i in SECONDARY_INSTRUMENTS if i != primary]


def rules_markdown() -> str:
    """The rule table as Markdown, for docs/metrics.md (a test keeps the docs in step)."""
    lines = ["| condition | instrument | response | remission |", "|---|---|---|---|"]
    for condition in CONDITIONS:
        inst = PRIMARY_INSTRUMENT[condition]
        if inst is None:
            lines.append(f"| {condition} | — | — | — |")
            continue
        r = RULES[inst]
        lines.append(f"| {condition} | {inst} | {r.response_text} | {r.remission_text} |")
    for inst in SECONDARY_INSTRUMENTS:
        r = RULES[inst]
        lines.append(f"| any (secondary) | {inst} | {r.response_text} | {r.remission_text} |")
    return "\n".join(lines)


def is_suppressed(n: int | None, cfg: MetricConfig) -> bool:
    """A figure from fewer than k patients is hidden (k = 0 disables suppression)."""
    return cfg.suppression_k > 0 and (n or 0) < cfg.suppression_k


def suppressed_clinics(evaluable: dict[str, int], cfg: MetricConfig) -> set[str]:
    """Clinics whose figures are hidden, with complementary suppression.

    Primary: every clinic with fewer than k evaluable patients. Complementary:
    if exactly one clinic is suppressed while the network figure is shown and
    other clinics exist, the network minus the other clinics would reveal it,
    so the shown clinic with the fewest evaluable patients (ties: the first
    clinic_id) is suppressed too. Two or more hidden clinics only reveal their
    sum. When the network itself is suppressed every clinic is (each has < k).
    """
    hidden = {c for c, n in evaluable.items() if is_suppressed(n, cfg)}
    network_shown = not is_suppressed(sum(evaluable.values()), cfg)
    if network_shown and len(hidden) == 1 and len(evaluable) > 1:
        shown = sorted((n, c) for c, n in evaluable.items() if c not in hidden)
        hidden.add(shown[0][1])
    return hidden


# --- loading ----------------------------------------------------------------------------

_ALL_INSTRUMENTS = (*RULES, IDEATION_INSTRUMENT)


def _cohort_sql(f: Filters, first_sessions: str) -> tuple[str, list[object]]:
    """CTEs ``firsts`` (each patient's first administered session) and ``cohort``.

    ``first_sessions`` is ``pipelines.summaries.first_sessions_source``: the
    refresh's ``patient_first_sessions`` table (day 0 = first administered
    session, ties on ``scheduled_at`` to the lower ``session_id``), so finding
    day 0 no longer groups every patient's whole history (7 s at 10M sessions).
    """
    first_in_period, period_params = period_where(f, "day0")
    where, params = combine(
        clinic_where(f, "fs.clinic_id", "c.region"),
        dimension_where(
            f, condition_col="p.primary_condition", route_col="fs.route", modality_col="fs.modality"
        ),
    )
    sql = f"""
        firsts AS (
            SELECT patient_key, day0, clinic_id, route, modality
            FROM {first_sessions} WHERE {first_in_period}),
        cohort AS (
            SELECT fs.patient_key, dense_rank() OVER (ORDER BY fs.patient_key) AS pid,
                   fs.clinic_id, c.clinic_name, p.primary_condition AS condition, fs.day0
            FROM firsts fs
            JOIN {CLINICS.name} c ON c.clinic_id = fs.clinic_id
            JOIN {PATIENTS.name} p ON p.patient_key = fs.patient_key
            WHERE {where})"""
    return sql, [*period_params, *params]


def _keyed_cohort(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    ctes, params = _cohort_sql(f, first_sessions_source(con))
    cols = "patient_key, pid, clinic_id, clinic_name, condition, day0"
    return con.sql(f"WITH {ctes} SELECT {cols} FROM cohort ORDER BY pid", params=params).pl()


def load_cohort(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """One row per cohort patient: pid (a per-query number, not an identifier), clinic, condition, day0."""
    return _keyed_cohort(con, f).drop("patient_key")


def load_scores(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Cohort patients' scores from 30 days before day 0 on (see ``load_outcome_data``)."""
    return load_outcome_data(con, f)[1]


def load_outcome_data(con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cohort, scores) from one pass over the sessions.

    cohort: pid, clinic_id, clinic_name, condition, day0. scores: pid,
    clinic_id, condition, instrument, score, assessed_at, assessment_id, day,
    after, session_number. ``day`` = calendar days from day 0's date;
    ``after`` = assessed after day 0's exact time. ``session_number``: the
    administered session named by ``session_id`` when given (and administered,
    same patient), else the latest administered session at or before
    ``assessed_at``, else 0 (before treatment). Patient keys stay inside this
    function (the cohort is handed to the second query as a registered frame).
    """
    keyed = _keyed_cohort(con, f)
    statuses = ", ".join("?" for _ in ADMINISTERED_STATUSES)
    inst = ", ".join("?" for _ in _ALL_INSTRUMENTS)
    view = f"outcome_cohort_{uuid.uuid4().hex}"  # per call: concurrent reads never share a name
    sql = f"""
        WITH adm AS (
            SELECT s.session_id, s.patient_key, s.scheduled_at,
                   row_number() OVER (PARTITION BY s.patient_key ORDER BY s.scheduled_at, s.session_id)
                       AS session_number
            FROM {SESSIONS.name} s SEMI JOIN {view} k ON k.patient_key = s.patient_key
            -- a cohort patient's first administered session is in the period, so all are on or
            -- after its start: a redundant bound that lets DuckDB skip older row groups
            WHERE s.status IN ({statuses}) AND s.scheduled_at >= CAST(? AS TIMESTAMP)),
        x AS (
            SELECT k.pid, k.patient_key, k.clinic_id, k.condition, k.day0,
                   s.instrument, s.score, s.assessed_at, s.assessment_id, s.session_id,
                   date_diff('day', CAST(k.day0 AS DATE), CAST(s.assessed_at AS DATE)) AS day
            FROM {view} k JOIN {ASSESSMENTS.name} s ON s.patient_key = k.patient_key
            WHERE s.instrument IN ({inst})
              AND CAST(s.assessed_at AS DATE) >= CAST(k.day0 AS DATE) - INTERVAL {BASELINE_DAYS} DAY
              AND s.assessed_at >= CAST(? AS TIMESTAMP))  -- implied by the line above (day0 ≥ start)
        SELECT x.pid, x.clinic_id, x.condition, x.instrument, x.score, x.assessed_at, x.assessment_id,
               x.day, x.assessed_at > x.day0 AS after,
               coalesce(linked.session_number, latest.session_number, 0) AS session_number
        FROM x
        LEFT JOIN adm linked ON linked.session_id = x.session_id AND linked.patient_key = x.patient_key
        ASOF LEFT JOIN adm latest
            ON latest.patient_key = x.patient_key AND x.assessed_at >= latest.scheduled_at
        ORDER BY x.pid, x.instrument, x.assessed_at, x.assessment_id"""
    con.register(view, keyed.select("patient_key", "pid", "clinic_id", "condition", "day0"))
    try:
        earliest = f.start - timedelta(days=BASELINE_DAYS)
        scores = con.sql(sql, params=[*ADMINISTERED_STATUSES, f.start, *_ALL_INSTRUMENTS, earliest]).pl()
    finally:
        con.unregister(view)
    return keyed.drop("patient_key"), scores


# --- per-patient outcomes ---------------------------------------------------------------


def _rules_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "instrument": r.instrument,
                "kind": r.response_kind,
                "amount": float(r.response_amount),
                "rem_op": r.remission_op,
                "rem_thr": None if r.remission_threshold is None else float(r.remission_threshold),
            }
            for r in RULES.values()
        ],
        schema={
            "instrument": pl.String,
            "kind": pl.String,
            "amount": pl.Float64,
            "rem_op": pl.String,
            "rem_thr": pl.Float64,
        },
    )


def _responds(baseline: pl.Expr, score: pl.Expr) -> pl.Expr:
    """The response rule (needs the rule columns ``kind``/``amount`` joined in)."""
    percent = (baseline > 0) & (100 * (baseline - score) >= pl.col("amount") * baseline - _EPS)
    points = (baseline - score) >= pl.col("amount") - _EPS
    return (
        pl.when(baseline.is_null() | score.is_null())
        .then(None)
        .when(pl.col("kind") == "percent")
        .then(percent)
        .otherwise(points)
    )


def _remits(score: pl.Expr) -> pl.Expr:
    return (
        pl.when(score.is_null())
        .then(None)
        .when(pl.col("rem_op") == "<")
        .then(score < pl.col("rem_thr"))
        .when(pl.col("rem_op") == "<=")
        .then(score <= pl.col("rem_thr"))
        .otherwise(None)
    )


def _pick(scores: pl.DataFrame, cond: pl.Expr, name: str, last: bool = True) -> pl.DataFrame:
    """Latest (or first) score per (pid, instrument) among rows meeting ``cond``; scores are pre-sorted."""
    agg = pl.col("score").last() if last else pl.col("score").first()
    return scores.filter(cond).group_by("pid", "instrument").agg(agg.alias(name))


def patient_outcomes(cohort: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """One row per (cohort patient, instrument shown for their condition) with every rule applied."""
    pairs = pl.DataFrame(
        [
            {"condition": c, "instrument": i, "is_primary": p}
            for c in CONDITIONS
            for i, p in instruments_for(c)
        ],
        schema={"condition": pl.String, "instrument": pl.String, "is_primary": pl.Boolean},
    )
    base = cohort.select("pid", "clinic_id", "clinic_name", "condition").join(pairs, on="condition")
    s = scores.sort("pid", "instrument", "assessed_at", "assessment_id")
    after, day = pl.col("after"), pl.col("day")
    picks = [
        _pick(s, ~after & (day >= -BASELINE_DAYS), "baseline"),
        _pick(s, after & (day <= ENDPOINT_DAYS), "endpoint"),
        _pick(s, after & (day <= RAPID_DAYS), "rapid_score", last=False),
        _pick(s, after & day.is_between(*DURABILITY_DAYS), "durable_score"),
    ]
    out = base
    for p in picks:
        out = out.join(p, on=["pid", "instrument"], how="left")
    out = out.join(_rules_frame(), on="instrument", how="left")

    # time to response: first follow-up score meeting the rule, else censored at the last one
    follow = (
        s.filter(after & (day <= FOLLOW_UP_DAYS))
        .join(out.select("pid", "instrument", "baseline", "kind", "amount"), on=["pid", "instrument"])
        .with_columns(meets=_responds(pl.col("baseline"), pl.col("score")))
        .group_by("pid", "instrument")
        .agg(event_day=day.filter(pl.col("meets")).min(), last_day=day.max(), follow_ups=pl.len())
    )
    out = out.join(follow, on=["pid", "instrument"], how="left")

    b, e = pl.col("baseline"), pl.col("endpoint")
    valid_baseline = b.is_not_null() & ((pl.col("kind") != "percent") | (b > 0))
    evaluable = valid_baseline & e.is_not_null()
    rapid_ok = valid_baseline & pl.col("rapid_score").is_not_null()
    responder = evaluable & _responds(b, e).fill_null(False)
    return out.with_columns(
        has_scores=b.is_not_null() | e.is_not_null() | pl.col("follow_ups").is_not_null(),
        evaluable=evaluable,
        responder=responder,
        remitter=pl.when(evaluable & pl.col("rem_op").is_not_null()).then(_remits(e)).otherwise(None),
        change=pl.when(evaluable).then(e - b),
        worsened=evaluable & (e > b) & (e - b >= WORSENING_FRACTION * b - _EPS),
        rapid_evaluable=rapid_ok,
        rapid_responder=rapid_ok & _responds(b, pl.col("rapid_score")).fill_null(False),
        durable_evaluable=responder & pl.col("durable_score").is_not_null(),
        durable_responder=responder & _responds(b, pl.col("durable_score")).fill_null(False),
        km_eligible=valid_baseline & pl.col("follow_ups").is_not_null(),
    ).drop("kind", "amount", "rem_op", "rem_thr")


def ideation_outcomes(cohort: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """Depression cohorts: C-SSRS ideation at baseline > 0, and whether the endpoint is lower."""
    s = scores.filter(pl.col("instrument") == IDEATION_INSTRUMENT).sort("pid", "assessed_at", "assessment_id")
    after, day = pl.col("after"), pl.col("day")
    base = cohort.filter(pl.col("condition").is_in(IDEATION_CONDITIONS)).select(
        "pid", "clinic_id", "condition"
    )
    for p in (
        _pick(s, ~after & (day >= -BASELINE_DAYS), "baseline"),
        _pick(s, after & (day <= ENDPOINT_DAYS), "endpoint"),
    ):
        base = base.join(p.drop("instrument"), on="pid", how="left")
    eligible = (pl.col("baseline") > 0) & pl.col("endpoint").is_not_null()
    return base.with_columns(
        eligible=eligible.fill_null(False),
        improved=(eligible & (pl.col("endpoint") < pl.col("baseline"))).fill_null(False),
    )


# --- aggregation with suppression -------------------------------------------------------


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _proportion(measure: str, k: int, n: int, cfg: MetricConfig) -> dict[str, Any]:
    if is_suppressed(n, cfg):
        return _hidden(measure)
    lo, hi = wilson(k, n) if n else (None, None)
    return {
        "measure": measure,
        "numerator": k,
        "denominator": n,
        "estimate": k / n if n else None,
        "ci_low": _nan_to_none(lo),
        "ci_high": _nan_to_none(hi),
        "suppressed": False,
    }


def _hidden(measure: str) -> dict[str, Any]:
    return {
        "measure": measure,
        "numerator": None,
        "denominator": None,
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "suppressed": True,
    }


def _measures_for(group: pl.DataFrame, has_remission: bool, cfg: MetricConfig) -> list[dict[str, Any]]:
    n_eval = int(group["evaluable"].sum())
    rows = [_proportion("response", int(group["responder"].sum()), n_eval, cfg)]
    if has_remission:
        rows.append(_proportion("remission", int(group["remitter"].fill_null(False).sum()), n_eval, cfg))
    if is_suppressed(n_eval, cfg):
        rows.append(_hidden("mean_change"))
    else:
        mean, lo, hi = t_mean_ci(group["change"].drop_nulls().to_list())
        rows.append(
            {
                "measure": "mean_change",
                "numerator": None,
                "denominator": n_eval,
                "estimate": _nan_to_none(mean),
                "ci_low": _nan_to_none(lo),
                "ci_high": _nan_to_none(hi),
                "suppressed": False,
            }
        )
    rows.append(
        _proportion(
            "rapid_response", int(group["rapid_responder"].sum()), int(group["rapid_evaluable"].sum()), cfg
        )
    )
    rows.append(
        _proportion(
            "durability", int(group["durable_responder"].sum()), int(group["durable_evaluable"].sum()), cfg
        )
    )
    rows.append(_proportion("worsening", int(group["worsened"].sum()), n_eval, cfg))
    return rows


def _shown_pairs(patients: pl.DataFrame) -> pl.DataFrame:
    """(condition, instrument, is_primary) to report: primary always, secondaries only when scored."""
    return (
        patients.group_by("condition", "instrument", "is_primary")
        .agg(scored=pl.col("has_scores").any())
        .filter(pl.col("is_primary") | pl.col("scored"))
        .drop("scored")
    )


def _ordered(pairs: pl.DataFrame) -> list[tuple[str, str, bool]]:
    rank = {c: i for i, c in enumerate(CONDITIONS)}
    order = {c: [i for i, _ in instruments_for(c)] for c in CONDITIONS}
    items = [(r["condition"], r["instrument"], r["is_primary"]) for r in pairs.iter_rows(named=True)]
    return sorted(items, key=lambda t: (rank[t[0]], order[t[0]].index(t[1])))


def measures_from(
    cohort: pl.DataFrame, patients: pl.DataFrame, ideation: pl.DataFrame, cfg: MetricConfig
) -> pl.DataFrame:
    """Long table of network figures: one row per (condition, instrument, measure)."""
    rows: list[dict[str, Any]] = []
    for condition, instrument, primary in _ordered(_shown_pairs(patients)):
        group = patients.filter((pl.col("condition") == condition) & (pl.col("instrument") == instrument))
        n_cohort = cohort.filter(pl.col("condition") == condition).height
        n_eval = int(group["evaluable"].sum())
        head = {
            "condition": condition,
            "instrument": instrument,
            "is_primary": primary,
            "cohort": None if is_suppressed(n_eval, cfg) else n_cohort,
        }
        has_rem = RULES[instrument].remission_op is not None
        rows += [head | m for m in _measures_for(group, has_rem, cfg)]
        if primary and condition in IDEATION_CONDITIONS:
            ide = ideation.filter(pl.col("condition") == condition)
            if ide.height and ide["baseline"].is_not_null().any():
                m = _proportion(
                    "ideation_improved", int(ide["improved"].sum()), int(ide["eligible"].sum()), cfg
                )
                rows.append(head | {"instrument": IDEATION_INSTRUMENT, "is_primary": False} | m)
    return pl.DataFrame(rows, schema=MEASURE_SCHEMA)


MEASURE_SCHEMA = {
    "condition": pl.String,
    "instrument": pl.String,
    "is_primary": pl.Boolean,
    "cohort": pl.Int64,
    "measure": pl.String,
    "numerator": pl.Int64,
    "denominator": pl.Int64,
    "estimate": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "suppressed": pl.Boolean,
}


def outcome_measures(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """Every network outcome figure, long: condition, instrument, measure, numerator, denominator,
    estimate (rate as a fraction, or the mean change in points), ci_low, ci_high, suppressed."""
    cohort, scores = load_outcome_data(con, f)
    return measures_from(cohort, patient_outcomes(cohort, scores), ideation_outcomes(cohort, scores), cfg)


def outcome_summary(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """One row per (condition, instrument): ``{measure}``, ``{measure}_ci_low/_ci_high``,
    ``{measure}_n`` (numerator), ``{measure}_denominator``, ``{measure}_suppressed``."""
    long = outcome_measures(con, f, cfg).filter(pl.col("instrument") != IDEATION_INSTRUMENT)
    if long.is_empty():
        return pl.DataFrame(
            schema={"condition": pl.String, "instrument": pl.String, "is_primary": pl.Boolean}
        )
    wide = long.rename({"estimate": "value", "numerator": "n"}).pivot(
        on="measure",
        index=["condition", "instrument", "is_primary", "cohort"],
        values=["value", "n", "denominator", "ci_low", "ci_high", "suppressed"],
        column_naming="combine",
    )
    # "combine" names columns value_response, ci_low_response …: rename to response, response_ci_low …
    renames = {}
    for col in wide.columns:
        for v in ("value", "n", "denominator", "ci_low", "ci_high", "suppressed"):
            for m in MEASURES:
                if col == f"{v}_{m}":
                    renames[col] = m if v == "value" else f"{m}_{v}"
    return wide.rename(renames)


# --- clinics ----------------------------------------------------------------------------


def clinic_rows_from(patients: pl.DataFrame, cfg: MetricConfig) -> pl.DataFrame:
    """Per (condition, instrument, clinic): evaluable, responders, remitters, with suppression applied."""
    agg = (
        patients.group_by("condition", "instrument", "clinic_id", "clinic_name")
        .agg(
            evaluable=pl.col("evaluable").sum().cast(pl.Int64),
            responders=pl.col("responder").sum().cast(pl.Int64),
            remitters=pl.col("remitter").fill_null(False).sum().cast(pl.Int64),
        )
        .sort("condition", "instrument", "clinic_id")
    )
    hidden: list[bool] = []
    for (_c, _i), grp in agg.group_by("condition", "instrument", maintain_order=True):
        gone = suppressed_clinics(dict(zip(grp["clinic_id"], grp["evaluable"], strict=True)), cfg)
        hidden += [cid in gone for cid in grp["clinic_id"]]
    # group_by with maintain_order walks groups in first-seen order, which the sort made contiguous
    return agg.with_columns(suppressed=pl.Series(hidden, dtype=pl.Boolean))


def _report_row(
    condition: str, instrument: str, clinic_id: str | None, n: int, resp: int, rem: int, hidden: bool
) -> dict[str, Any]:
    has_rem = RULES[instrument].remission_op is not None
    if hidden:
        return {
            "condition": condition,
            "instrument": instrument,
            "clinic_id": clinic_id,
            "evaluable": None,
            "responders": None,
            "response_rate": None,
            "remitters": None,
            "remission_rate": None,
            "suppressed": True,
        }
    return {
        "condition": condition,
        "instrument": instrument,
        "clinic_id": clinic_id,
        "evaluable": n,
        "responders": resp,
        "response_rate": resp / n if n else None,
        "remitters": rem if has_rem else None,
        "remission_rate": (rem / n if n else None) if has_rem else None,
        "suppressed": False,
    }


def report_from(patients: pl.DataFrame, cfg: MetricConfig) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    clinics = clinic_rows_from(patients, cfg)
    for condition, instrument, _ in _ordered(_shown_pairs(patients)):
        sel = (pl.col("condition") == condition) & (pl.col("instrument") == instrument)
        rows = clinics.filter(sel)
        n, resp, rem = (int(rows[c].sum()) for c in ("evaluable", "responders", "remitters"))
        out.append(_report_row(condition, instrument, None, n, resp, rem, is_suppressed(n, cfg)))
        for r in rows.iter_rows(named=True):
            out.append(
                _report_row(
                    condition,
                    instrument,
                    r["clinic_id"],
                    r["evaluable"],
                    r["responders"],
                    r["remitters"],
                    r["suppressed"],
                )
            )
    return out


def outcomes_report(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> list[dict[str, Any]]:
    """The ``outcomes`` list of ``ketaops metrics``: per shown (condition, instrument), the
    network row (clinic_id None) then one row per clinic with cohort patients, suppressed per
    metrics.md (complementary rule in ``suppressed_clinics``)."""
    return report_from(patient_outcomes(*load_outcome_data(con, f)), cfg)


def clinic_comparison(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Clinics' response rates for one (condition, instrument) with Wilson CIs and binomial funnel limits.

    Returns (per-clinic frame, network dict with evaluable, responders,
    response_rate, suppressed and ``curve``: funnel lines on the rate scale or
    None). Suppressed clinics keep their name with every figure null. The
    funnel target θ0 is the network rate; limits are per clinic on the rate scale.
    """
    return comparison_from(patient_outcomes(*load_outcome_data(con, f)), cfg, condition, instrument)


def comparison_from(
    patients: pl.DataFrame, cfg: MetricConfig, condition: str, instrument: str
) -> tuple[pl.DataFrame, dict[str, Any]]:
    rows = clinic_rows_from(patients, cfg).filter(
        (pl.col("condition") == condition) & (pl.col("instrument") == instrument)
    )
    n, resp = int(rows["evaluable"].sum()), int(rows["responders"].sum())
    network = {
        "evaluable": n,
        "responders": resp,
        "response_rate": resp / n if n else None,
        "suppressed": is_suppressed(n, cfg),
    }
    if network["suppressed"]:
        network |= {"evaluable": None, "responders": None, "response_rate": None}
    theta0 = network["response_rate"]
    shown = rows.filter(~pl.col("suppressed") & (pl.col("evaluable") > 0))
    limits = (
        funnel(shown["responders"].to_numpy(), shown["evaluable"].to_numpy(), theta0, kind="binomial")[0]
        if theta0 is not None and shown.height
        else None
    )
    out = []
    for i, r in enumerate(shown.iter_rows(named=True)):
        lo, hi = wilson(r["responders"], r["evaluable"])
        lim = limits.row(i, named=True) if limits is not None else {}
        out.append(
            {
                "clinic_id": r["clinic_id"],
                "clinic_name": r["clinic_name"],
                "evaluable": r["evaluable"],
                "responders": r["responders"],
                "response_rate": r["responders"] / r["evaluable"],
                "ci_low": lo,
                "ci_high": hi,
                **{
                    k: (lim.get(k) / r["evaluable"] if lim.get(k) is not None else None)
                    for k in ("lower998", "lower95", "upper95", "upper998")
                },
                "flag": lim.get("flag"),
                "suppressed": False,
            }
        )
    for r in rows.filter(pl.col("suppressed") | (pl.col("evaluable") == 0)).iter_rows(named=True):
        out.append({"clinic_id": r["clinic_id"], "clinic_name": r["clinic_name"], "suppressed": True})
    # smooth funnel lines (rate scale) for the chart, up to a little past the largest clinic
    n_max = max((r["evaluable"] for r in out if r.get("evaluable")), default=0)
    network["curve"] = (
        funnel_curve(theta0, n_max * 1.15, "binomial") if theta0 is not None and n_max else None
    )
    return pl.DataFrame(out, schema=COMPARISON_SCHEMA), network


COMPARISON_SCHEMA = {
    "clinic_id": pl.String,
    "clinic_name": pl.String,
    "evaluable": pl.Int64,
    "responders": pl.Int64,
    "response_rate": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "lower998": pl.Float64,
    "lower95": pl.Float64,
    "upper95": pl.Float64,
    "upper998": pl.Float64,
    "flag": pl.String,
    "suppressed": pl.Boolean,
}


# --- time to response and trajectory ----------------------------------------------------


def time_to_response(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> dict[str, Any]:
    """Kaplan–Meier of days from day 0 to the first score meeting the response rule."""
    patients = patient_outcomes(*load_outcome_data(con, f))
    return time_to_response_from(patients, cfg, condition, instrument)


def time_to_response_from(
    patients: pl.DataFrame, cfg: MetricConfig, condition: str, instrument: str
) -> dict[str, Any]:
    """Curve as the cumulative share responded (1 − Ŝ) with its CI.

    Patients: a valid baseline and at least one follow-up score within
    ``FOLLOW_UP_DAYS``; event at the first score meeting the rule, else
    censored at the last follow-up score. Suppressed as a whole under k
    patients; otherwise the curve stops at the last time with ≥ k at risk and
    numbers at risk under k are hidden (small cells).
    """
    g = patients.filter(
        (pl.col("condition") == condition) & (pl.col("instrument") == instrument) & pl.col("km_eligible")
    )
    empty_curve = pl.DataFrame(
        schema={
            "day": pl.Float64,
            "at_risk": pl.Int64,
            "responded": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "events": pl.Int64,
            "censored": pl.Int64,
        }
    )
    if is_suppressed(g.height, cfg) or g.height == 0:
        return {
            "n": None if g.height else 0,
            "suppressed": g.height > 0,
            "curve": empty_curve,
            "at_risk": pl.DataFrame(schema={"day": pl.Int64, "at_risk": pl.Int64, "suppressed": pl.Boolean}),
        }
    event = g["event_day"].is_not_null().to_numpy()
    duration = np.where(event, g["event_day"].fill_null(0).to_numpy(), g["last_day"].to_numpy()).astype(float)
    km = kaplan_meier(duration, event)
    keep = np.ones(km.time.size, dtype=bool) if cfg.suppression_k <= 0 else km.n_at_risk >= cfg.suppression_k
    curve = pl.DataFrame(
        {
            "day": km.time,
            "at_risk": km.n_at_risk.astype(np.int64),
            "responded": 1 - km.survival,
            "ci_low": 1 - km.ci_high,
            "ci_high": 1 - km.ci_low,
            "events": km.n_events.astype(np.int64),
            "censored": km.n_censored.astype(np.int64),
        }
    ).filter(pl.Series(keep))
    at_risk = km.at_risk_at(AT_RISK_DAYS).astype(int)
    hide = [is_suppressed(int(a), cfg) for a in at_risk]
    return {
        "n": g.height,
        "suppressed": False,
        "curve": curve,
        "at_risk": pl.DataFrame(
            {
                "day": list(AT_RISK_DAYS),
                "at_risk": [None if h else int(a) for a, h in zip(at_risk, hide, strict=True)],
                "suppressed": hide,
            },
            schema={"day": pl.Int64, "at_risk": pl.Int64, "suppressed": pl.Boolean},
        ),
    }


def trajectory(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> pl.DataFrame:
    """Median and IQR of the score by administered session number (0 = before treatment)."""
    return trajectory_from(load_outcome_data(con, f)[1], cfg, condition, instrument)


def trajectory_from(scores: pl.DataFrame, cfg: MetricConfig, condition: str, instrument: str) -> pl.DataFrame:
    """One score per patient per session number (their latest there); cells under k are suppressed.

    Scores before day 0 count only from the baseline window (the loader's
    30-day cut-off); linear-interpolated quartiles.
    """
    s = (
        scores.filter((pl.col("condition") == condition) & (pl.col("instrument") == instrument))
        .sort("pid", "assessed_at", "assessment_id")
        .group_by("pid", "session_number")
        .agg(pl.col("score").last())
    )
    q = (
        s.group_by("session_number")
        .agg(
            n=pl.len().cast(pl.Int64),
            median=pl.col("score").median(),
            q1=pl.col("score").quantile(0.25, interpolation="linear"),
            q3=pl.col("score").quantile(0.75, interpolation="linear"),
        )
        .sort("session_number")
    )
    hide = pl.lit(cfg.suppression_k > 0) & (pl.col("n") < cfg.suppression_k)
    return q.with_columns(
        suppressed=hide,
        **{c: pl.when(hide).then(None).otherwise(pl.col(c)) for c in ("n", "median", "q1", "q3")},
    ).with_columns(pl.col("session_number").cast(pl.Int64))


def outcome_detail(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> dict[str, Any]:
    """Everything the page draws for one (condition, instrument) from a single load:
    ``time_to_response`` (dict), ``trajectory`` (frame), ``clinics`` (frame) and ``network`` (dict)."""
    cohort, scores = load_outcome_data(con, f)
    patients = patient_outcomes(cohort, scores)
    clinics, network = comparison_from(patients, cfg, condition, instrument)
    return {
        "time_to_response": time_to_response_from(patients, cfg, condition, instrument),
        "trajectory": trajectory_from(scores, cfg, condition, instrument),
        "clinics": clinics,
        "network": network,
    }
