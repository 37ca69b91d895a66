"""Cached wrappers over ``dashboard/metrics/safety.py`` for the Safety page.

Same pattern as ``dashboard/queries.py`` (whose ``ae_rate``, ``ae_funnel`` and
``ae_u_chart`` the page reuses): results are cached on the published file's
version, so a refresh is picked up on the next rerun. The line list gets its
own small cache: on a 10M-session network it can hold ~1M rows, and a few
filter combinations is all a reviewer flips between.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.db import connect
from dashboard.metrics import safety
from dashboard.metrics.config import MetricConfig
from dashboard.metrics.filters import Filters
from dashboard.metrics.safety import AeFilters


def ae_rate_by(f: Filters, dimension: str) -> pl.DataFrame:
    return queries.cached_metric("safety", "ae_rate_by", f, dimension)


def kpis(f: Filters, cfg: MetricConfig) -> dict[str, dict[str, Any]]:
    """The page's headline figures (rate, previous_rate, patients, excursion, protocol) in one call."""
    return queries.cached_metric("safety", "kpis", f, cfg)


def excursions_without_ae(f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    return queries.cached_metric("safety", "excursions_without_ae", f, cfg)


def protocol_deviations(f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    return queries.cached_metric("safety", "protocol_deviations", f, cfg)


def serious_events(f: Filters) -> pl.DataFrame:
    return queries.cached_metric("safety", "serious_events", f)


def patient_history(f: Filters, patient_key: str) -> dict[str, pl.DataFrame]:
    return queries.cached_metric("safety", "patient_history", f, patient_key)


# cache_resource, not cache_data: the frame is shared read-only instead of unpickled on every rerun
# (a ~1M-row list would cost a copy per click). Nothing mutates it: Polars frames are immutable here.
@st.cache_resource(show_spinner="Loading the line list…", max_entries=4, ttl=queries.CACHE_TTL)
def _cached_line_list(version: str, path: str, key: str, _f: Filters, _ae: AeFilters) -> pl.DataFrame:
    with connect(Path(path)) as con:
        return safety.line_list(con, _f, _ae)


def line_list(f: Filters, ae: AeFilters) -> pl.DataFrame:
    """Every AE the filters select (all rows: the page shows the newest, downloads hold them all)."""
    version, path = queries._key()
    return _cached_line_list(version=version, path=path, key=queries.call_key(f, ae), _f=f, _ae=ae)
