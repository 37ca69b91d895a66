"""The SPC chart window (metrics.md "Over time: Baseline"), on dates counted on a calendar."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dashboard.metrics.control_charts import SpcOptions, bucket_start, chart_filters, chart_start, mark_period
from dashboard.metrics.filters import Filters

FEB = Filters(date(2026, 2, 1), date(2026, 2, 28), ("C1",), regions=("North",))


def test_bucket_start() -> None:
    assert bucket_start(date(2026, 2, 28), "week") == date(2026, 2, 23)  # a Saturday → its Monday
    assert bucket_start(date(2026, 2, 23), "week") == date(2026, 2, 23)
    assert bucket_start(date(2026, 2, 28), "month") == date(2026, 2, 1)
    with pytest.raises(ValueError):
        bucket_start(date(2026, 2, 28), "day")  # type: ignore[arg-type]


def test_a_short_period_reaches_back_26_weeks_or_18_months() -> None:
    # the week of Sat 28 Feb 2026 starts Mon 23 Feb; 25 weeks earlier is Mon 1 Sep 2025: 26 buckets
    assert chart_start(FEB, "week") == date(2025, 9, 1)
    # February 2026 and the 17 months before it: from 1 Sep 2024
    assert chart_start(FEB, "month") == date(2024, 9, 1)
    wide = chart_filters(FEB, "week")
    assert (wide.start, wide.end, wide.clinic_ids, wide.regions) == (
        date(2025, 9, 1),
        FEB.end,
        ("C1",),
        ("North",),
    )


def test_a_long_period_keeps_its_start_on_a_whole_bucket() -> None:
    year = Filters(date(2025, 1, 15), date(2026, 2, 28), ("C1",))  # Wed 15 Jan 2025
    assert chart_start(year, "week") == date(2025, 1, 13)
    assert chart_start(year, "month") == date(2024, 9, 1)  # 18 months still reach further back


def test_a_picked_baseline_before_the_window_widens_it() -> None:
    picked = SpcOptions(baseline=(date(2024, 3, 10), date(2024, 6, 30)))  # Sun 10 Mar 2024
    assert chart_filters(FEB, "week", picked).start == date(2024, 3, 4)
    assert chart_filters(FEB, "month", picked).start == date(2024, 3, 1)
    inside = SpcOptions(baseline=(date(2025, 10, 1), date(2025, 12, 31)))
    assert chart_filters(FEB, "week", inside).start == date(2025, 9, 1)


def test_in_period_marks_buckets_that_overlap_the_period() -> None:
    weeks = pl.DataFrame(
        {"period": [date(2026, 1, 19), date(2026, 1, 26), date(2026, 2, 23), date(2026, 3, 2)]}
    )
    # the week of Mon 26 Jan holds Sun 1 Feb; the week of 2 Mar starts after the period
    assert mark_period(weeks, FEB, "week")["in_period"].to_list() == [False, True, True, False]
