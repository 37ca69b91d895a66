"""Cached queries over ``dashboard/metrics/throughput.py`` (Overview, Throughput and Clinic pages).

Each ``*_with_clinic`` query returns the figure of ``f`` ("scope") and of ``f``'s period and
dimensions for one clinic alone ("clinic", ``throughput.clinic_alone``) from one query: the
Clinic page's pairs. ``active_patients=False`` skips the distinct-patient count for pages that
do not show it.

The Clinic page compares a clinic with the whole network, so the ``*_with_clinic`` queries and
``throughput_by_clinic`` are network benchmarks: a viewer of part of the network receives the
network's aggregate ("scope") and the other clinics' rows as anonymous points, their patient
counts of 1 to k−1 suppressed (``dashboard/access/benchmarks.py``).
"""

from __future__ import annotations

from dashboard.access.benchmarks import PATIENT_COUNTS
from dashboard.metrics import throughput
from dashboard.queries.cache import cached_query

data_last_date = cached_query(throughput.data_last_date)  # periods are anchored on it
throughput_summary = cached_query(throughput.throughput_summary)
scheduled_session_count = cached_query(throughput.scheduled_session_count)
throughput_summary_with_clinic = cached_query(throughput.throughput_summary_with_clinic, benchmark=True)
throughput_by_clinic = cached_query(throughput.throughput_by_clinic, benchmark=PATIENT_COUNTS)
sessions_over_time = cached_query(throughput.sessions_over_time)
sessions_over_time_with_clinic = cached_query(throughput.sessions_over_time_with_clinic, benchmark=True)
weekday_hour_load = cached_query(throughput.weekday_hour_load)
weekday_hour_load_with_clinic = cached_query(throughput.weekday_hour_load_with_clinic, benchmark=True)
no_show_pchart = cached_query(throughput.no_show_pchart)
no_show_pchart_with_clinic = cached_query(throughput.no_show_pchart_with_clinic, benchmark=True)
no_show_pcharts_by_clinic = cached_query(throughput.no_show_pcharts_by_clinic)
new_starts_over_time = cached_query(throughput.new_starts_over_time)
new_starts_over_time_with_clinic = cached_query(throughput.new_starts_over_time_with_clinic, benchmark=True)
induction = cached_query(throughput.induction)
induction_with_clinic = cached_query(throughput.induction_with_clinic, benchmark=True)
maintenance = cached_query(throughput.maintenance)
maintenance_with_clinic = cached_query(throughput.maintenance_with_clinic, benchmark=True)
route_modality_mix = cached_query(throughput.route_modality_mix)
route_modality_mix_with_clinic = cached_query(throughput.route_modality_mix_with_clinic, benchmark=True)
