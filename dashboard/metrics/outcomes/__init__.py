"""Outcomes per condition (metrics.md "Outcomes" and "Small-cell suppression").

The public API the query layer and ``ketaops metrics`` call. Each function takes
``(con, filters, config, ...)``. The rule table and each patient's outcomes are the shared
model's (``pipelines.model.outcome_rules``, ``pipelines.model.patient_outcomes``); this
package aggregates the viewer's cohort: network measures (``measures``), clinics
(``comparison``), time to response and the score trajectory, every small cell suppressed
(``suppression``).
"""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.metrics.filters import Filters
from dashboard.metrics.outcomes.cohort import cohort_outcomes, scope_clinics
from dashboard.metrics.outcomes.comparison import clinic_comparison, comparison_from, outcomes_report
from dashboard.metrics.outcomes.completeness import mbc_completeness
from dashboard.metrics.outcomes.ideation import ideation_signals
from dashboard.metrics.outcomes.measures import outcome_measures, outcome_summary
from dashboard.metrics.outcomes.time_to_response import km_hidden, time_to_response, time_to_response_from
from dashboard.metrics.outcomes.totals import clinic_totals
from dashboard.metrics.outcomes.trajectory import cohort_trajectory, trajectory, trajectory_quartiles
from pipelines.model.config import MetricConfig

__all__ = [
    "clinic_comparison",
    "ideation_signals",
    "mbc_completeness",
    "outcome_detail",
    "outcome_measures",
    "outcome_summary",
    "outcomes_report",
    "time_to_response",
    "trajectory",
]


def outcome_detail(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> dict[str, Any]:
    """Everything the page draws for one (condition, instrument) from a single load:
    ``time_to_response`` (dict), ``trajectory`` (frame), ``clinics`` (frame) and ``network`` (dict)."""
    patients = cohort_outcomes(con, f, cfg, (condition, instrument))[1]
    totals, _ = clinic_totals(con, f, cfg)
    scope = scope_clinics(con, f)
    clinics, network = comparison_from(totals, scope, cfg, condition, instrument)
    hidden = km_hidden(totals, scope, cfg, condition, instrument)
    return {
        "time_to_response": time_to_response_from(patients, cfg, condition, instrument, hidden),
        "trajectory": trajectory_quartiles(cohort_trajectory(con, f, condition, instrument), cfg),
        "clinics": clinics,
        "network": network,
    }
