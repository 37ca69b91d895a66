"""Cached queries over ``dashboard/metrics/monitoring.py`` (Monitoring page)."""

from __future__ import annotations

from dashboard.metrics import monitoring
from dashboard.queries.cache import cached_query

monitoring_kpis = cached_query(monitoring.kpis)  # the period and the one before, every measure
monitoring_by = cached_query(monitoring.by)
monitoring_funnel = cached_query(monitoring.funnel)
monitoring_p_chart = cached_query(monitoring.p_chart)
monitoring_review_list = cached_query(monitoring.review_list)
vitals_timeline = cached_query(monitoring.vitals_timeline)
sedation_by_dose = cached_query(monitoring.sedation_by_dose)
medications_at_day0 = cached_query(monitoring.medications_at_day0)
outcomes_by_medication = cached_query(monitoring.outcomes_by_medication)
safety_by_medication = cached_query(monitoring.safety_by_medication)
