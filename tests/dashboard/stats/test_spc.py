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
    # 17 > 16.32 twice within three points, the 12 between them above the centre too; the 12 is
    # not itself flagged. 3 3 8: two below 3.68 and all three below the centre (10).
    frame = chart([17, 12, 17, 10, 3, 3, 8])
    assert rules(frame) == ["two_of_three", None, "two_of_three", None, "two_of_three", "two_of_three", None]
    expected = ["concern", "common", "concern", "common", "improvement", "improvement", "common"]
    assert frame["category"].to_list()[12:] == expected


def test_rule_3_needs_all_three_points_on_the_same_side() -> None:
    # 17 9 17: two beyond 2σ above, but 9 is below the centre line: no signal
    assert rules(chart([17, 9, 17, 12])) == [None] * 4
    # 10 3 3 at the end: the 10 sits on the centre line, and there is no later third point
    assert rules(chart([10, 3, 3])) == [None] * 3


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


def test_laney_u_prime_hand_worked() -> None:
    # Baseline of three periods: counts 4, 9, 6 in n = 50, 100, 60. ū = 19/210 = 0.0904762;
    # σᵢ = sqrt(ū/nᵢ) = 0.0425385, 0.0300793, 0.0388322; zᵢ = (xᵢ/nᵢ − ū)/σᵢ = −0.246276, −0.015831,
    # 0.245256; moving ranges 0.230444, 0.261087; σz = 0.2457656 / 1.128 = 0.217877.
    data = pl.DataFrame({"period": range(3), "count": [4, 9, 6], "n": [50, 100, 60]})
    frame = u_chart(data, baseline_periods=3, laney=True)
    assert frame["sigma_z"][0] == pytest.approx(0.2178773, abs=1e-6)
    assert frame["ucl"].to_list() == pytest.approx([0.1182807, 0.1101370, 0.1158581], abs=1e-6)
    assert frame["lcl"].to_list() == pytest.approx([0.0626717, 0.0708154, 0.0650942], abs=1e-6)
    assert frame["upper2s"].to_list() == pytest.approx([0.1090125, 0.1035834, 0.1073975], abs=1e-6)
    assert frame["laney"].all()
    plain = u_chart(data, baseline_periods=3)
    assert plain["sigma_z"][0] == 1.0
    assert plain["ucl"][0] == pytest.approx(0.0904762 + 3 * 0.0425385, abs=1e-6)


def test_laney_p_prime_hand_worked() -> None:
    # 30/1000, 80/2000, 45/1500, 60/1200: p̄ = 215/5700 = 0.0377193; z = −1.281283, 0.535366,
    # −1.569245, 2.232961; moving ranges 1.816649, 2.104611, 3.802206; σz = 2.574489/1.128 = 2.282348.
    data = pl.DataFrame({"period": range(4), "count": [30, 80, 45, 60], "n": [1000, 2000, 1500, 1200]})
    laney = p_chart(data, baseline_periods=4, laney=True)
    assert laney["sigma_z"][0] == pytest.approx(2.2823482, abs=1e-6)
    assert laney["ucl"].to_list() == pytest.approx([0.0789704, 0.0668883, 0.0714007, 0.0753763], abs=1e-6)
    # 0.0377193 − 3·σ₁·σz < 0: clipped to 0
    assert laney["lcl"].to_list() == pytest.approx([0.0, 0.0085503, 0.0040379, 0.0000623], abs=1e-6)
    assert laney["rule"].is_null().all()
    plain = p_chart(data, baseline_periods=4)
    assert plain["ucl"][3] == pytest.approx(0.0377193 + 3 * math.sqrt(0.0377193 * 0.9622807 / 1200), abs=1e-6)


def test_laney_quiets_a_large_denominator_chart() -> None:
    # 12 periods alternating 900 and 1100 no-shows of 10,000: p̄ = 0.1, σ = sqrt(0.09/10000) = 0.003,
    # so every point is 3.33σ from the centre on the plain chart. |z| = 3.33 each, moving range 6.67,
    # σz = 6.67/1.128 = 5.91: the p′ limits are 0.1 ± 0.0532, every point common cause.
    data = pl.DataFrame({"period": range(12), "count": [900, 1100] * 6, "n": [10_000] * 12})
    assert p_chart(data)["rule"].to_list() == ["beyond_limit"] * 12
    laney = p_chart(data, laney=True)
    assert laney["sigma_z"][0] == pytest.approx((0.02 / 0.003) / 1.128, rel=1e-9)
    assert laney["rule"].is_null().all()


def test_picked_baseline_range() -> None:
    from datetime import date, timedelta

    weeks = [date(2025, 1, 6) + timedelta(weeks=i) for i in range(16)]
    counts = [10] * 8 + [20] * 8  # the rate doubles at week 8
    data = pl.DataFrame({"period": weeks, "count": counts, "n": [100] * 16})
    # picked: the last eight weeks (20 per 100) → centre 0.2, trial (8 < 12 points)
    frame = u_chart(data, baseline_periods=12, baseline=(weeks[8], weeks[15]))
    assert frame["centre"][0] == pytest.approx(0.2)
    assert frame["in_baseline"].to_list() == [False] * 8 + [True] * 8
    assert frame["baseline_start"][0] == weeks[8] and frame["baseline_end"][0] == weeks[15]
    assert frame["baseline_points"][0] == 8
    assert frame["baseline_picked"][0] and frame["trial"][0]
    # default: the first 12 points → (8·10 + 4·20)/1200
    default = u_chart(data, baseline_periods=12)
    assert default["centre"][0] == pytest.approx(160 / 1200)
    assert not default["baseline_picked"][0] and not default["trial"][0]
    # a range holding no point falls back to the first 12
    outside = u_chart(data, baseline_periods=12, baseline=(date(2024, 1, 1), date(2024, 2, 1)))
    assert outside["centre"][0] == pytest.approx(160 / 1200)
    assert not outside["baseline_picked"][0]
