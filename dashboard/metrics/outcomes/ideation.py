"""Suicidal ideation as a safety signal (metrics.md "Outcomes"): patients whose C-SSRS ideation
rose to ``IDEATION_SIGNAL`` or more after day 0, listed for the quality team.

A line list like the AE line list, not an outcome rate: every patient is listed (pseudonymous
keys, as the Safety page shows them), in the period of the rise (the first such score), at the
patient's day-0 clinic. Depression and bipolar depression patients, as the ideation measure.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters, combine, period_where
from dashboard.metrics.outcomes.cohort import cohort_where
from pipelines import compat
from pipelines.contract import CLINICS
from pipelines.marts import OUTCOME_IDEATION
from pipelines.model.patient_outcomes import cohort_columns, ideation_outcomes, keyed_cohort, scores_for

SIGNAL_COLUMNS = {
    "clinic_id": pl.String,
    "clinic_name": pl.String,
    "patient_key": pl.String,
    "condition": pl.String,
    "day0": pl.Datetime("us"),
    "baseline": pl.Float64,
    "rose_to": pl.Float64,
    "rose_at": pl.Datetime("us"),
    "peak_after": pl.Float64,
}


def ideation_signals(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Patients of the selection whose ideation first rose to the signal level in the period,
    newest rise first: clinic, patient key, condition, day 0, baseline, the score it rose to and
    when, and the highest score after day 0."""
    since_ever = replace(f, start=date(1900, 1, 1))  # any day 0 up to the period's end
    if compat.outcome_tables_present(con):
        where, params = combine(cohort_where(since_ever, "o", "o.condition"), period_where(f, "o.rose_at"))
        rows = con.sql(
            f"""SELECT o.clinic_id, c.clinic_name, p.patient_key, o.condition, o.day0, o.baseline,
                       o.rose_to, o.rose_at, o.peak_after
                FROM {OUTCOME_IDEATION} o JOIN {CLINICS.name} c ON c.clinic_id = o.clinic_id
                JOIN patients p ON p.patient_no = o.patient_no
                WHERE {where}""",
            params=params,
        ).pl()
    else:
        keyed = keyed_cohort(con, *cohort_where(since_ever), first_sessions=compat.first_sessions_source(con))
        found = ideation_outcomes(cohort_columns(keyed), scores_for(con, keyed))
        rows = (
            found.filter(pl.col("rose_at").is_not_null())
            .join(keyed.select("pid", "patient_key", "clinic_name", "day0"), on="pid")
            .filter(pl.col("rose_at").dt.date().is_between(f.start, f.end))
        )
    return rows.select([pl.col(c).cast(t) for c, t in SIGNAL_COLUMNS.items()]).sort(
        "rose_at", "patient_key", descending=[True, False]
    )
