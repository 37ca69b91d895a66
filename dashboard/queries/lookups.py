"""Configuration and dimension lists the header and filters need (not metrics)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from dashboard.access.current import current_viewer
from dashboard.db import connect
from dashboard.queries.cache import CACHE_TTL, version_key
from pipelines.model.config import MetricConfig, load_config


@st.cache_resource(show_spinner=False, max_entries=1)
def metric_config() -> MetricConfig:
    return load_config()


@st.cache_data(show_spinner=False, max_entries=256, ttl=CACHE_TTL)
def _cached_sql(version: str, path: str, sql: str, params: tuple[Any, ...]) -> pl.DataFrame:
    with connect(Path(path)) as con:
        return con.sql(sql, params=list(params)).pl()


def _sql(sql: str, *params: Any) -> pl.DataFrame:
    version, path = version_key()
    return _cached_sql(version=version, path=path, sql=sql, params=params)


def clinics() -> pl.DataFrame:
    """The viewer's clinics (clinic_id, clinic_name, region, chairs, opened_on, closed_on), for pickers."""
    every = _sql(
        "SELECT clinic_id, clinic_name, region, chairs, opened_on, closed_on "
        "FROM clinics ORDER BY clinic_name"
    )
    viewer = current_viewer()
    return every if viewer.is_network else every.filter(pl.col("clinic_id").is_in(viewer.clinic_ids))


def clinic_regions() -> dict[str, str | None]:
    """Every clinic's region (clinic id → region): what scopes are resolved against, never shown."""
    return dict(_sql("SELECT clinic_id, region FROM clinics ORDER BY clinic_id").iter_rows())


def first_session_date() -> date | None:
    """The oldest session date (lower bound of the custom date picker); None without sessions."""
    return _sql("SELECT CAST(min(scheduled_at) AS DATE) AS first FROM sessions").item()
