"""Period presets and comparison periods: dates worked out by hand from a calendar."""

from __future__ import annotations

from datetime import date

import pytest

from dashboard.components.filters import PERIODS, comparison_label, parse_range, period_bounds
from dashboard.metrics.filters import Filters

LAST = date(2025, 5, 14)  # a Wednesday in the second quarter


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("30d", date(2025, 4, 15), LAST),
        ("90d", date(2025, 2, 14), LAST),
        ("this_month", date(2025, 5, 1), LAST),
        ("last_month", date(2025, 4, 1), date(2025, 4, 30)),
        ("this_quarter", date(2025, 4, 1), LAST),
        ("last_quarter", date(2025, 1, 1), date(2025, 3, 31)),
        ("6m", date(2024, 11, 15), LAST),
        ("ytd", date(2025, 1, 1), LAST),
        ("12m", date(2024, 5, 15), LAST),
    ],
)
def test_presets_are_anchored_on_the_data_last_date(period: str, start: date, end: date) -> None:
    assert period_bounds(period, LAST) == (start, end)


def test_every_preset_has_a_label_and_bounds() -> None:
    for period in PERIODS:
        start, end = period_bounds(period, LAST, (date(2025, 3, 1), date(2025, 3, 9)))
        assert start <= end <= LAST


def test_calendar_presets_across_a_year_start_and_month_ends() -> None:
    assert period_bounds("last_month", date(2025, 1, 20)) == (date(2024, 12, 1), date(2024, 12, 31))
    assert period_bounds("last_quarter", date(2025, 2, 3)) == (date(2024, 10, 1), date(2024, 12, 31))
    assert period_bounds("this_quarter", date(2025, 12, 31)) == (date(2025, 10, 1), date(2025, 12, 31))
    # six months before 31 August is 28 February (no 31 February), so the period starts on 1 March
    assert period_bounds("6m", date(2025, 8, 31)) == (date(2025, 3, 1), date(2025, 8, 31))
    assert period_bounds("12m", date(2024, 2, 29)) == (date(2023, 3, 1), date(2024, 2, 29))


def test_custom_range_is_ordered_and_a_half_picked_range_is_one_day() -> None:
    assert period_bounds("custom", LAST, (date(2025, 3, 9), date(2025, 3, 1))) == (
        date(2025, 3, 1),
        date(2025, 3, 9),
    )
    assert period_bounds("custom", LAST, (date(2025, 3, 9),)) == (date(2025, 3, 9), date(2025, 3, 9))


def test_comparison_periods() -> None:
    f = Filters(start=date(2024, 2, 1), end=date(2024, 2, 29), clinic_ids=("C1",))
    before = f.previous_period()
    assert (before.start, before.end) == (date(2024, 1, 3), date(2024, 1, 31))  # 29 days before
    year = f.same_period_last_year()
    assert (year.start, year.end) == (date(2023, 2, 1), date(2023, 2, 28))
    assert year.clinic_ids == ("C1",)
    assert comparison_label(f, "last_year") == "vs same period last year (01 Feb 2023 – 28 Feb 2023)"
    assert comparison_label(f, "previous") == "vs previous 29 days (03 Jan 2024 – 31 Jan 2024)"


LO, HI = date(2026, 1, 1), date(2026, 12, 7)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-10-01 – 2026-10-31", (date(2026, 10, 1), date(2026, 10, 31))),
        ("2026-10-31 to 2026-10-01", (date(2026, 10, 1), date(2026, 10, 31))),  # either order
        ("2026-10-01-2026-10-31", (date(2026, 10, 1), date(2026, 10, 31))),
        (" 2026-10-01 .. 2026-10-31 ", (date(2026, 10, 1), date(2026, 10, 31))),
        ("2026-10-01 2026-10-31", (date(2026, 10, 1), date(2026, 10, 31))),
        ("2026-10-05", (date(2026, 10, 5), date(2026, 10, 5))),  # one day
        ("2025-06-01 – 2027-01-01", (LO, HI)),  # moved to the data's ends
    ],
)
def test_a_typed_range_is_read_in_any_common_form(typed, expected):
    assert parse_range(typed, LO, HI) == expected


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "YYYY-MM-DD – YYYY-MM-DD"),
        ("Oct 2026", "YYYY-MM-DD – YYYY-MM-DD"),
        ("2026-10-01 – 2026-10-31 – 2026-11-30", "YYYY-MM-DD – YYYY-MM-DD"),
        ("2026-02-30 – 2026-03-05", "2026-02-30 is not a date"),
    ],
)
def test_a_range_that_does_not_parse_says_what_to_type(typed, says):
    with pytest.raises(ValueError, match=says):
        parse_range(typed, LO, HI)
