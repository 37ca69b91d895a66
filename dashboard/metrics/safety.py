"""Safety metrics of metrics.md: AE rates, funnel, u-chart, excursions, deviations, line list.

One implementation of each figure, aggregated in DuckDB with parameterised SQL.
Which records a filter selects (documented in ``docs/metrics.md`` "Safety"):

- sessions: ``filters.scoped_sessions`` (clinic scope + region of the session's
  clinic, patient's primary condition, route, modality, ``scheduled_at`` date);
- AEs: the AE's own clinic (scope + region), the AE patient's primary condition,
  ``onset_at`` date; route/modality through the AE's session, so AEs without a
  session drop out while a route or modality filter is set.

Rates per 100 administered sessions carry Garwood 95% CIs; counts of patients or
sessions that are proportions carry Wilson 95% CIs. An empty denominator gives
``None`` (dicts) or null (frames), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

import duckdb
import polars as pl

from dashboard.metrics.control_charts import SpcOptions, chart_filters, mark_period
from dashboard.metrics.filters import (
    Filters,
    Fragment,
    clinic_where,
    combine,
    dimension_where,
    period_where,
    scoped_sessions,
)
from dashboard.stats import spc
from dashboard.stats.intervals import poisson_rate_ci, poisson_rate_cis, wilson
from pipelines.contract import ACTIONS, ADMINISTERED_STATUSES, AE_CATEGORIES, AE_OUTCOMES
from pipelines.model.config import MetricConfig

PER = 100.0
Grain = Literal["week", "month"]

# Dose bands in mg/kg, half-open [lower, upper): label, upper edge (None = no upper edge).
DOSE_BANDS: tuple[tuple[str, float | None], ...] = (
    ("<0.50", 0.5),
    ("0.50-<0.75", 0.75),
    ("0.75-<1.00", 1.0),
    (">=1.00", None),
)
DOSE_NOT_WEIGHT_BASED = "not weight-based"  # intranasal sessions have no mg/kg dose
SESSION_BANDS = ("1-3", "4+")  # administered session number: first three vs later
NOT_ADMINISTERED = "not administered"  # an AE linked to a session with no session number
NO_SESSION = "no session"  # an AE recorded without a session

AE_DIMENSIONS = ("category", "severity_grade", "serious", "action_taken")
SESSION_DIMENSIONS = (
    "clinic",
    "region",
    "condition",
    "route",
    "modality",
    "phase",
    "dose_band",
    "session_number",
)
DIMENSIONS = SESSION_DIMENSIONS + AE_DIMENSIONS


@dataclass(frozen=True)
class AeFilters:
    """Line-list filters that belong to the AE (the period and scope come from ``Filters``)."""

    categories: tuple[str, ...] = ()
    severity_grades: tuple[int, ...] = ()
    serious: bool | None = None
    actions: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()  # "unknown" also matches an AE with no outcome recorded
    dose_bands: tuple[str, ...] = ()
    session_bands: tuple[str, ...] = ()  # SESSION_BANDS, NOT_ADMINISTERED or NO_SESSION
    search: str = ""  # case-insensitive substring of the (redacted) description


# --- SQL building blocks -----------------------------------------------------------------------


def _placeholders(values: tuple[object, ...]) -> str:
    return ", ".join("?" for _ in values)


def _in(column: str, values: tuple[object, ...]) -> Fragment:
    return f"{column} IN ({_placeholders(values)})", list(values)


def _dose_band(col: str) -> Fragment:
    """CASE expression naming the dose band of ``col`` (mg/kg)."""
    sql, params = f"CASE WHEN {col} IS NULL THEN ?", [DOSE_NOT_WEIGHT_BASED]
    for label, upper in DOSE_BANDS:
        if upper is None:
            sql += " ELSE ? END"
        else:
            sql += f" WHEN {col} < ? THEN ?"
            params.append(upper)
        params.append(label)
    return sql, params


dose_band_sql = _dose_band  # the same bands on the Monitoring page


def _session_band(col: str) -> Fragment:
    return (
        f"CASE WHEN {col} IS NULL THEN ? WHEN {col} <= 3 THEN ? ELSE ? END",
        [NOT_ADMINISTERED, *SESSION_BANDS],
    )


def _administered_sessions(f: Filters) -> Fragment:
    """Administered sessions the filters select, with region, clinic_name and the patient's condition."""
    scoped, params = scoped_sessions(f)
    status, sp = _in("status", ADMINISTERED_STATUSES)
    return f"SELECT * FROM ({scoped}) x WHERE {status}", params + sp


LINK_WINDOW_DAYS = 7  # AE sessions are first looked for among sessions this close to the period
_LINKED_COLUMNS = (
    "session_id, scheduled_at, status, phase, route, modality, dose_mg, weight_kg, dose_mg_per_kg, "
    "duration_min, recovery_min, session_number, bp_sys_pre, bp_sys_max, bp_dia_pre, bp_dia_max, "
    "hr_pre, hr_max, spo2_min"
)


def _linked_sessions(f: Filters, columns: str) -> Fragment:
    """The sessions that the AEs in scope and period are linked to, without joining every session.

    A plain ``LEFT JOIN sessions`` read the id (and columns) of all sessions of
    every date (6M at network scale) for ~175k AEs a year. The AEs' session ids
    are looked up first among the sessions scheduled within ``LINK_WINDOW_DAYS``
    of the period (sessions are stored in time order: a few row groups), then
    any id not found there (an AE recorded long after its session) in the whole
    table, a scan DuckDB skips when no id is left. Same rows as the plain join.
    """
    where, params = combine(clinic_where(f, "c.clinic_id", "c.region"), period_where(f, "a.onset_at"))
    margin = timedelta(days=LINK_WINDOW_DAYS)
    sql = f"""
        WITH ids AS (SELECT a.session_id FROM adverse_events a JOIN clinics c ON c.clinic_id = a.clinic_id
                     WHERE {where} AND a.session_id IS NOT NULL),
             near AS (SELECT {columns} FROM sessions
                      WHERE scheduled_at >= CAST(? AS TIMESTAMP) AND scheduled_at < CAST(? AS TIMESTAMP)
                        AND session_id IN (SELECT session_id FROM ids))
        SELECT * FROM near
        UNION ALL
        SELECT {columns} FROM sessions
        WHERE session_id IN (SELECT session_id FROM ids
                             WHERE session_id NOT IN (SELECT session_id FROM near))"""
    return sql, [*params, f.start - margin, f.end + timedelta(days=1) + margin]


def _aes(f: Filters, *, detail: bool = True) -> Fragment:
    """AEs the filters select, joined with their clinic, patient and (optional) session.

    ``detail=False`` (counts only) joins sessions only when a filter needs
    them: on a 10M-session network that join is most of the cost.
    """
    parts = [
        clinic_where(f, "c.clinic_id", "c.region"),  # on the joined clinics row: see scoped_sessions
        # the patient's condition is copied onto each AE by the loader: no join of a million patients
        dimension_where(
            f, condition_col="a.primary_condition", route_col="s.route", modality_col="s.modality"
        ),
        period_where(f, "a.onset_at"),
    ]
    where, params = combine(*parts)
    if not detail:
        joins, join_params = "JOIN clinics c ON c.clinic_id = a.clinic_id", []
        if f.routes or f.modalities:
            linked, join_params = _linked_sessions(f, "session_id, route, modality")
            joins += f" LEFT JOIN ({linked}) s ON s.session_id = a.session_id"
        sql = f"SELECT a.*, c.clinic_name, c.region FROM adverse_events a {joins} WHERE {where}"
        return sql, [*join_params, *params]
    dose_sql, dose_params = _dose_band("s.dose_mg_per_kg")
    band_sql, band_params = _session_band("s.session_number")
    linked, linked_params = _linked_sessions(f, _LINKED_COLUMNS)
    sql = f"""
        SELECT a.*, c.clinic_name, c.region,
               s.scheduled_at, s.status, s.phase, s.route, s.modality, s.dose_mg, s.weight_kg,
               s.dose_mg_per_kg, s.duration_min, s.recovery_min, s.session_number,
               s.bp_sys_pre, s.bp_sys_max, s.bp_dia_pre, s.bp_dia_max, s.hr_pre, s.hr_max, s.spo2_min,
               CASE WHEN s.session_id IS NULL THEN ? ELSE {dose_sql} END AS dose_band,
               CASE WHEN s.session_id IS NULL THEN ? ELSE {band_sql} END AS session_band
        FROM adverse_events a
        JOIN clinics c ON c.clinic_id = a.clinic_id
        LEFT JOIN ({linked}) s ON s.session_id = a.session_id
        WHERE {where}"""
    return sql, [NO_SESSION, *dose_params, NO_SESSION, *band_params, *linked_params, *params]


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> tuple[Any, ...]:
    rows = con.execute(sql, params).fetchall()  # fetch all: DuckDB 2 results stream
    return rows[0]


def _rate(k: int, n: int) -> dict[str, float | None]:
    if n <= 0:
        return {"ae_per_100": None, "ci_low": None, "ci_high": None}
    low, high = poisson_rate_ci(k, n, per=PER)
    return {"ae_per_100": PER * k / n, "ci_low": low, "ci_high": high}


def _with_rates(frame: pl.DataFrame, count: str, exposure: str, prefix: str = "ae") -> pl.DataFrame:
    """Add ``<prefix>_per_100`` with Garwood CIs (``ci_low``, ``ci_high``); null where the exposure is 0.

    Vectorised (``poisson_rate_cis``): a scipy call per row cost 0.1-0.3 s for 200 clinics.
    """
    low, high = poisson_rate_cis(frame[count].to_numpy(), frame[exposure].to_numpy(), per=PER)
    return frame.with_columns(
        pl.when(pl.col(exposure) > 0)
        .then(PER * pl.col(count) / pl.col(exposure))
        .cast(pl.Float64)
        .alias(f"{prefix}_per_100"),
        pl.Series("ci_low", low, dtype=pl.Float64, nan_to_null=True),
        pl.Series("ci_high", high, dtype=pl.Float64, nan_to_null=True),
    )


# --- AE rate -------------------------------------------------------------------------------------


def ae_rate(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig | None = None) -> dict[str, Any]:
    """AEs per 100 administered sessions in scope, with a Garwood 95% CI, and the serious count."""
    sessions_sql, sp = _administered_sessions(f)
    (n,) = _one(con, f"SELECT count(*) FROM ({sessions_sql})", sp)
    return _ae_rate_of(con, f, n)


def _ae_rate_of(con: duckdb.DuckDBPyConnection, f: Filters, n: int) -> dict[str, Any]:
    """``ae_rate`` given its denominator ``n`` (counted by the caller, possibly in a wider scan)."""
    aes_sql, ap = _aes(f, detail=False)
    k, serious = _one(con, f"SELECT count(*), count(*) FILTER (WHERE serious) FROM ({aes_sql})", ap)
    return _rate_figures(k, serious, n)


def _rate_figures(k: int, serious: int, n: int) -> dict[str, Any]:
    return {"ae_count": k, "serious_ae_count": serious, "administered_sessions": n, **_rate(k, n)}


def _levels(dimension: str) -> tuple[str, str] | None:
    """SQL for the level of a dimension on the session side and on the AE side."""
    return {
        "clinic": ("clinic_id", "clinic_id"),
        "region": ("region", "region"),
        "condition": ("primary_condition", "primary_condition"),
        "route": ("route", "coalesce(route, ?)"),
        "modality": ("modality", "coalesce(modality, ?)"),
        "phase": ("phase", "coalesce(phase, ?)"),  # the session's phase as exported
        "category": ("", "category"),
        "severity_grade": ("", "CAST(severity_grade AS VARCHAR)"),
        "serious": ("", "CASE WHEN serious THEN 'serious' ELSE 'not serious' END"),
        "action_taken": ("", "action_taken"),
    }.get(dimension)


def ae_rate_by(
    con: duckdb.DuckDBPyConnection, f: Filters, dimension: str, cfg: MetricConfig | None = None
) -> pl.DataFrame:
    """AEs per 100 administered sessions by one dimension, with Garwood 95% CIs.

    For an AE attribute (category, severity_grade, serious, action_taken) the
    denominator is every administered session in scope; for a session attribute
    (clinic, region, condition, route, modality, phase, dose_band, session_number) it is
    the administered sessions of that stratum, and AEs without a session form a
    ``no session`` row with no rate. Columns: level, label, ae_count,
    serious_ae_count, administered_sessions, ae_per_100, ci_low, ci_high.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}, not {dimension!r}")
    sessions_sql, sp = _administered_sessions(f)
    # clinic, region and the AE attributes need no patient or session columns
    aes_sql, ap = _aes(f, detail=dimension not in (*AE_DIMENSIONS, "clinic", "region"))
    if dimension in AE_DIMENSIONS:
        (n,) = _one(con, f"SELECT count(*) FROM ({sessions_sql})", sp)
        ae_level = _levels(dimension)[1]  # type: ignore[index]
        counts = con.sql(
            f"SELECT {ae_level} AS level, count(*) AS ae_count, count(*) FILTER (WHERE serious) "
            f"AS serious_ae_count FROM ({aes_sql}) GROUP BY 1",
            params=ap,
        ).pl()
        every = _ae_dimension_levels(dimension)
        frame = (
            pl.DataFrame({"level": every}, schema={"level": pl.String})
            .join(counts, on="level", how="full", coalesce=True)
            .with_columns(
                pl.col("ae_count", "serious_ae_count").fill_null(0), administered_sessions=pl.lit(n)
            )
        )
    else:
        if dimension == "dose_band":
            s_level, s_params = _dose_band("dose_mg_per_kg")
            a_level, a_params = "dose_band", []
        elif dimension == "session_number":
            s_level, s_params = _session_band("session_number")
            a_level, a_params = "session_band", []
        else:
            s_level, a_level = _levels(dimension)  # type: ignore[misc]
            s_params, a_params = [], [NO_SESSION] if "?" in a_level else []
        sessions = con.sql(
            f"SELECT {s_level} AS level, count(*) AS administered_sessions FROM ({sessions_sql}) GROUP BY 1",
            params=s_params + sp,
        ).pl()
        counts = con.sql(
            f"SELECT {a_level} AS level, count(*) AS ae_count, count(*) FILTER (WHERE serious) "
            f"AS serious_ae_count FROM ({aes_sql}) GROUP BY 1",
            params=a_params + ap,
        ).pl()
        frame = sessions.join(counts, on="level", how="full", coalesce=True)
        if dimension == "clinic":
            frame = _scoped_clinics(con, f).join(frame, left_on="clinic_id", right_on="level", how="left")
            frame = frame.rename({"clinic_id": "level"})
        frame = frame.with_columns(
            pl.col("ae_count", "serious_ae_count", "administered_sessions").fill_null(0)
        )
    frame = frame.with_columns(pl.col("ae_count", "serious_ae_count", "administered_sessions").cast(pl.Int64))
    if "clinic_name" in frame.columns:
        frame = frame.with_columns(label=pl.col("clinic_name")).drop("clinic_name", "region")
    else:
        frame = frame.with_columns(label=pl.col("level"))
    frame = _with_rates(frame.sort("level", nulls_last=True), "ae_count", "administered_sessions")
    return frame.select(
        "level",
        "label",
        "ae_count",
        "serious_ae_count",
        "administered_sessions",
        "ae_per_100",
        "ci_low",
        "ci_high",
    )


def _ae_dimension_levels(dimension: str) -> list[str]:
    """Every level an AE attribute can take (from the contract), so zero rows are shown too."""
    return {
        "category": list(AE_CATEGORIES),
        "severity_grade": [str(g) for g in range(1, 6)],
        "serious": ["serious", "not serious"],
        "action_taken": list(ACTIONS),
    }[dimension]


def _scoped_clinics(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    where, params = clinic_where(f, "clinic_id", "region")
    return con.sql(
        f"SELECT clinic_id, clinic_name, region FROM clinics WHERE {where} ORDER BY clinic_id", params=params
    ).pl()


def patients_with_ae(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig | None = None
) -> dict[str, Any]:
    """Active patients with ≥ 1 AE in the period ÷ active patients, with a Wilson 95% CI.

    The numerator counts only active patients (an AE whose patient had no
    administered session in scope in the period is left out), so it is a proportion.
    """
    sessions_sql, sp = _administered_sessions(f)
    # The active patients already have the condition (a patient attribute), so the AE side needs no
    # condition filter of its own: the same intersection without a second join to 1M patients.
    aes_sql, ap = _aes(replace(f, conditions=()), detail=False)
    active, with_ae = _one(
        con,
        f"""SELECT count(*), count(*) FILTER (WHERE patient_key IN (SELECT patient_key FROM ({aes_sql})))
            FROM (SELECT DISTINCT patient_key FROM ({sessions_sql}))""",
        ap + sp,
    )
    low, high = wilson(with_ae, active) if active else (None, None)
    return {
        "patients_with_ae": with_ae,
        "active_patients": active,
        "share": with_ae / active if active else None,
        "ci_low": low,
        "ci_high": high,
    }


# --- Funnel and u-chart --------------------------------------------------------------------------

MIN_FUNNEL_CLINICS = 3  # fewer clinics with sessions: no funnel (metrics.md "Comparing clinics")


def funnel(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    overdispersion: bool = False,
    cfg: MetricConfig | None = None,
) -> pl.DataFrame:
    """Clinics against the network AE rate (Spiegelhalter 2005 funnel, Poisson).

    ``f`` is the population: every clinic the viewer may see (the pages' and the metrics
    command's ``network_filters``), whatever clinics are picked. θ0 = AEs ÷ administered
    sessions over it. Limits are on the y-axis scale (AEs per 100 sessions); ``expected``
    is a count. A clinic with no administered sessions has null rate, limits and flag.
    With fewer than ``MIN_FUNNEL_CLINICS`` clinics with administered sessions there is no
    funnel: a clinic would be compared mostly with itself, so every limit and flag is null.
    Constant columns ``target_per_100``, ``tau2`` and ``overdispersion`` say what was drawn.
    """
    by_clinic = ae_rate_by(con, f, "clinic").select(
        clinic_id="level",
        clinic_name="label",
        administered_sessions="administered_sessions",
        ae_count="ae_count",
        ae_per_100="ae_per_100",
    )
    n = by_clinic["administered_sessions"].to_numpy()
    k = by_clinic["ae_count"].to_numpy()
    total_n = int(n.sum())
    theta0 = float(k.sum() / total_n) if total_n else 0.0  # = ae_rate(...)["ae_per_100"] / 100
    from dashboard.stats import funnel as funnel_stats  # imports scipy.stats (~1 s): only when drawn

    limits, theta0, tau2 = funnel_stats.funnel(k, n, theta0=theta0, overdispersed=overdispersion)
    scaled = limits.select(
        "expected",
        *[(pl.col(c) / pl.col("n") * PER).alias(c) for c in ("lower95", "upper95", "lower998", "upper998")],
        "flag",
    )
    if int((n > 0).sum()) < MIN_FUNNEL_CLINICS:
        scaled = scaled.with_columns(pl.lit(None, dtype=t).alias(name) for name, t in scaled.schema.items())
    region = _scoped_clinics(con, f).select("clinic_id", "region")
    return (
        pl.concat([by_clinic, scaled], how="horizontal")
        .join(region, on="clinic_id", how="left")
        .with_columns(
            target_per_100=pl.lit(theta0 * PER),
            tau2=pl.lit(tau2),
            overdispersion=pl.lit(overdispersion),
        )
        .select(
            "clinic_id",
            "clinic_name",
            "region",
            "administered_sessions",
            "ae_count",
            "ae_per_100",
            "expected",
            "lower95",
            "upper95",
            "lower998",
            "upper998",
            "flag",
            "target_per_100",
            "tau2",
            "overdispersion",
        )
    )


def funnel_curve(frame: pl.DataFrame, points: int = 200) -> pl.DataFrame:
    """Smooth funnel lines (per 100) for a ``funnel`` frame: n, target, lower/upper 95 and 99.8."""
    from dashboard.stats import funnel as funnel_stats

    if frame.is_empty():
        return funnel_stats.funnel_curve(0.0, 0)
    n_max = float(frame["administered_sessions"].max() or 0) * 1.05
    return funnel_stats.funnel_curve(
        frame["target_per_100"][0] / PER, n_max, tau2=frame["tau2"][0], points=points, scale=PER
    )


def u_chart(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    cfg: MetricConfig,
    grain: Grain = "month",
    clinic_id: str | None = None,
    options: SpcOptions | None = None,
) -> pl.DataFrame:
    """u-chart (Laney's u′ by default) of AEs per 100 administered sessions per week (Monday) or month.

    The network (every clinic in scope) or one clinic of the scope, over the chart's
    window (``control_charts``: at least 26 weeks / 18 months ending at ``f.end``), limits
    from ``options``' baseline. Periods with no administered sessions have no rate and
    are left out (``stats.spc``). Columns: those of ``stats.spc.u_chart`` and ``in_period``;
    ``period`` is the period's first day.
    """
    if grain not in ("week", "month"):
        raise ValueError(f"grain must be 'week' or 'month', not {grain!r}")
    options = options or SpcOptions()
    if clinic_id is not None:
        f = f.with_clinics((clinic_id,) if clinic_id in f.clinic_ids else ())
    window = chart_filters(f, grain, options)
    sessions_sql, sp = _administered_sessions(window)
    aes_sql, ap = _aes(window, detail=False)
    # Counted by day first, then the days truncated: date_trunc on every row cost more than the scan.
    data = con.sql(
        f"""
        WITH n AS (SELECT CAST(date_trunc(?, day) AS DATE) AS period, sum(n) AS n
                   FROM (SELECT CAST(scheduled_at AS DATE) AS day, count(*) AS n
                         FROM ({sessions_sql}) GROUP BY 1) GROUP BY 1),
             k AS (SELECT CAST(date_trunc(?, day) AS DATE) AS period, sum(k) AS count
                   FROM (SELECT CAST(onset_at AS DATE) AS day, count(*) AS k
                         FROM ({aes_sql}) GROUP BY 1) GROUP BY 1)
        SELECT n.period, CAST(coalesce(k.count, 0) AS BIGINT) AS count, CAST(n.n AS BIGINT) AS n
        FROM n LEFT JOIN k USING (period)
        ORDER BY n.period""",
        params=[grain, *sp, grain, *ap],
    ).pl()
    chart = spc.u_chart(
        data,
        baseline_periods=cfg.spc_baseline_periods,
        baseline=options.baseline,
        laney=options.laney,
        scale=PER,
        higher_is_better=False,
    )
    return mark_period(chart, f, grain)


def ae_rate_per_period(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    cfg: MetricConfig,
    grain: Grain = "month",
    options: SpcOptions | None = None,
) -> pl.DataFrame:
    """AEs per 100 administered sessions of ``f`` in each point of ``u_chart``'s window (the same
    periods), without limits: the reference line a clinic's u-chart draws for the network.

    Columns ``period``, ``count``, ``n``, ``value``.
    """
    chart = u_chart(con, f, cfg, grain, options=options)
    return chart.select("period", "count", "n", "value")


# --- Vital-sign excursions and protocol deviations ---------------------------------------------


# The AE category that accounts for each kind of excursion (metrics.md "Safety", v2): an AE of
# another kind (a dissociation) does not make a session's SpO₂ of 86% reported.
EXCURSION_AE_CATEGORY: dict[str, str] = {
    "bp": "hypertension",
    "hr": "tachycardia",
    "spo2": "respiratory_depression",
}


def _excursion(cfg: MetricConfig) -> Fragment:
    return (
        "(bp_sys_max >= ? OR bp_dia_max >= ? OR hr_max >= ? OR spo2_min < ?)",
        [cfg.bp_sys_max, cfg.bp_dia_max, cfg.hr_max, cfg.spo2_min],
    )


def _excursion_sessions(f: Filters, cfg: MetricConfig) -> Fragment:
    """The excursion sessions in scope, each kind crossed and whether an AE of that kind is recorded.

    Columns: the session's (``x.*``), ``high_bp_sys``, ``high_bp_dia``, ``high_hr``, ``low_spo2``,
    ``ae_count`` (AEs of any kind for the session, any onset date), ``bp_without_ae``,
    ``hr_without_ae``, ``spo2_without_ae`` (that kind crossed, no AE of its category) and
    ``without_matching_ae`` (any of the three). The AEs are read only for the excursion
    sessions (a few % of the scan), grouped once per session.
    """
    sessions_sql, sp = _administered_sessions(f)
    exc, ep = _excursion(cfg)
    cats = [EXCURSION_AE_CATEGORY[k] for k in ("bp", "hr", "spo2")]
    sql = f"""
        WITH e AS (
            SELECT x.*,
                   coalesce(x.bp_sys_max >= ?, false) AS high_bp_sys,
                   coalesce(x.bp_dia_max >= ?, false) AS high_bp_dia,
                   coalesce(x.hr_max >= ?, false) AS high_hr,
                   coalesce(x.spo2_min < ?, false) AS low_spo2
            FROM ({sessions_sql}) x WHERE {exc}),
        k AS (
            SELECT session_id, count(*) AS ae_count,
                   bool_or(category = ?) AS has_bp, bool_or(category = ?) AS has_hr,
                   bool_or(category = ?) AS has_spo2
            FROM adverse_events WHERE session_id IN (SELECT session_id FROM e) GROUP BY 1)
        SELECT * EXCLUDE (has_bp, has_hr, has_spo2),
               bp_without_ae OR hr_without_ae OR spo2_without_ae AS without_matching_ae
        FROM (
            SELECT e.*, coalesce(k.ae_count, 0) AS ae_count, k.has_bp, k.has_hr, k.has_spo2,
                   (e.high_bp_sys OR e.high_bp_dia) AND NOT coalesce(k.has_bp, false) AS bp_without_ae,
                   e.high_hr AND NOT coalesce(k.has_hr, false) AS hr_without_ae,
                   e.low_spo2 AND NOT coalesce(k.has_spo2, false) AS spo2_without_ae
            FROM e LEFT JOIN k USING (session_id))"""
    return sql, [*ep, *sp, *ep, *cats]


def _dose_deviation(cfg: MetricConfig) -> Fragment:
    """An iv session's dose per kg outside the protocol (bounds inclusive; null is no deviation)."""
    return (
        "coalesce(dose_mg_per_kg < ? OR dose_mg_per_kg > ?, false)",
        [cfg.protocol_dose_min, cfg.protocol_dose_max],
    )


def _duration_deviation(cfg: MetricConfig) -> Fragment:
    """An iv session's duration outside the protocol (bounds inclusive; null is no deviation)."""
    return (
        "coalesce(duration_min < ? OR duration_min > ?, false)",
        [cfg.protocol_duration_min, cfg.protocol_duration_max],
    )


def _session_counts(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, *, excursion_aes: bool = True
) -> dict[str, int]:
    """One scan of the administered sessions in scope for every session-level safety count.

    Excursions without an AE of their kind are counted over the excursion
    sessions only (``_excursion_sessions``; skipped with ``excursion_aes=False``).
    """
    sessions_sql, sp = _administered_sessions(f)
    exc, ep = _excursion(cfg)
    dose, dp = _dose_deviation(cfg)
    dur, up = _duration_deviation(cfg)
    n, k, iv, dev, dose_dev, dur_dev = _one(
        con,
        f"""SELECT count(*), count(*) FILTER (WHERE {exc}),
                   count(*) FILTER (WHERE route = 'iv'),
                   count(*) FILTER (WHERE route = 'iv' AND ({dose} OR {dur})),
                   count(*) FILTER (WHERE route = 'iv' AND {dose}),
                   count(*) FILTER (WHERE route = 'iv' AND {dur})
            FROM ({sessions_sql}) x""",
        [*ep, *dp, *up, *dp, *up, *sp],
    )
    without_ae = 0
    if excursion_aes:
        listed, lp = _excursion_sessions(f, cfg)
        (without_ae,) = _one(con, f"SELECT count(*) FILTER (WHERE without_matching_ae) FROM ({listed})", lp)
    return {
        "administered_sessions": n,
        "excursion_sessions": k,
        "excursions_without_ae": without_ae,
        "iv_sessions": iv,
        "deviations": dev,
        "dose_deviations": dose_dev,
        "duration_deviations": dur_dev,
    }


def _excursion_figures(counts: dict[str, int]) -> dict[str, Any]:
    n, k = counts["administered_sessions"], counts["excursion_sessions"]
    low, high = wilson(k, n) if n else (None, None)
    return {
        "excursion_sessions": k,
        "excursions_without_ae": counts["excursions_without_ae"],
        "administered_sessions": n,
        "excursions_per_100": PER * k / n if n else None,
        "ci_low": PER * low if low is not None else None,
        "ci_high": PER * high if high is not None else None,
    }


def _protocol_figures(counts: dict[str, int]) -> dict[str, Any]:
    return {k: counts[k] for k in ("deviations", "dose_deviations", "duration_deviations", "iv_sessions")}


def excursion_rate(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> dict[str, Any]:
    """Administered sessions with a vital-sign excursion per 100 administered sessions (Wilson 95% CI)."""
    return _excursion_figures(_session_counts(con, f, cfg))


def excursions(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, *, without_ae_only: bool = False
) -> pl.DataFrame:
    """Every excursion session in scope: vitals, which thresholds it crossed, AEs linked to it.

    ``ae_count`` counts every AE recorded for the session, whatever its onset date and kind;
    ``bp_without_ae`` / ``hr_without_ae`` / ``spo2_without_ae`` say which crossed kinds have no
    AE of their category (``EXCURSION_AE_CATEGORY``), ``without_matching_ae`` whether any has none.
    """
    listed, lp = _excursion_sessions(f, cfg)
    having = "WHERE without_matching_ae" if without_ae_only else ""
    return con.sql(
        f"""
        SELECT session_id, scheduled_at, clinic_id, clinic_name, region, patient_key,
               route, modality, dose_mg, dose_mg_per_kg, duration_min, session_number,
               bp_sys_max, bp_dia_max, hr_max, spo2_min,
               high_bp_sys, high_bp_dia, high_hr, low_spo2, ae_count,
               bp_without_ae, hr_without_ae, spo2_without_ae, without_matching_ae
        FROM ({listed}) {having}
        ORDER BY scheduled_at DESC, session_id""",
        params=lp,
    ).pl()


def excursions_without_ae(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """Excursion sessions with a crossed kind that has no AE of its category for that session_id
    (BP → hypertension, HR → tachycardia, SpO₂ → respiratory_depression): the under-reporting review list."""
    return excursions(con, f, cfg, without_ae_only=True)


def protocol_deviations(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """Administered iv sessions with dose per kg or duration outside the configured protocol.

    Bounds are inclusive (a dose of exactly the maximum is in protocol). A null
    value is not a deviation. ``dose_deviation`` / ``duration_deviation`` say which.
    """
    sessions_sql, sp = _administered_sessions(f)
    dose, dp = _dose_deviation(cfg)
    dur, up = _duration_deviation(cfg)
    return con.sql(
        f"""
        SELECT * FROM (
            SELECT session_id, scheduled_at, clinic_id, clinic_name, region, patient_key, phase,
                   dose_mg, weight_kg, dose_mg_per_kg, duration_min, session_number,
                   {dose} AS dose_deviation, {dur} AS duration_deviation
            FROM ({sessions_sql}) x WHERE route = 'iv')
        WHERE dose_deviation OR duration_deviation
        ORDER BY scheduled_at DESC, session_id""",
        params=[*dp, *up, *sp],
    ).pl()


def protocol_summary(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> dict[str, Any]:
    """Counts of protocol deviations among administered iv sessions in scope."""
    return _protocol_figures(_session_counts(con, f, cfg, excursion_aes=False))


def kpis(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> dict[str, dict[str, Any]]:
    """The Safety page's headline figures in one call (one connection, one scan for the session counts).

    ``rate`` = ``ae_rate(f)``, ``previous_rate`` = ``ae_rate(f.previous_period())``,
    ``patients`` = ``patients_with_ae(f)``, ``excursion`` = ``excursion_rate(f, cfg)``,
    ``protocol`` = ``protocol_summary(f, cfg)``: the same definitions, computed together.
    """
    counts = _session_counts(con, f, cfg)
    before = f.previous_period()
    prev_sql, pp = _administered_sessions(before)
    (n_before,) = _one(con, f"SELECT count(*) FROM ({prev_sql})", pp)
    # The AEs of both periods in one scan: the previous period ends the day before f.start.
    aes_sql, ap = _aes(replace(f, start=before.start), detail=False)
    split = "onset_at >= CAST(? AS TIMESTAMP)"
    k, serious, k_before, serious_before = _one(
        con,
        f"""SELECT count(*) FILTER (WHERE {split}), count(*) FILTER (WHERE {split} AND serious),
                   count(*) FILTER (WHERE NOT {split}), count(*) FILTER (WHERE NOT {split} AND serious)
            FROM ({aes_sql})""",
        [f.start] * 4 + ap,
    )
    return {
        "rate": _rate_figures(k, serious, counts["administered_sessions"]),
        "previous_rate": _rate_figures(k_before, serious_before, n_before),
        "patients": patients_with_ae(con, f),
        "excursion": _excursion_figures(counts),
        "protocol": _protocol_figures(counts),
    }


# --- Serious events, line list, patient drill-down ---------------------------------------------

LINE_LIST_COLUMNS = (
    "ae_id",
    "onset_at",
    "clinic_id",
    "clinic_name",
    "region",
    "patient_key",
    "primary_condition",
    "category",
    "severity_grade",
    "serious",
    "action_taken",
    "outcome",
    "description",
    "session_id",
    "scheduled_at",
    "status",
    "phase",
    "route",
    "modality",
    "dose_mg",
    "weight_kg",
    "dose_mg_per_kg",
    "dose_band",
    "duration_min",
    "session_number",
    "session_band",
    "bp_sys_max",
    "bp_dia_max",
    "hr_max",
    "spo2_min",
)


def serious_events(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig | None = None
) -> pl.DataFrame:
    """Every serious AE in scope with its clinic, category, grade, action and outcome."""
    return line_list(con, f, AeFilters(serious=True))


def _ae_filter_where(ae: AeFilters) -> Fragment:
    parts: list[Fragment] = []
    if ae.categories:
        parts.append(_in("category", ae.categories))
    if ae.severity_grades:
        parts.append(_in("severity_grade", tuple(int(g) for g in ae.severity_grades)))
    if ae.serious is not None:
        parts.append(("serious = ?", [ae.serious]))
    if ae.actions:
        parts.append(_in("action_taken", ae.actions))
    if ae.outcomes:
        parts.append(_in("coalesce(outcome, 'unknown')", ae.outcomes))
    if ae.dose_bands:
        parts.append(_in("dose_band", ae.dose_bands))
    if ae.session_bands:
        parts.append(_in("session_band", ae.session_bands))
    if ae.search.strip():
        escaped = ae.search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        parts.append(("description ILIKE ? ESCAPE '\\'", [f"%{escaped}%"]))
    return combine(*parts)


def line_list(
    con: duckdb.DuckDBPyConnection, f: Filters, ae_filters: AeFilters | None = None
) -> pl.DataFrame:
    """Every AE in scope with its session, patient condition and clinic, newest first."""
    aes_sql, ap = _aes(f)
    where, wp = _ae_filter_where(ae_filters or AeFilters())
    return con.sql(
        f"SELECT {', '.join(LINE_LIST_COLUMNS)} FROM ({aes_sql}) WHERE {where} ORDER BY onset_at DESC, ae_id",
        params=ap + wp,
    ).pl()


def patient_history(con: duckdb.DuckDBPyConnection, f: Filters, patient_key: str) -> dict[str, pl.DataFrame]:
    """The same pseudonymous patient's sessions and AEs, at clinics in the viewer's scope, any date.

    Only the clinic scope applies (it is access control); period and other
    filters do not, so the reviewer sees the event in the patient's whole course.
    """
    where_s, ps = clinic_where(f, "s.clinic_id")
    where_a, pa = clinic_where(f, "a.clinic_id")
    sessions = con.sql(
        f"""SELECT s.session_id, s.scheduled_at, s.clinic_id, s.status, s.phase, s.route, s.modality,
                   s.dose_mg, s.dose_mg_per_kg, s.duration_min, s.session_number,
                   s.bp_sys_max, s.bp_dia_max, s.hr_max, s.spo2_min,
                   (SELECT count(*) FROM adverse_events a WHERE a.session_id = s.session_id) AS ae_count
            FROM sessions s WHERE s.patient_key = ? AND {where_s}
            ORDER BY s.scheduled_at, s.session_id""",
        params=[patient_key, *ps],
    ).pl()
    aes = con.sql(
        f"""SELECT a.ae_id, a.onset_at, a.clinic_id, a.session_id, a.category, a.severity_grade, a.serious,
                   a.action_taken, a.outcome, a.description
            FROM adverse_events a WHERE a.patient_key = ? AND {where_a}
            ORDER BY a.onset_at, a.ae_id""",
        params=[patient_key, *pa],
    ).pl()
    return {"sessions": sessions, "adverse_events": aes}


def ae_filter_options() -> dict[str, tuple[str, ...]]:
    """Allowed values of each line-list filter, for pickers (from the contract and the bands above)."""
    return {
        "categories": AE_CATEGORIES,
        "severity_grades": tuple(str(g) for g in range(1, 6)),
        "actions": ACTIONS,
        "outcomes": AE_OUTCOMES,
        "dose_bands": (*(label for label, _ in DOSE_BANDS), DOSE_NOT_WEIGHT_BASED, NO_SESSION),
        "session_bands": (*SESSION_BANDS, NOT_ADMINISTERED, NO_SESSION),
    }
