"""Measurement-based-care completeness by clinic (metrics.md "Outcomes"): do the outcome figures
rest on most patients or on a few?

Per clinic of the selection, with each patient's primary instrument: of the cohort, the share with
a baseline; of its mature patients, the share with an end-of-induction score; and of the
administered sessions in the period, the share with a score of the patient's primary instrument
on the session's date or linked to the session. The cohort and mature counts (the denominators)
are suppressed as every outcome count is (``totals.aggregate``); the shares of patients scored are
process figures, not outcomes, and are shown beside a shown denominator; sessions are session
counts, shown in full.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters, scoped_sessions
from dashboard.metrics.outcomes.cohort import scope_clinics
from dashboard.metrics.outcomes.totals import aggregate, clinic_totals
from pipelines.model.config import MetricConfig
from pipelines.model.outcome_rules import PRIMARY_INSTRUMENT
from pipelines.model.sessions import ADMINISTERED

_PAIRS = tuple((c, i) for c, i in PRIMARY_INSTRUMENT.items() if i is not None)

# administered sessions of patients with a primary instrument, and those scored on it: an
# assessment linked to the session, or one of the same patient dated the session's date
_SESSIONS = """
    WITH s AS (SELECT s.session_id, s.patient_key, s.clinic_id, s.scheduled_at, m.instrument
               FROM ({scoped}) s JOIN (VALUES {values}) m(condition, instrument)
                 ON m.condition = s.primary_condition
               WHERE s.{administered}),
    scored AS (
        SELECT s.session_id FROM s JOIN assessments a
          ON a.session_id = s.session_id AND a.instrument = s.instrument
        UNION
        SELECT s.session_id FROM s JOIN assessments a
          ON a.patient_key = s.patient_key AND a.instrument = s.instrument
         AND CAST(a.assessed_at AS DATE) = CAST(s.scheduled_at AS DATE)
        -- implied by the date match; lets DuckDB skip the row groups of other dates
        WHERE a.assessed_at >= (SELECT min(scheduled_at)::DATE FROM s)
          AND a.assessed_at < (SELECT max(scheduled_at)::DATE + 1 FROM s))
    SELECT s.clinic_id, count(*) AS sessions,
           count(*) FILTER (WHERE s.session_id IN (SELECT session_id FROM scored)) AS scored_sessions
    FROM s GROUP BY s.clinic_id"""


def _session_counts(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, dict[str, Any]]:
    scoped, params = scoped_sessions(f)
    sql = _SESSIONS.format(
        scoped=scoped, values=", ".join("(?, ?)" for _ in _PAIRS), administered=ADMINISTERED
    )
    rows = con.sql(sql, params=[*params, *(v for pair in _PAIRS for v in pair)]).pl()
    return {r["clinic_id"]: r for r in rows.iter_rows(named=True)}


def mbc_completeness(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """One row per clinic of the selection with cohort patients or administered sessions:
    clinic_id, clinic_name, cohort, baseline_share, mature, endpoint_share, sessions,
    scored_session_share, suppressed (the cohort count hidden: its shares null too)."""
    totals, _ = clinic_totals(con, f, cfg)
    scope = scope_clinics(con, f)
    primary = totals.filter(pl.col("is_primary"))
    per_clinic = (
        primary.group_by("clinic_id")
        .agg(
            pl.col("clinic_name").first(),
            pl.col("patients", "with_baseline", "mature", "with_endpoint").sum(),
        )
        .to_dicts()
    )
    sessions = _session_counts(con, f)
    names = dict(
        con.execute(
            "SELECT clinic_id, clinic_name FROM clinics WHERE list_contains(?, clinic_id)", [list(scope)]
        ).fetchall()
    )
    out = []
    for clinic in sorted(scope & ({r["clinic_id"] for r in per_clinic} | set(sessions))):
        c = aggregate(per_clinic, frozenset({clinic}), cfg, ("patients", "mature"))
        raw = next(
            (r for r in per_clinic if r["clinic_id"] == clinic), {"with_baseline": 0, "with_endpoint": 0}
        )
        hidden = c["patients"] is None
        s = sessions.get(clinic, {"sessions": 0, "scored_sessions": 0})

        def share(k: int | None, n: int | None, hidden: bool = hidden) -> float | None:
            return None if hidden or k is None or not n else k / n

        out.append(
            {
                "clinic_id": clinic,
                "clinic_name": names.get(clinic, clinic),
                "cohort": None if hidden else c["patients"],
                "baseline_share": share(raw["with_baseline"], c["patients"]),
                "mature": None if hidden else c["mature"],
                "endpoint_share": share(raw["with_endpoint"], c["mature"]),
                "sessions": int(s["sessions"]),
                "scored_session_share": s["scored_sessions"] / s["sessions"] if s["sessions"] else None,
                "suppressed": hidden,
            }
        )
    return pl.DataFrame(out, schema=MBC_SCHEMA)


MBC_SCHEMA = {
    "clinic_id": pl.String,
    "clinic_name": pl.String,
    "cohort": pl.Int64,
    "baseline_share": pl.Float64,
    "mature": pl.Int64,
    "endpoint_share": pl.Float64,
    "sessions": pl.Int64,
    "scored_session_share": pl.Float64,
    "suppressed": pl.Boolean,
}
