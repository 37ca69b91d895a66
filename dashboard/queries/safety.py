"""Cached queries over ``dashboard/metrics/safety.py`` (Safety page; AE rate and funnel elsewhere too).

The line list has a store of its own: on a 10M-session network it can hold ~1M rows, and a few
filter combinations is all a reviewer flips between.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard.metrics import safety
from dashboard.queries.cache import CACHE_TTL, CachedQuery, cached_query

# Network benchmarks (the network rate, the funnel's target and points): session counts, in full.
ae_rate = cached_query(safety.ae_rate, benchmark=True)
ae_rate_by = cached_query(safety.ae_rate_by)
ae_funnel = cached_query(safety.funnel, benchmark=True)
ae_u_chart = cached_query(safety.u_chart)
# The network's AE rate per point of a clinic's u-chart: an aggregate of every clinic, for a viewer of
# one clinic too (no clinic rows in it), so it is a benchmark over the filters as given.
ae_rate_per_period = cached_query(safety.ae_rate_per_period, benchmark=True)
kpis = cached_query(safety.kpis)  # rate, previous_rate, patients, excursion, protocol in one call
excursions_without_ae = cached_query(safety.excursions_without_ae)
protocol_deviations = cached_query(safety.protocol_deviations)
serious_events = cached_query(safety.serious_events)
patient_history = cached_query(safety.patient_history)


# cache_resource, not cache_data: the frame is shared read-only instead of unpickled on every rerun
# (a ~1M-row list would cost a copy per click). Nothing mutates it: Polars frames are immutable here.
@st.cache_resource(show_spinner="Loading the line list…", max_entries=4, ttl=CACHE_TTL)
def _line_list_store(
    version: str,
    path: str,
    key: str,
    _query: CachedQuery[..., pl.DataFrame],
    _args: tuple[Any, ...],
    _kwargs: dict[str, Any],
    _scope: frozenset[str] | None,
) -> pl.DataFrame:
    return _query.compute(path, _args, _kwargs, _scope)


# every AE the filters select within the viewer's scope (the page shows the newest, downloads all)
line_list = cached_query(safety.line_list, store=_line_list_store)
