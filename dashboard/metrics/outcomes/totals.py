"""Outcome counts per (condition, instrument, clinic) over every clinic, and their aggregates
over a clinic selection with small cells suppressed (metrics.md "Small-cell suppression").

Patients count for their day-0 clinic only, so counts add up across clinics: a selection's figure
is the sum of its clinics'. Each count's suppression block is built from every clinic's count
under the viewer's other filters (``suppression.suppressed_block``), so whichever clinics a viewer
picks, no two shown figures differ by a hidden clinic's count.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from typing import Any

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters
from dashboard.metrics.outcomes.cohort import cohort_outcomes, cohort_where, every_clinic, settled_parameters
from dashboard.metrics.outcomes.suppression import shown, suppressed_block
from pipelines import compat
from pipelines.contract import CLINICS
from pipelines.marts import OUTCOME_IDEATION, OUTCOME_PATIENTS
from pipelines.model.config import MetricConfig
from pipelines.model.outcome_rules import MATURE_DAYS
from pipelines.model.patient_outcomes import settled_sql

# Counts of patients per (condition, instrument, clinic), each suppressed on its own
COUNTS = (
    "patients", "evaluable", "responders", "remitters", "rapid_evaluable", "rapid_responders",
    "durable_evaluable", "durable_responders", "worsened", "maturing", "below_caseness", "km_eligible",
    "with_baseline", "mature", "with_endpoint",
)  # fmt: skip
IDEATION_COUNTS = ("ideation_eligible", "ideation_improved")

# SQL so it runs inside DuckDB on the per-patient tables (a year's cohort is 900k rows:
# aggregating there beats shipping them to Polars); the inline path runs it on its frames.
_TOTALS = """
    SELECT condition, instrument, clinic_id, any_value(clinic_name) AS clinic_name,
           bool_or(is_primary) AS is_primary, bool_or(has_scores) AS scored,
           count(*) AS patients,  -- one row per cohort patient and pair
           count(*) FILTER (WHERE evaluable) AS evaluable,
           count(*) FILTER (WHERE responder) AS responders,
           count(*) FILTER (WHERE remitter) AS remitters,
           count(change) AS changes, coalesce(sum(change), 0) AS sum_change,
           coalesce(sum(change * change), 0) AS sum_sq_change,
           count(*) FILTER (WHERE rapid_evaluable) AS rapid_evaluable,
           count(*) FILTER (WHERE rapid_responder) AS rapid_responders,
           count(*) FILTER (WHERE durable_evaluable) AS durable_evaluable,
           count(*) FILTER (WHERE durable_responder) AS durable_responders,
           count(*) FILTER (WHERE worsened) AS worsened,
           count(*) FILTER (WHERE maturing) AS maturing,
           count(*) FILTER (WHERE below_caseness) AS below_caseness,
           count(*) FILTER (WHERE km_eligible) AS km_eligible,
           count(baseline) AS with_baseline,
           count(*) FILTER (WHERE mature) AS mature,
           count(*) FILTER (WHERE mature AND endpoint IS NOT NULL) AS with_endpoint
    FROM {source} GROUP BY condition, instrument, clinic_id"""
_IDEATION_TOTALS = """
    SELECT condition, clinic_id, bool_or(baseline IS NOT NULL) AS has_baseline,
           count(*) FILTER (WHERE improved AND {mature}) AS ideation_improved,
           count(*) FILTER (WHERE eligible AND {mature}) AS ideation_eligible
    FROM {source} GROUP BY condition, clinic_id"""
_MATURE = "coalesce(CAST(day0 AS DATE) <= CAST(? AS DATE) - INTERVAL " + str(MATURE_DAYS) + " DAY, false)"
_LAST_DATE = "(SELECT CAST(max(scheduled_at) AS DATE) FROM sessions)"


def clinic_totals(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``_TOTALS`` rows, ``_IDEATION_TOTALS`` rows) of ``f``'s cohort over every clinic."""
    everywhere = every_clinic(con, f)
    ideation_sql = _IDEATION_TOTALS.replace("{mature}", _MATURE.replace("?", _LAST_DATE))
    if compat.outcome_tables_present(con):
        where, params = cohort_where(everywhere, "o", "o.condition")

        def rows(table: str, extra: str = "") -> str:
            return f"(SELECT o.*{extra} FROM {table} o JOIN {CLINICS.name} c USING (clinic_id) WHERE {where})"

        source = settled_sql(rows(OUTCOME_PATIENTS, ", c.clinic_name"))
        totals = con.sql(
            _TOTALS.format(source=f"({source})"),
            params=[*settled_parameters(con, cfg), *params],  # settled_sql's own come first in the text
        ).pl()
        ideation = con.sql(ideation_sql.format(source=rows(OUTCOME_IDEATION)), params=params).pl()
        return totals, ideation
    _, patients, ideation_rows = cohort_outcomes(con, everywhere, cfg)
    names = [f"outcome_{k}_{uuid.uuid4().hex}" for k in ("patients", "ideation")]
    con.register(names[0], patients)
    con.register(names[1], ideation_rows)
    try:
        return (
            con.sql(_TOTALS.format(source=names[0])).pl(),
            con.sql(ideation_sql.format(source=names[1])).pl(),
        )
    finally:
        for name in names:
            con.unregister(name)


def aggregate(
    rows: Iterable[dict[str, Any]],
    selection: frozenset[str],
    cfg: MetricConfig,
    counts: tuple[str, ...] = COUNTS,
) -> dict[str, int | None]:
    """Each count summed over the clinics of ``selection``, or None where suppression hides it.

    ``rows``: one per clinic (every clinic with cohort patients, not only the selected ones):
    the blocks are built from all of them."""
    rows = list(rows)
    out: dict[str, int | None] = {}
    for name in counts:
        per_clinic = {r["clinic_id"]: int(r[name] or 0) for r in rows}
        block = suppressed_block(per_clinic, cfg)
        visible = shown(selection, per_clinic, block, cfg)
        out[name] = sum(per_clinic.get(c, 0) for c in selection) if visible else None
    return out


def mean_change(rows: Iterable[dict[str, Any]], selection: frozenset[str]) -> tuple[int, float, float]:
    """(n, mean, sample sd) of the change over the selection's clinics, from their sums."""
    chosen = [r for r in rows if r["clinic_id"] in selection]
    n = sum(int(r["changes"]) for r in chosen)
    total = sum(float(r["sum_change"]) for r in chosen)
    squares = sum(float(r["sum_sq_change"]) for r in chosen)
    if n == 0:
        return 0, math.nan, math.nan
    mean = total / n
    sd = math.sqrt(max(squares - n * mean * mean, 0.0) / (n - 1)) if n > 1 else math.nan
    return n, mean, sd
