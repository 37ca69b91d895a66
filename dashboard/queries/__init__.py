"""The dashboard's only door to the database: cached, typed, read-only, parameterised.

Pages never run SQL or compute a metric; they call these functions. Each query is the single
implementation in ``dashboard/metrics/`` turned into a cached function without the connection
argument (``cache.cached_query``), defined in one module per area: ``throughput``, ``safety``,
``outcomes``, ``operations``; ``lookups`` holds the configuration and the clinic list.
``prefetch`` starts a page's reads at once.
"""

from __future__ import annotations

from dashboard.queries.cache import NoDatabase, database_exists
from dashboard.queries.lookups import clinics, first_session_date, metric_config
from dashboard.queries.operations import (
    clinic_freshness,
    data_as_of,
    refresh_history,
    rejected_rows,
    rejected_summary,
)
from dashboard.queries.outcomes import (
    clinic_comparison,
    ideation_signals,
    mbc_completeness,
    outcome_detail,
    outcome_measures,
    outcome_summary,
    outcomes_report,
    time_to_response,
    trajectory,
)
from dashboard.queries.prefetch import PREFETCH_THREAD_NAME, PREFETCH_THREADS, prefetch
from dashboard.queries.safety import (
    ae_funnel,
    ae_rate,
    ae_rate_by,
    ae_u_chart,
    excursions_without_ae,
    kpis,
    line_list,
    patient_history,
    protocol_deviations,
    serious_events,
)
from dashboard.queries.throughput import (
    data_last_date,
    induction,
    induction_with_clinic,
    maintenance,
    maintenance_with_clinic,
    new_starts_over_time,
    new_starts_over_time_with_clinic,
    no_show_pchart,
    no_show_pchart_with_clinic,
    no_show_pcharts_by_clinic,
    route_modality_mix,
    route_modality_mix_with_clinic,
    sessions_over_time,
    sessions_over_time_with_clinic,
    throughput_by_clinic,
    throughput_summary,
    throughput_summary_with_clinic,
    weekday_hour_load,
    weekday_hour_load_with_clinic,
)

__all__ = [
    "PREFETCH_THREADS",
    "PREFETCH_THREAD_NAME",
    "NoDatabase",
    "ae_funnel",
    "ae_rate",
    "ae_rate_by",
    "ae_u_chart",
    "clinic_comparison",
    "clinic_freshness",
    "clinics",
    "data_as_of",
    "data_last_date",
    "database_exists",
    "excursions_without_ae",
    "first_session_date",
    "ideation_signals",
    "induction",
    "induction_with_clinic",
    "kpis",
    "line_list",
    "maintenance",
    "maintenance_with_clinic",
    "mbc_completeness",
    "metric_config",
    "new_starts_over_time",
    "new_starts_over_time_with_clinic",
    "no_show_pchart",
    "no_show_pchart_with_clinic",
    "no_show_pcharts_by_clinic",
    "outcome_detail",
    "outcome_measures",
    "outcome_summary",
    "outcomes_report",
    "patient_history",
    "prefetch",
    "protocol_deviations",
    "refresh_history",
    "rejected_rows",
    "rejected_summary",
    "route_modality_mix",
    "route_modality_mix_with_clinic",
    "serious_events",
    "sessions_over_time",
    "sessions_over_time_with_clinic",
    "throughput_by_clinic",
    "throughput_summary",
    "throughput_summary_with_clinic",
    "time_to_response",
    "trajectory",
    "weekday_hour_load",
    "weekday_hour_load_with_clinic",
]
