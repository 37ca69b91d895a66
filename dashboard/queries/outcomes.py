"""Cached queries over ``dashboard/metrics/outcomes/`` (Outcomes page; the summary on Overview and
Clinic; the ideation signal on Safety)."""

from __future__ import annotations

from dashboard.metrics import outcomes
from dashboard.queries.cache import cached_query

outcome_summary = cached_query(outcomes.outcome_summary)
outcome_measures = cached_query(outcomes.outcome_measures)
outcome_detail = cached_query(outcomes.outcome_detail)  # KM, trajectory and comparison, one read
# The Outcomes page's network comparison: the whole network (suppressed by the metric, the
# complementary rule included), other clinics anonymous for a viewer of part of it.
clinic_comparison = cached_query(outcomes.clinic_comparison, benchmark=True)
time_to_response = cached_query(outcomes.time_to_response)
trajectory = cached_query(outcomes.trajectory)
outcomes_report = cached_query(outcomes.outcomes_report)
mbc_completeness = cached_query(outcomes.mbc_completeness)
ideation_signals = cached_query(outcomes.ideation_signals)
