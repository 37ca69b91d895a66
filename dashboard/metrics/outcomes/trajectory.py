"""Score trajectory: median and IQR of the score by administered session number."""

from __future__ import annotations

import uuid

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters, combine, period_where
from dashboard.metrics.outcomes.cohort import cohort_where, load_outcome_data
from pipelines import compat
from pipelines.contract import CLINICS
from pipelines.marts import FIRST_SESSIONS, OUTCOME_SESSION_SCORES
from pipelines.model.config import MetricConfig
from pipelines.model.patient_outcomes import session_scores_from


def trajectory(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> pl.DataFrame:
    """Median and IQR of the score by administered session number (0 = before treatment)."""
    return trajectory_quartiles(cohort_trajectory(con, f, condition, instrument), cfg)


def trajectory_quartiles(quartiles: pl.DataFrame, cfg: MetricConfig) -> pl.DataFrame:
    """``cohort_trajectory`` with every cell under k patients suppressed."""
    hide = pl.lit(cfg.suppression_k > 0) & (pl.col("n") < cfg.suppression_k)
    return quartiles.with_columns(
        suppressed=hide,
        **{c: pl.when(hide).then(None).otherwise(pl.col(c)) for c in ("n", "median", "q1", "q3")},
    )


def cohort_trajectory(
    con: duckdb.DuckDBPyConnection, f: Filters, condition: str, instrument: str
) -> pl.DataFrame:
    """``_TRAJECTORY`` (unsuppressed) of the cohort's ``session_scores_from`` for one pair."""
    if compat.outcome_tables_present(con):
        # the patients' day-0 attributes from their first session (the score rows carry only the
        # number and day 0); both tables are in day-0 order, so the period prunes both
        where, params = combine(cohort_where(f, "fs", "fs.primary_condition"), period_where(f, "o.day0"))
        source = f"""(SELECT o.session_number, o.score FROM {OUTCOME_SESSION_SCORES} o
                      JOIN {FIRST_SESSIONS} fs ON fs.patient_no = o.patient_no
                      JOIN {CLINICS.name} c ON c.clinic_id = fs.clinic_id
                      WHERE ({where}) AND fs.primary_condition = ? AND o.instrument = ?)"""
        return con.sql(_TRAJECTORY.format(source=source), params=[*params, condition, instrument]).pl()
    cohort, scores = load_outcome_data(con, f)
    patients = cohort.filter(pl.col("condition") == condition)["pid"]
    # a filter, not a join: the scores must stay in SCORE_ORDER for session_scores_from
    pair = pl.col("pid").is_in(patients.implode()) & (pl.col("instrument") == instrument)
    view = f"outcome_session_scores_{uuid.uuid4().hex}"
    con.register(view, session_scores_from(scores.filter(pair)))
    try:
        return con.sql(_TRAJECTORY.format(source=view)).pl()
    finally:
        con.unregister(view)


# Median and IQR by session number: linear-interpolated quartiles (quantile_cont). In DuckDB,
# where the per-patient table is: a year's depression cohort has 660k session scores.
_TRAJECTORY = """
    SELECT CAST(session_number AS BIGINT) AS session_number, count(*) AS n,
           quantile_cont(score, 0.5) AS median, quantile_cont(score, 0.25) AS q1,
           quantile_cont(score, 0.75) AS q3
    FROM {source} GROUP BY session_number ORDER BY session_number"""
