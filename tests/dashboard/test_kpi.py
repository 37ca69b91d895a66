"""KPI tile deltas: absolute and relative change, and what they are against."""

from __future__ import annotations

from dashboard.components import kpi


def test_delta_carries_absolute_relative_and_the_comparison() -> None:
    tile = kpi.Tile("Sessions", 1_250, 1_000, kpi.count, kpi.signed_count)
    assert kpi.delta_text(tile) == "+250 (+25.0%)"


def test_rates_change_in_points_and_per_cent() -> None:
    tile = kpi.Tile("No-show", 0.09, 0.12, kpi.pct, kpi.signed_points, "down")
    assert kpi.delta_text(tile) == "-3.0 pts (-25.0%)"


def test_no_base_no_relative_change_and_no_change_is_grey() -> None:
    assert kpi.delta_text(kpi.Tile("AEs", 4, 0, kpi.count, kpi.signed_count)) == "+4"
    assert kpi.delta_text(kpi.Tile("AEs", 4, 4, kpi.count, kpi.signed_count)) == 0
    assert kpi.delta_text(kpi.Tile("AEs", 4, None, kpi.count, kpi.signed_count)) is None
