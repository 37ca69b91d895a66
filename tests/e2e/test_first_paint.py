"""The benchmark's browser timings (``bench/first_paint.py``) measure what they claim, on the demo."""

from __future__ import annotations

from bench.first_paint import PERIOD_CYCLE, measure_first_paint


def test_first_paint_times_a_new_tab_and_each_filter_change(demo) -> None:
    overview, data = measure_first_paint(demo.db, rounds=2, filter_rounds=2, pages=("overview", "data"))
    assert (overview.page, data.page) == ("overview", "data")
    for fig in (overview, data):
        assert len(fig.new_tab_usable) == len(fig.new_tab_complete) == 2
        assert len(fig.first_visit_usable) == 1
        # seconds from the navigation's start: more than nothing, less than the waits' limits
        assert all(0 < t < 120 for t in [*fig.new_tab_usable, *fig.new_tab_complete, *fig.first_visit_usable])
    # each period of the cycle picked once not yet seen, then once more (cached)
    assert len(overview.filter_first_usable) == len(overview.filter_usable) == len(PERIOD_CYCLE)
    assert len(overview.filter_complete) == 2 * len(PERIOD_CYCLE)
    assert all(0 < t < 120 for t in [*overview.filter_usable, *overview.filter_complete])
    assert data.filter_usable == [] and data.filter_first_usable == []  # the Data page has no filters
