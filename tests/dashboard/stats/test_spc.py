"""SPC charts on hand-made series whose flags were worked out by hand.

Unless stated, every series starts with a flat baseline of 12 periods of 10
events in 100 units, so ū = 120/1200 = 0.1, σ = sqrt(0.1/100) = 0.0316228:
ucl = 0.1948683, lcl = 0.0051317, upper2s = 0.1632456, lower2s = 0.0367544.
In counts out of 100: beyond 3σ means > 19.49 or < 0.51, beyond 2σ > 16.32 or < 3.68.
A flat baseline sits on the centre line, so it forms no shift and no trend.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from dashboard.stats.spc import p_chart, u_chart

BASE = [10] * 12


def chart(tail: list[int], higher_is_better: bool = False, n: int = 100) -> pl.DataFrame:
    counts = BASE + tail
    data = pl.DataFrame({"period": list(range(len(counts))), "count": counts, "n": [n] * len(counts)})
    return u_chart(data, baseline_periods=12, higher_is_better=higher_is_better)


def rules(frame: pl.DataFrame) -> list[str | None]:
    return frame["rule"].to_list()[12:]


def test_limits_from_the_baseline() -> None:
    frame = chart([10])
    row = frame.row(12, named=True)
    assert row["centre"] == pytest.approx(0.1)
    assert row["ucl"] == pytest.approx(0.1948683, abs=1e-7)
    assert row["lcl"] == pytest.approx(0.0051317, abs=1e-7)
    assert row["upper2s"] == pytest.approx(0.1632456, abs=1e-7)
    assert row["lower2s"] == pytest.approx(0.0367544, abs=1e-7)
    assert frame["rule"].is_null().all()
    assert set(frame["category"]) == {"common"}
    assert not frame["trial"].any()


def test_rule_1_beyond_limits_both_sides() -> None:
    frame = chart([20, 10, 0])
    assert rules(frame) == ["beyond_limit", None, "beyond_limit"]
    # fewer AEs is better: high = concern, low = improvement
    assert frame["category"].to_list()[12:] == ["concern", "common", "improvement"]
    assert frame["direction"].to_list()[12:] == ["high", None, "low"]


def test_higher_is_better_flips_the_colours() -> None:
    frame = chart([20, 10, 0], higher_is_better=True)
    assert frame["category"].to_list()[12:] == ["improvement", "common", "concern"]


def test_rule_2_trend_of_seven_rising() -> None:
    # 10 → 7 falls, then 7 < 8 < … < 13: six rises = 7 points, all inside 2σ and crossing the centre.
    assert rules(chart([7, 8, 9, 10, 11, 12, 13])) == ["trend"] * 7


def test_rule_2_trend_of_seven_falling_is_improvement_for_aes() -> None:
    # 10 → 13 rises, then 13 > 12 > … > 7: seven falling points.
    frame = chart([13, 12, 11, 10, 9, 8, 7])
    assert rules(frame) == [*["trend"] * 7]
    assert frame["category"].to_list()[12:] == ["improvement"] * 7


def test_rule_2_six_points_or_a_tie_is_not_a_trend() -> None:
    assert rules(chart([7, 8, 9, 10, 11, 12])) == [None] * 6
    # a repeated value breaks the run: 7 8 9 9 10 11 12 has no 7 strictly rising points
    assert rules(chart([7, 8, 9, 9, 10, 11, 12])) == [None] * 7


def test_rule_3_two_of_three_beyond_2_sigma() -> None:
    # 17 > 16.32 twice within three points; the 12 between them is not itself flagged.
    frame = chart([17, 12, 17, 10, 3, 3])
    assert rules(frame) == ["two_of_three", None, "two_of_three", None, "two_of_three", "two_of_three"]
    assert (
        frame["category"].to_list()[12:] == ["concern", "common", "concern", "common"] + ["improvement"] * 2
    )


def test_rule_3_needs_both_points_within_three() -> None:
    # 17 _ _ 17: no window of three consecutive points holds two of them
    assert rules(chart([17, 12, 12, 17])) == [None] * 4
    # opposite sides do not combine: 17 then 3
    assert rules(chart([17, 3, 10])) == [None] * 3


def test_rule_4_shift_of_seven_on_one_side() -> None:
    # alternating 11/12: above the centre (10), inside 2σ, never a run of rises
    assert rules(chart([11, 12, 11, 12, 11, 12, 11])) == ["shift"] * 7
    assert rules(chart([11, 12, 11, 12, 11, 12])) == [None] * 6
    # a point on the centre line breaks the run
    assert rules(chart([11, 12, 11, 10, 12, 11, 12, 11])) == [None] * 8
    below = chart([9, 8, 9, 8, 9, 8, 9])
    assert rules(below) == ["shift"] * 7
    assert below["category"].to_list()[12:] == ["improvement"] * 7


def test_priority_beyond_limit_over_trend_over_shift() -> None:
    # 10 (last baseline) < 11 < 12 < 13 < 14 < 15 < 16 < 20: eight rising points, the last seven also
    # a shift above; 20 is beyond 3σ. 15 and 16 are inside 2σ (16.32), so rule 3 does not apply.
    frame = chart([11, 12, 13, 14, 15, 16, 20])
    assert frame["rule"][11] == "trend"  # the baseline's last point starts the rising run
    assert rules(frame) == ["trend"] * 6 + ["beyond_limit"]


def test_priority_two_of_three_over_shift() -> None:
    # seven points above the centre (a shift); the last two are beyond 2σ
    frame = chart([11, 11, 11, 11, 11, 17, 17])
    assert rules(frame) == ["shift"] * 5 + ["two_of_three"] * 2


def test_limits_are_held_after_the_baseline() -> None:
    # later periods at triple the rate do not move the centre line
    frame = chart([30] * 10)
    assert frame["centre"].unique().to_list() == [pytest.approx(0.1)]
    assert rules(frame) == ["beyond_limit"] * 10


def test_sigma_per_period_and_lower_limit_floored() -> None:
    counts, n = [10] * 12 + [60, 0], [100] * 12 + [400, 4]
    frame = u_chart(pl.DataFrame({"period": range(14), "count": counts, "n": n}), scale=100)
    big, small = frame.row(12, named=True), frame.row(13, named=True)
    # n = 400: σ = sqrt(0.1/400) = 0.0158114 → ucl = 100 × (0.1 + 0.0474342) = 14.74342 per 100
    assert big["ucl"] == pytest.approx(14.74342, abs=1e-5)
    assert big["value"] == pytest.approx(15.0)  # 60/400 per 100 → beyond the ucl
    assert big["rule"] == "beyond_limit"
    # n = 4: σ = sqrt(0.1/4) = 0.158114, 0.1 − 3σ < 0 → floored at 0
    assert small["lcl"] == 0.0
    assert small["ucl"] == pytest.approx(100 * (0.1 + 3 * math.sqrt(0.1 / 4)), abs=1e-9)


def test_trial_limits_use_every_point_while_short() -> None:
    data = pl.DataFrame({"period": range(5), "count": [2, 4, 6, 8, 10], "n": [100] * 5})
    frame = u_chart(data, baseline_periods=12)
    assert frame["trial"].all()
    assert frame["centre"][0] == pytest.approx(30 / 500)  # ū = Σcount / Σn over all five


def test_periods_without_exposure_are_dropped_and_order_is_by_period() -> None:
    data = pl.DataFrame({"period": [3, 1, 2], "count": [1, 2, 0], "n": [10, 20, 0]})
    frame = u_chart(data, baseline_periods=2)
    assert frame["period"].to_list() == [1, 3]
    assert frame["centre"][0] == pytest.approx(3 / 30)


def test_p_chart_limits_clipped_to_unit_interval() -> None:
    # p̄ = 0.9, n = 10: σ = sqrt(0.09/10) = 0.0948683; ucl = 0.9 + 0.2846050 > 1 → 1,
    # lcl = 0.9 − 0.2846050 = 0.6153950
    data = pl.DataFrame({"period": range(12), "count": [9] * 12, "n": [10] * 12})
    frame = p_chart(data, baseline_periods=12)
    assert frame["ucl"].unique().to_list() == [1.0]
    assert frame["lcl"][0] == pytest.approx(0.6153950, abs=1e-7)
    assert frame["value"][0] == pytest.approx(0.9)


def test_p_chart_no_show_shift_is_a_concern() -> None:
    # baseline p̄ = 0.05 over 12 weeks of 200 scheduled; then 7 weeks at 12/200 = 0.06 (above, inside 2σ:
    # σ = sqrt(0.05 × 0.95 / 200) = 0.0154110, upper2s = 0.0808221)
    counts = [10] * 12 + [12] * 7
    data = pl.DataFrame({"period": range(19), "count": counts, "n": [200] * 19})
    frame = p_chart(data, baseline_periods=12)
    assert frame["upper2s"][0] == pytest.approx(0.0808221, abs=1e-7)
    assert frame["rule"].to_list()[12:] == ["shift"] * 7
    assert frame["category"].to_list()[12:] == ["concern"] * 7


def test_empty_input() -> None:
    frame = u_chart(pl.DataFrame({"period": [], "count": [], "n": []}, schema_overrides={"period": pl.Date}))
    assert frame.height == 0
    assert "category" in frame.columns
