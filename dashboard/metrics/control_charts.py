"""What every SPC chart of the dashboard shares: its window, baseline and limits (metrics.md "Over time").

A chart covers at least ``CHART_SPAN`` periods (26 weeks or 18 months) ending at the
period's end, reaching back before the period's start when the period is shorter (and
back to a picked baseline's start), so a change inside the period is not inside its
own baseline. Buckets are whole ISO weeks
(Monday) or calendar months: the window starts on the first day of its first bucket;
only the last bucket may be cut short by the period's end. ``in_period`` marks the
buckets that overlap the period (the pages shade them).

``SpcOptions`` is the viewer's choice of limits: Laney's u′/p′ (on by default) or the
plain chart, and the baseline (the chart's first ``spc_baseline_periods`` points, or a
picked date range: every bucket starting in it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

import polars as pl

from dashboard.metrics.filters import Filters

Grain = Literal["week", "month"]
CHART_SPAN: dict[str, int] = {"week": 26, "month": 18}


@dataclass(frozen=True)
class SpcOptions:
    """Laney's correction on or off, and a picked baseline (first and last day), or None for the default."""

    laney: bool = True
    baseline: tuple[date, date] | None = None


def bucket_start(day: date, grain: Grain) -> date:
    """First day of the ISO week (Monday) or calendar month holding ``day``."""
    if grain == "week":
        return date.fromordinal(day.toordinal() - day.weekday())
    if grain == "month":
        return day.replace(day=1)
    raise ValueError(f"grain must be 'week' or 'month', not {grain!r}")


def _months_before(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def chart_start(f: Filters, grain: Grain) -> date:
    """First day of the chart: ``CHART_SPAN`` buckets back from the period's end, or the period's
    first bucket when that is earlier."""
    last = bucket_start(f.end, grain)
    span = CHART_SPAN[grain] - 1
    back = date.fromordinal(last.toordinal() - 7 * span) if grain == "week" else _months_before(last, span)
    return min(back, bucket_start(f.start, grain))


def chart_filters(f: Filters, grain: Grain, options: SpcOptions | None = None) -> Filters:
    """``f`` with its start moved back to ``chart_start``, or further to a picked baseline's first
    bucket: what a chart's points are counted over."""
    start = chart_start(f, grain)
    if options is not None and options.baseline is not None:
        start = min(start, bucket_start(options.baseline[0], grain))
    return replace(f, start=start)


def mark_period(chart: pl.DataFrame, f: Filters, grain: Grain) -> pl.DataFrame:
    """Add ``in_period``: the bucket overlaps the period [f.start, f.end]."""
    return chart.with_columns(
        in_period=(pl.col("period") >= bucket_start(f.start, grain)) & (pl.col("period") <= f.end)
    )
