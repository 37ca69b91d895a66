"""Cached wrappers for the Outcomes page (``dashboard/metrics/outcomes.py``).

Kept beside ``dashboard/queries.py`` and built on its ``cached_metric`` (keyed
on the published database's version), so the page never runs SQL itself.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from dashboard.metrics.filters import Filters
from dashboard.queries import cached_metric
from pipelines.model.config import MetricConfig


def outcome_measures(f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    return cached_metric("outcomes", "outcome_measures", f, cfg)


def outcome_detail(f: Filters, cfg: MetricConfig, condition: str, instrument: str) -> dict[str, Any]:
    """KM, trajectory and clinic comparison of one (condition, instrument) from one database read."""
    return cached_metric("outcomes", "outcome_detail", f, cfg, condition, instrument)


def clinic_comparison(
    f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> tuple[pl.DataFrame, dict[str, Any]]:
    return cached_metric("outcomes", "clinic_comparison", f, cfg, condition, instrument)


def time_to_response(f: Filters, cfg: MetricConfig, condition: str, instrument: str) -> dict[str, Any]:
    return cached_metric("outcomes", "time_to_response", f, cfg, condition, instrument)


def trajectory(f: Filters, cfg: MetricConfig, condition: str, instrument: str) -> pl.DataFrame:
    return cached_metric("outcomes", "trajectory", f, cfg, condition, instrument)


def outcomes_report(f: Filters, cfg: MetricConfig) -> list[dict[str, Any]]:
    return cached_metric("outcomes", "outcomes_report", f, cfg)
