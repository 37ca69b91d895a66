"""Throughput metrics of metrics.md: sessions, no-shows, utilisation, new starts, induction.

Every function aggregates inside DuckDB (the large network has 10M sessions) and
returns a small Polars frame or a dict of plain Python values. Definitions and
the choices metrics.md leaves open are documented in ``docs/metrics.md``
("Throughput").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
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
    scoped_first_sessions,
    scoped_maintenance_sessions,
    scoped_sessions,
)
from dashboard.stats.spc import p_chart
from pipelines.compat import first_sessions_source, maintenance_sessions_source
from pipelines.contract import CLINICS
from pipelines.model.config import MetricConfig
from pipelines.model.sessions import ADMINISTERED, INDUCTION_WINDOW_DAYS

Grain = Literal["day", "week", "month"]
GRAINS: tuple[str, ...] = ("day", "week", "month")

INDUCTION_TARGET_SESSIONS = 6
MAX_CADENCE_GAP_DAYS = 365  # longer gaps between maintenance sessions are a restart
FUNNEL_STAGES: tuple[tuple[str, int], ...] = (("started", 1), ("≥3 infusions", 3), ("≥6 infusions", 6))
DEFAULT_HOURS_PER_DAY = float(CLINICS.by_name["hours_per_day"].default)  # type: ignore[arg-type]


_COUNTS = f"""
    count(*) AS scheduled_sessions,
    count(*) FILTER (WHERE {ADMINISTERED}) AS administered_sessions,
    count(*) FILTER (WHERE status = 'no_show') AS no_shows,
    count(*) FILTER (WHERE status = 'cancelled') AS cancellations,
    count(*) FILTER (WHERE session_number = 1 AND {ADMINISTERED}) AS new_starts,
    coalesce(sum(duration_min + coalesce(recovery_min, 0)) FILTER (WHERE {ADMINISTERED}), 0)
        AS chair_minutes_used"""


def _grain(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}, not {grain!r}")
    return grain


def _rate(num: float | int | None, den: float | int | None) -> float | None:
    return float(num) / float(den) if num is not None and den else None


def _rate_expr(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> tuple[Any, ...]:
    """The single row of an aggregate query, fully fetched (DuckDB 2 results stream)."""
    rows = con.execute(sql, params or []).fetchall()
    assert len(rows) == 1, sql
    return rows[0]


def data_last_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """The data's last date: the newest ``scheduled_at`` date in the whole database.

    Network-wide and unfiltered, so the induction maturity rule does not move
    with the viewer's filters. None for a database without sessions.
    """
    # the cast after the max: DuckDB then answers from the column's statistics instead of scanning 6M rows
    return _one(con, "SELECT CAST(max(scheduled_at) AS DATE) FROM sessions")[0]


def scheduled_session_count(con: duckdb.DuckDBPyConnection, f: Filters) -> int:
    """Sessions the filters select (every status): what an empty state counts to find which filter
    emptied a page (``dashboard/components/empty.py``), one cheap count per filter left out."""
    scoped, params = scoped_sessions(f)
    return int(_one(con, f"SELECT count(*) FROM ({scoped})", params)[0])


# --- capacity ---------------------------------------------------------------------------


def _capacity_sql(f: Filters) -> Fragment:
    """Per clinic in scope: open Mon–Sat days in the period and chair-minutes available."""
    where, params = clinic_where(f, "c.clinic_id", "c.region")
    sql = f"""
        SELECT clinic_id, clinic_name, region, chairs, hours_per_day, open_days,
               chairs * hours_per_day * 60 * open_days AS chair_minutes_available
        FROM (
            SELECT c.clinic_id, any_value(c.clinic_name) AS clinic_name, any_value(c.region) AS region,
                   any_value(c.chairs) AS chairs,
                   CAST(coalesce(any_value(c.hours_per_day), ?) AS DOUBLE) AS hours_per_day,
                   count(d.day) AS open_days
            FROM clinics c
            LEFT JOIN (
                SELECT CAST(g AS DATE) AS day
                FROM generate_series(CAST(? AS DATE), CAST(? AS DATE), INTERVAL 1 DAY) t(g)
                WHERE isodow(g) < 7
            ) d ON d.day >= c.opened_on AND (c.closed_on IS NULL OR d.day <= c.closed_on)
            WHERE {where}
            GROUP BY c.clinic_id)"""
    return sql, [DEFAULT_HOURS_PER_DAY, f.start, f.end, *params]


# --- new starts -------------------------------------------------------------------------


def _first_sessions_sql(f: Filters, source: str) -> Fragment:
    """Patients' first administered session network-wide (``session_number`` = 1), filtered.

    ``session_number`` is derived on load over all of a patient's administered
    sessions in every clinic, so the first session is found network-wide; it then
    counts for the clinic, region, route and modality of that session and the
    patient's condition. ``source``: ``first_sessions_source``. Columns: patient_key,
    first_at, first_date, clinic_id, clinic_name, region, induction_sessions.
    """
    scoped, sp = scoped_first_sessions(f, source)
    sql = f"""
        SELECT patient_key, day0 AS first_at, CAST(day0 AS DATE) AS first_date,
               clinic_id, clinic_name, region, induction_sessions
        FROM ({scoped})"""
    return sql, sp


# --- one clinic beside its scope (the Clinic page) ---------------------------------------


def clinic_alone(f: Filters, clinic_id: str) -> Filters:
    """``f``'s period, condition, route and modality for one clinic (its region need not be in ``f``'s)."""
    return replace(f, clinic_ids=(clinic_id,), regions=())


def _scopes(f: Filters, clinic_id: str | None) -> list[Filters]:
    """Scope 0 is ``f``; scope 1, when asked for, the clinic alone. One query computes both."""
    return [f] if clinic_id is None else [f, clinic_alone(f, clinic_id)]


def _union(fragments: list[Fragment]) -> Fragment:
    """The fragments' rows with their index as ``scope`` (UNION ALL: a row may belong to both scopes)."""
    sql = " UNION ALL ".join(f"SELECT *, {i} AS scope FROM ({q})" for i, (q, _) in enumerate(fragments))
    return sql, [v for _, p in fragments for v in p]


def _by_scope(results: list[Any]) -> dict[str, Any]:
    return {"scope": results[0], "clinic": results[1]}


# --- summary and per clinic -------------------------------------------------------------


def throughput_summary(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, *, active_patients: bool = True
) -> dict[str, Any]:
    """Network (scope) figures: counts, rates and chair utilisation of the clinics in scope.

    ``active_patients=False`` leaves out the one figure that needs distinct patients (a hash
    of every patient key in the period, most of the query's time) for pages that do not show
    it; its key is then None.
    """
    return _summaries(con, _scopes(f, None), (active_patients,))[0]


def throughput_summary_with_clinic(
    con: duckdb.DuckDBPyConnection, f: Filters, clinic_id: str, cfg: MetricConfig
) -> dict[str, Any]:
    """``throughput_summary`` of ``f`` ("scope") and of the clinic alone ("clinic"), one query.

    Active patients only for the clinic: the scope's is a distinct count over every patient of
    the network, which the Clinic page does not show.
    """
    return _by_scope(_summaries(con, _scopes(f, clinic_id), (False, True)))


def _summaries(
    con: duckdb.DuckDBPyConnection, scopes: list[Filters], active_patients: tuple[bool, ...]
) -> list[dict[str, Any]]:
    scoped, sp = _union([scoped_sessions(sf) for sf in scopes])
    capacity, cp = _union([_capacity_sql(sf) for sf in scopes])
    # distinct patients only over the scopes that want them, each from its own selection: a
    # FILTER on the shared scan would still hash every session of the other scopes. Counted by
    # the loader's 4-byte patient_no, not the 14-character key (a year of the network's sessions
    # 0.34 -> 0.20 s per summary), as the bits set in one bitstring over the numbers' range
    # (``bitstring_agg`` reads the range from the column's statistics) instead of a hash table:
    # 0.19 -> 0.12-0.15 s (docs/performance.md)
    counted = [
        (i, scoped_sessions(sf))
        for i, (sf, wanted) in enumerate(zip(scopes, active_patients, strict=True))
        if wanted
    ]
    active_sql = " UNION ALL ".join(
        f"SELECT {i} AS scope, bit_count(bitstring_agg(patient_no)) AS active_patients "
        f"FROM ({q}) WHERE {ADMINISTERED}"
        for i, (q, _) in counted
    )
    active_params = [v for _, (_, p) in counted for v in p]
    if not counted:
        active_sql = "SELECT NULL AS scope, CAST(NULL AS BIGINT) AS active_patients"
    df = con.sql(
        f"""
        WITH counts AS (SELECT scope, {_COUNTS} FROM ({scoped}) GROUP BY scope),
        active AS ({active_sql}),
        cap AS (SELECT scope, sum(chair_minutes_available) AS available FROM ({capacity}) GROUP BY scope)
        SELECT k.scope, COLUMNS(counts.* EXCLUDE (scope)), active.active_patients,
               coalesce(cap.available, 0) AS available
        FROM range(?) k(scope) LEFT JOIN counts USING (scope) LEFT JOIN active USING (scope)
        LEFT JOIN cap USING (scope)
        ORDER BY k.scope""",
        params=[*sp, *active_params, *cp, len(scopes)],
    ).pl()
    out = []
    for c, wanted in zip(df.iter_rows(named=True), active_patients, strict=True):
        n = {
            k: c[k] or 0 for k in ("scheduled_sessions", "administered_sessions", "no_shows", "cancellations")
        }
        used = float(c["chair_minutes_used"] or 0)
        out.append(
            {
                **{k: int(v) for k, v in n.items()},
                "no_show_rate": _rate(n["no_shows"], n["scheduled_sessions"]),
                "cancellation_rate": _rate(n["cancellations"], n["scheduled_sessions"]),
                "active_patients": int(c["active_patients"] or 0) if wanted else None,
                "new_starts": int(c["new_starts"] or 0),
                "chair_minutes_used": used,
                "chair_minutes_available": float(c["available"]),
                "chair_utilisation": _rate(used, c["available"]),
            }
        )
    return out


def throughput_by_clinic(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, *, active_patients: bool = True
) -> pl.DataFrame:
    """One row per clinic in scope (also those without sessions), ordered by clinic_id.

    ``active_patients=False``: that column is null (see ``throughput_summary``).
    """
    scoped, sp = scoped_sessions(f)
    capacity, cp = _capacity_sql(f)
    active = (
        f"SELECT clinic_id, count(DISTINCT patient_no) AS active_patients FROM scoped WHERE {ADMINISTERED} "
        "GROUP BY clinic_id"
        if active_patients
        else "SELECT NULL AS clinic_id, CAST(NULL AS BIGINT) AS active_patients"
    )
    # sessions aggregated by clinic_id alone; the 200-row clinics table joins the aggregate, not every session
    df = con.sql(
        f"""
        WITH scoped AS ({scoped}),
             counts AS (SELECT clinic_id, {_COUNTS} FROM scoped GROUP BY clinic_id),
             active AS ({active}),
             cap AS ({capacity})
        SELECT cap.clinic_id, cap.clinic_name, cap.region, cap.chairs, cap.hours_per_day, cap.open_days,
               coalesce(counts.scheduled_sessions, 0) AS scheduled_sessions,
               coalesce(counts.administered_sessions, 0) AS administered_sessions,
               coalesce(counts.no_shows, 0) AS no_shows,
               coalesce(counts.cancellations, 0) AS cancellations,
               {"coalesce(active.active_patients, 0)" if active_patients else "active.active_patients"}
                   AS active_patients,
               coalesce(counts.new_starts, 0) AS new_starts,
               CAST(coalesce(counts.chair_minutes_used, 0) AS DOUBLE) AS chair_minutes_used,
               CAST(cap.chair_minutes_available AS DOUBLE) AS chair_minutes_available
        FROM cap LEFT JOIN counts USING (clinic_id) LEFT JOIN active USING (clinic_id)
        ORDER BY cap.clinic_id""",
        params=[*sp, *cp],
    ).pl()
    return df.with_columns(
        no_show_rate=_rate_expr("no_shows", "scheduled_sessions"),
        cancellation_rate=_rate_expr("cancellations", "scheduled_sessions"),
        chair_utilisation=_rate_expr("chair_minutes_used", "chair_minutes_available"),
    )


def chair_utilisation_by_clinic(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Chair utilisation per clinic with its arithmetic (for the bar chart and its tooltip)."""
    return throughput_by_clinic(con, f, MetricConfig()).select(
        "clinic_id",
        "clinic_name",
        "region",
        "chairs",
        "hours_per_day",
        "open_days",
        "administered_sessions",
        "chair_minutes_used",
        "chair_minutes_available",
        "chair_utilisation",
    )


# --- over time --------------------------------------------------------------------------


def _buckets_sql(f: Filters, grain: str) -> Fragment:
    g = _grain(grain)
    sql = f"""
        SELECT DISTINCT CAST(date_trunc('{g}', d) AS DATE) AS period_start
        FROM generate_series(CAST(? AS DATE), CAST(? AS DATE), INTERVAL 1 DAY) t(d)"""
    return sql, [f.start, f.end]


def _groups_sql(f: Filters, by: str | None) -> tuple[str, str, Fragment]:
    """(group expression over a session row, label expression, SELECT of the groups to show)."""
    where, params = clinic_where(f, "c.clinic_id", "c.region")
    overlaps = "c.opened_on <= CAST(? AS DATE) AND (c.closed_on IS NULL OR c.closed_on >= CAST(? AS DATE))"
    source = f"FROM clinics c WHERE {where} AND {overlaps}"
    if by == "clinic":
        sql = f"SELECT DISTINCT c.clinic_id AS grp, c.clinic_name AS label {source}"
        return "s.clinic_id", "s.clinic_name", (sql, [*params, f.end, f.start])
    if by == "region":
        sql = f"SELECT DISTINCT c.region AS grp, c.region AS label {source}"
        return "s.region", "s.region", (sql, [*params, f.end, f.start])
    if by is None:
        label = "'All clinics in scope'"
        return "'network'", label, (f"SELECT 'network' AS grp, {label} AS label", [])
    raise ValueError(f"by must be 'clinic', 'region' or None, not {by!r}")


def sessions_over_time(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    grain: Grain = "week",
    by: Literal["clinic", "region"] | None = None,
) -> pl.DataFrame:
    """Session counts per period bucket and group, zero-filled.

    Columns: period_start (first day of the day/ISO week/month; the first and
    last buckets may be cut by the period), group, label, scheduled_sessions,
    administered_sessions, no_shows, cancellations, no_show_rate, cancellation_rate.
    """
    return _sessions_over_time(con, _scopes(f, None), grain, by)[0]


def sessions_over_time_with_clinic(
    con: duckdb.DuckDBPyConnection, f: Filters, clinic_id: str, grain: Grain = "week"
) -> dict[str, pl.DataFrame]:
    """``sessions_over_time(…, by=None)`` of ``f`` ("scope") and of the clinic alone ("clinic"), one query."""
    return _by_scope(_sessions_over_time(con, _scopes(f, clinic_id), grain, None))


def _sessions_over_time(
    con: duckdb.DuckDBPyConnection, scopes: list[Filters], grain: str, by: str | None
) -> list[pl.DataFrame]:
    if by is not None and len(scopes) > 1:
        raise ValueError("a clinic beside its scope is compared as one group each (by=None)")
    f = scopes[0]
    g = _grain(grain)
    scoped, sp = _union([scoped_sessions(sf) for sf in scopes])
    buckets, bp = _buckets_sql(f, g)
    gexpr, lexpr, (groups, gp) = _groups_sql(f, by)
    df = con.sql(
        f"""
        WITH agg AS (
            SELECT s.scope, CAST(date_trunc('{g}', s.scheduled_at) AS DATE) AS period_start,
                   {gexpr} AS grp, any_value({lexpr}) AS label, {_COUNTS}
            FROM ({scoped}) s GROUP BY 1, 2, 3),
        grps AS (
            SELECT k.scope, g.grp, g.label FROM range(?) k(scope) CROSS JOIN ({groups}) g
            UNION SELECT scope, grp, label FROM agg)
        SELECT grps.scope, b.period_start, grps.grp AS "group", grps.label,
               coalesce(agg.scheduled_sessions, 0) AS scheduled_sessions,
               coalesce(agg.administered_sessions, 0) AS administered_sessions,
               coalesce(agg.no_shows, 0) AS no_shows,
               coalesce(agg.cancellations, 0) AS cancellations
        FROM ({buckets}) b CROSS JOIN grps
        LEFT JOIN agg ON agg.period_start = b.period_start AND agg.grp = grps.grp AND agg.scope = grps.scope
        ORDER BY grps.scope, b.period_start, grps.grp""",
        params=[*sp, len(scopes), *gp, *bp],
    ).pl()
    df = df.with_columns(
        no_show_rate=_rate_expr("no_shows", "scheduled_sessions"),
        cancellation_rate=_rate_expr("cancellations", "scheduled_sessions"),
    )
    return [df.filter(pl.col("scope") == i).drop("scope") for i in range(len(scopes))]


def new_starts_over_time(con: duckdb.DuckDBPyConnection, f: Filters, grain: Grain = "week") -> pl.DataFrame:
    """New starts per period bucket (period_start, new_starts), zero-filled."""
    return _new_starts_over_time(con, _scopes(f, None), grain)[0]


def new_starts_over_time_with_clinic(
    con: duckdb.DuckDBPyConnection, f: Filters, clinic_id: str, grain: Grain = "week"
) -> dict[str, pl.DataFrame]:
    """``new_starts_over_time`` of ``f`` ("scope") and of the clinic alone ("clinic"), one query."""
    return _by_scope(_new_starts_over_time(con, _scopes(f, clinic_id), grain))


def _new_starts_over_time(
    con: duckdb.DuckDBPyConnection, scopes: list[Filters], grain: str
) -> list[pl.DataFrame]:
    g = _grain(grain)
    source = first_sessions_source(con)
    firsts, fp = _union([_first_sessions_sql(sf, source) for sf in scopes])
    buckets, bp = _buckets_sql(scopes[0], g)
    df = con.sql(
        f"""
        WITH agg AS (
            SELECT scope, CAST(date_trunc('{g}', first_at) AS DATE) AS period_start, count(*) AS new_starts
            FROM ({firsts}) GROUP BY 1, 2)
        SELECT k.scope, b.period_start, coalesce(agg.new_starts, 0) AS new_starts
        FROM range(?) k(scope) CROSS JOIN ({buckets}) b
        LEFT JOIN agg ON agg.scope = k.scope AND agg.period_start = b.period_start
        ORDER BY k.scope, b.period_start""",
        params=[*fp, len(scopes), *bp],
    ).pl()
    return [df.filter(pl.col("scope") == i).drop("scope") for i in range(len(scopes))]


def no_show_counts(con: duckdb.DuckDBPyConnection, f: Filters, grain: Grain = "week") -> pl.DataFrame:
    """Scheduled sessions and no-shows per bucket with at least one scheduled session (p-chart input)."""
    return _no_show_counts(sessions_over_time(con, f, grain))


def _no_show_counts(over_time: pl.DataFrame) -> pl.DataFrame:
    return over_time.filter(pl.col("scheduled_sessions") > 0).select(
        "period_start", "scheduled_sessions", "no_shows", "no_show_rate"
    )


# --- load heatmap -----------------------------------------------------------------------


def weekday_hour_load(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Average chairs in use per weekday × hour slot (7 × 24 grid; null for a weekday not in the period).

    Each administered session occupies a chair from ``scheduled_at`` for
    duration + recovery minutes; its chair-minutes are split over the clock hours
    it overlaps. avg_chairs_in_use = chair-minutes in the slot ÷ (60 × number of
    such weekdays in the period), summed over the clinics in scope.
    avg_sessions_started is the same average for session starts.
    chairs_in_scope sums the chairs of clinics in scope open at some point of the period.
    """
    return _weekday_hour_load(con, _scopes(f, None))[0]


def weekday_hour_load_with_clinic(
    con: duckdb.DuckDBPyConnection, f: Filters, clinic_id: str
) -> dict[str, pl.DataFrame]:
    """``weekday_hour_load`` of ``f`` ("scope") and of the clinic alone ("clinic"), one query."""
    return _by_scope(_weekday_hour_load(con, _scopes(f, clinic_id)))


def _weekday_hour_load(con: duckdb.DuckDBPyConnection, scopes: list[Filters]) -> list[pl.DataFrame]:
    f = scopes[0]
    scoped, sp = _union([scoped_sessions(sf) for sf in scopes])
    capacity, cp = _union([_capacity_sql(sf) for sf in scopes])
    df = con.sql(
        f"""
        WITH starts AS (
            -- sessions sharing start weekday, hour, minute and length are expanded once, not 10M times
            SELECT scope, isodow(scheduled_at) AS dow, hour(scheduled_at) AS h,
                   minute(scheduled_at) + second(scheduled_at) / 60.0 AS m,
                   duration_min + coalesce(recovery_min, 0) AS len, count(*) AS n
            FROM ({scoped}) s WHERE {ADMINISTERED} AND duration_min IS NOT NULL
            GROUP BY ALL),
        slots AS (
            SELECT scope, dow, h, m, len, n, unnest(range(0, CAST(ceil((m + len) / 60.0) AS BIGINT))) AS k
            FROM starts),
        agg AS (
            -- hour k after the start hour; past midnight it falls on the next weekday
            SELECT scope, (dow - 1 + (h + k) // 24) % 7 + 1 AS weekday, (h + k) % 24 AS hour,
                   sum(n * (least(m + len, 60.0 * (k + 1)) - greatest(m, 60.0 * k))) AS chair_minutes,
                   sum(n) FILTER (WHERE k = 0) AS sessions_started
            FROM slots GROUP BY 1, 2, 3),
        days AS (
            SELECT isodow(d) AS weekday, count(*) AS n_days
            FROM generate_series(CAST(? AS DATE), CAST(? AS DATE), INTERVAL 1 DAY) t(d) GROUP BY 1),
        chairs AS (
            SELECT k.scope, CAST(coalesce(sum(c.chairs) FILTER (WHERE c.open_days > 0), 0) AS BIGINT) AS n
            FROM range(?) k(scope) LEFT JOIN ({capacity}) c ON c.scope = k.scope GROUP BY k.scope)
        SELECT chairs.scope, w.weekday,
               dayname(DATE '2024-01-07' + CAST(w.weekday AS INTEGER)) AS weekday_name, h.hour,
               coalesce(agg.chair_minutes, 0) / (60.0 * days.n_days) AS avg_chairs_in_use,
               coalesce(agg.sessions_started, 0) / days.n_days AS avg_sessions_started,
               chairs.n AS chairs_in_scope,
               CASE WHEN chairs.n > 0
                    THEN coalesce(agg.chair_minutes, 0) / (60.0 * days.n_days) / chairs.n
               END AS share_of_chairs
        FROM range(1, 8) w(weekday) CROSS JOIN range(0, 24) h(hour) CROSS JOIN chairs
        LEFT JOIN days ON days.weekday = w.weekday
        LEFT JOIN agg ON agg.scope = chairs.scope AND agg.weekday = w.weekday AND agg.hour = h.hour
        ORDER BY chairs.scope, w.weekday, h.hour""",
        params=[*sp, f.start, f.end, len(scopes), *cp],
    ).pl()
    return [df.filter(pl.col("scope") == i).drop("scope") for i in range(len(scopes))]


# --- induction --------------------------------------------------------------------------


def induction(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, Any]:
    """Induction funnel and completion of one cohort, from one query (the page shows both).

    Keys: ``funnel`` (frame of ``induction_funnel``) and ``completion`` (dict of
    ``induction_completion``).
    """
    return _induction(con, _scopes(f, None))[0]


def induction_with_clinic(con: duckdb.DuckDBPyConnection, f: Filters, clinic_id: str) -> dict[str, Any]:
    """``induction`` of ``f`` ("scope") and of ``clinic_alone(f, clinic_id)`` ("clinic") in one query."""
    return _by_scope(_induction(con, _scopes(f, clinic_id)))


def _induction(con: duckdb.DuckDBPyConnection, scopes: list[Filters]) -> list[dict[str, Any]]:
    res = _induction_counts(con, scopes)
    return [{"funnel": _funnel_frame(r["counts"]), "completion": _completion(r)} for r in res]


def _induction_counts(con: duckdb.DuckDBPyConnection, scopes: list[Filters]) -> list[dict[str, Any]]:
    """Per scope: mature new starts and how many reached each funnel stage within the window.

    Mature: first session on or before the cutoff (data's last date − 42 days). Each new
    start carries its count of induction sessions (``model.sessions.induction_sessions_sql``).
    """
    f = scopes[0]
    last = data_last_date(con)
    cutoff = last - timedelta(days=INDUCTION_WINDOW_DAYS) if last else None
    source = first_sessions_source(con)
    firsts, fp = _union([_first_sessions_sql(sf, source) for sf in scopes])
    last_first = min(f.end, cutoff) if cutoff else f.end
    stages = [n for _, n in FUNNEL_STAGES if n > 1]
    reached = ", ".join(f"count(*) FILTER (WHERE induction_sessions >= ?) AS reached_{n}" for n in stages)
    rows = con.execute(
        f"""
        WITH counts AS (
            SELECT scope, count(*) AS started, {reached}
            FROM ({firsts}) WHERE first_at < CAST(? AS TIMESTAMP) GROUP BY scope)
        SELECT k.scope, coalesce(counts.started, 0), COLUMNS(counts.* EXCLUDE (scope, started))
        FROM range(?) k(scope) LEFT JOIN counts USING (scope)
        ORDER BY k.scope""",
        [*stages, *fp, last_first + timedelta(days=1), len(scopes)],
    ).fetchall()
    return [
        {
            "data_last_date": last,
            "maturity_cutoff": cutoff,
            "counts": dict(zip((1, *stages), (int(v or 0) for v in row[1:]), strict=True)),
        }
        for row in rows
    ]


def _completion(res: dict[str, Any]) -> dict[str, Any]:
    eligible, completed = res["counts"][1], res["counts"][INDUCTION_TARGET_SESSIONS]
    return {
        "eligible_patients": eligible,
        "completed_patients": completed,
        "completion_rate": _rate(completed, eligible),
        "data_last_date": res["data_last_date"],
        "maturity_cutoff": res["maturity_cutoff"],
    }


def _funnel_frame(counts: dict[int, int]) -> pl.DataFrame:
    started = counts[1]
    return pl.DataFrame(
        {
            "stage": [name for name, _ in FUNNEL_STAGES],
            "min_sessions": [n for _, n in FUNNEL_STAGES],
            "patients": [counts[n] for _, n in FUNNEL_STAGES],
        },
        schema={"stage": pl.String, "min_sessions": pl.Int64, "patients": pl.Int64},
    ).with_columns(share_of_started=(pl.col("patients") / started) if started else pl.lit(None, pl.Float64))


def induction_completion(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, Any]:
    """Share of mature new starts with ≥ 6 administered induction sessions within 42 days.

    Keys: eligible_patients (new starts in the period whose first session is on or
    before maturity_cutoff = data_last_date − 42 days), completed_patients,
    completion_rate (None when nobody is eligible), data_last_date, maturity_cutoff.
    """
    return induction(con, f)["completion"]


def induction_funnel(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Mature new starts → ≥ 3 → ≥ 6 induction sessions within 42 days (same cohort as completion)."""
    return induction(con, f)["funnel"]


# --- maintenance and mix ----------------------------------------------------------------


def _maintenance_gaps_sql(scopes: list[Filters], source: str) -> Fragment:
    """Per scope, days between a patient's consecutive administered maintenance sessions within its filters.

    The gap belongs to the period of its later session; the earlier one may lie
    before the period. Gaps longer than ``MAX_CADENCE_GAP_DAYS`` are a restart,
    not a cadence, and are left out. Columns: scope, patient_no, gap_days.

    ``source`` (``maintenance_sessions_source``) gives each session its previous one in
    the network. When that one also passes the filters it is the previous one within
    them (nothing within the filters lies between): the usual case, read from the
    period's rows alone. Otherwise (the patient changed clinic, route or modality) the
    previous session within the filters is looked up among that patient's earlier ones,
    at most ``MAX_CADENCE_GAP_DAYS`` before the period (an older one makes no cadence).
    Patients are told apart by ``patient_no`` (4-byte integers hash faster than keys).
    """
    lookback = scopes[0].start - timedelta(days=MAX_CADENCE_GAP_DAYS)
    rows, candidates, params, cparams = [], [], [], []
    for i, sf in enumerate(scopes):
        period_rows, rp = scoped_maintenance_sessions(sf, source)
        prev_ok, pp = combine(
            clinic_where(sf, "pc.clinic_id", "pc.region"),
            dimension_where(sf, route_col="m.prev_route", modality_col="m.prev_modality"),
        )
        rows.append(
            f"""SELECT {i} AS scope, m.patient_no, m.session_id, m.scheduled_at, m.prev_at,
                       coalesce({prev_ok}, FALSE) AS prev_ok
                FROM ({period_rows}) m LEFT JOIN clinics pc ON pc.clinic_id = m.prev_clinic_id"""
        )
        params += [*pp, *rp]
        earlier, ep = scoped_maintenance_sessions(replace(sf, start=lookback), source)
        candidates.append(
            f"""SELECT {i} AS scope, patient_no, session_id, scheduled_at FROM ({earlier})
                WHERE patient_no IN (SELECT patient_no FROM slow WHERE scope = {i})"""
        )
        cparams += ep
    sql = f"""
        WITH rows AS ({" UNION ALL ".join(rows)}),
        slow AS (SELECT * FROM rows WHERE prev_at IS NOT NULL AND NOT prev_ok),
        candidates AS ({" UNION ALL ".join(candidates)}),
        looked_up AS (
            SELECT s.scope, s.patient_no, s.scheduled_at, max(c.scheduled_at) AS prev_at
            FROM slow s JOIN candidates c ON c.scope = s.scope AND c.patient_no = s.patient_no
             AND (c.scheduled_at < s.scheduled_at
                  OR (c.scheduled_at = s.scheduled_at AND c.session_id < s.session_id))
            GROUP BY s.scope, s.patient_no, s.session_id, s.scheduled_at),
        pairs AS (
            SELECT scope, patient_no, prev_at, scheduled_at FROM rows WHERE prev_ok
            UNION ALL SELECT scope, patient_no, prev_at, scheduled_at FROM looked_up)
        SELECT * FROM (
            SELECT scope, patient_no,
                   date_diff('day', CAST(prev_at AS DATE), CAST(scheduled_at AS DATE)) AS gap_days
            FROM pairs)
        WHERE gap_days <= ?"""
    return sql, [*params, *cparams, MAX_CADENCE_GAP_DAYS]


def maintenance(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, Any]:
    """Maintenance cadence and its summary from one pass over the gaps (the page shows both).

    Keys: ``cadence`` (frame of ``maintenance_cadence``) and ``summary`` (dict of
    ``maintenance_cadence_summary``).
    """
    return _maintenance(con, _scopes(f, None))[0]


def maintenance_with_clinic(con: duckdb.DuckDBPyConnection, f: Filters, clinic_id: str) -> dict[str, Any]:
    """``maintenance`` of ``f`` ("scope") and of ``clinic_alone(f, clinic_id)`` ("clinic") in one query."""
    return _by_scope(_maintenance(con, _scopes(f, clinic_id)))


def _maintenance(con: duckdb.DuckDBPyConnection, scopes: list[Filters]) -> list[dict[str, Any]]:
    gaps, gp = _maintenance_gaps_sql(scopes, maintenance_sessions_source(con))
    df = con.sql(
        f"""
        WITH gaps AS ({gaps}),
        summary AS (
            SELECT scope, count(*) AS n, count(DISTINCT patient_no) AS patients,
                   quantile_cont(gap_days, 0.5) AS p50, quantile_cont(gap_days, 0.25) AS p25,
                   quantile_cont(gap_days, 0.75) AS p75
            FROM gaps GROUP BY scope),
        cadence AS (SELECT scope, gap_days, count(*) AS intervals FROM gaps GROUP BY 1, 2)
        SELECT k.scope, summary.* EXCLUDE (scope), cadence.gap_days, cadence.intervals
        FROM range(?) k(scope) LEFT JOIN summary USING (scope) LEFT JOIN cadence USING (scope)
        ORDER BY k.scope, cadence.gap_days""",
        params=[*gp, len(scopes)],
    ).pl()
    out = []
    for i in range(len(scopes)):
        part = df.filter(pl.col("scope") == i)
        first = part.row(0, named=True)
        out.append(
            {
                "cadence": part.select("gap_days", "intervals").drop_nulls("gap_days"),
                "summary": {
                    "intervals": int(first["n"] or 0),
                    "patients": int(first["patients"] or 0),
                    "median_days": first["p50"],
                    "p25_days": first["p25"],
                    "p75_days": first["p75"],
                },
            }
        )
    return out


def maintenance_cadence(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Distribution of days between consecutive maintenance sessions: (gap_days, intervals)."""
    return maintenance(con, f)["cadence"]


def maintenance_cadence_summary(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, Any]:
    """intervals, patients, median/p25/p75 days between maintenance sessions (None when no interval)."""
    return maintenance(con, f)["summary"]


def route_modality_mix(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Administered sessions by route × modality with their share of all administered sessions."""
    return _route_modality_mix(con, _scopes(f, None))[0]


def route_modality_mix_with_clinic(
    con: duckdb.DuckDBPyConnection, f: Filters, clinic_id: str
) -> dict[str, pl.DataFrame]:
    """``route_modality_mix`` of ``f`` ("scope") and of the clinic alone ("clinic"), one query."""
    return _by_scope(_route_modality_mix(con, _scopes(f, clinic_id)))


def _route_modality_mix(con: duckdb.DuckDBPyConnection, scopes: list[Filters]) -> list[pl.DataFrame]:
    scoped, sp = _union([scoped_sessions(sf) for sf in scopes])
    df = con.sql(
        f"""
        SELECT scope, route, modality, count(*) AS administered_sessions,
               count(*) / sum(count(*)) OVER (PARTITION BY scope) AS share
        FROM ({scoped}) s WHERE {ADMINISTERED}
        GROUP BY 1, 2, 3 ORDER BY scope, administered_sessions DESC, route, modality""",
        params=sp,
    ).pl()
    return [df.filter(pl.col("scope") == i).drop("scope") for i in range(len(scopes))]


def no_show_pchart(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    cfg: MetricConfig,
    grain: Grain = "week",
    options: SpcOptions | None = None,
) -> pl.DataFrame:
    """p-chart (Laney's p′ by default) of the no-show rate per week or month (metrics.md "Over time").

    One point per bucket with at least one scheduled session, over the chart's window
    (``control_charts``: at least 26 weeks / 18 months ending at ``f.end``); limits from
    ``options``' baseline (default: the first ``cfg.spc_baseline_periods`` points); a lower
    rate is better. Columns are those of ``dashboard.stats.spc.p_chart`` and ``in_period``.
    """
    return _pchart(no_show_counts(con, chart_filters(f, grain, options), grain), cfg, f, grain, options)


def no_show_pchart_with_clinic(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    clinic_id: str,
    cfg: MetricConfig,
    grain: Grain = "week",
    options: SpcOptions | None = None,
) -> dict[str, pl.DataFrame]:
    """``no_show_pchart`` of ``f`` ("scope") and of the clinic alone ("clinic"), from one query."""
    over_time = _sessions_over_time(con, _scopes(chart_filters(f, grain, options), clinic_id), grain, None)
    return _by_scope([_pchart(_no_show_counts(df), cfg, f, grain, options) for df in over_time])


def no_show_pcharts_by_clinic(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    cfg: MetricConfig,
    grain: Grain = "week",
    options: SpcOptions | None = None,
) -> dict[str, pl.DataFrame]:
    """``no_show_pchart(f.with_clinics((c,)))`` for every clinic c in scope with a point, from one query.

    The Throughput page scans each clinic's chart for special causes; one query per clinic
    cost a scan of the period each.
    """
    weekly = sessions_over_time(con, chart_filters(f, grain, options), grain, by="clinic")
    return {
        str(clinic[0]): _pchart(_no_show_counts(part.drop("group", "label")), cfg, f, grain, options)
        for clinic, part in weekly.group_by("group", maintain_order=True)
        if part["scheduled_sessions"].sum() > 0
    }


def _pchart(
    counts: pl.DataFrame, cfg: MetricConfig, f: Filters, grain: Grain, options: SpcOptions | None
) -> pl.DataFrame:
    options = options or SpcOptions()
    points = counts.select(period="period_start", count="no_shows", n="scheduled_sessions")
    chart = p_chart(
        points,
        baseline_periods=cfg.spc_baseline_periods,
        baseline=options.baseline,
        laney=options.laney,
        higher_is_better=False,
    )
    return mark_period(chart, f, grain)
