"""Funnel limits against brute-force sums, hand arithmetic and the paper's definitions."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from dashboard.stats.funnel import (
    binomial_funnel_limits,
    binomial_limit,
    classify,
    funnel,
    funnel_curve,
    overdispersion,
    poisson_funnel_limits,
    poisson_limit,
)


def brute_interpolated_quantile(pmf: list[float], p: float, floor: bool = True) -> float:
    """Spiegelhalter (2005) A.1.1 by a plain loop: r_p − (F(r_p) − p) / P(r_p), floored at 0."""
    cdf = 0.0
    for r, mass in enumerate(pmf):
        cdf += mass
        if cdf >= p:
            limit = r - (cdf - p) / mass
            return max(limit, 0.0) if floor else limit
    raise AssertionError("pmf does not reach p")


def poisson_pmf(mu: float, kmax: int) -> list[float]:
    return [math.exp(-mu + k * math.log(mu) - math.lgamma(k + 1)) for k in range(kmax)]


def binomial_pmf(n: int, theta: float) -> list[float]:
    return [math.comb(n, k) * theta**k * (1 - theta) ** (n - k) for k in range(n + 1)]


def test_poisson_limit_by_hand_for_mean_one() -> None:
    # F(2) = e⁻¹(1 + 1 + 1/2) = 0.9196986, F(3) = F(2) + e⁻¹/6 = 0.9810118, so r_0.975 = 3,
    # α = (0.9810118 − 0.975) / 0.0613132 = 0.0980513 → upper 95% limit 2.9019487.
    assert poisson_limit(1.0, 0.975)[0] == pytest.approx(2.9019487, abs=1e-6)
    # F(0) = e⁻¹ = 0.367879 ≥ 0.025 so r = 0, limit = −α < 0 → floored at 0.
    assert poisson_limit(1.0, 0.025)[0] == 0.0


@pytest.mark.parametrize("mu", [0.3, 1.7, 4.0, 12.5, 37.2, 160.0])
@pytest.mark.parametrize("p", [0.001, 0.025, 0.975, 0.999])
def test_poisson_limit_matches_brute_force(mu: float, p: float) -> None:
    expected = brute_interpolated_quantile(poisson_pmf(mu, int(mu * 3 + 40)), p)
    assert poisson_limit(mu, p)[0] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("n", "theta"), [(1, 0.3), (10, 0.3), (57, 0.12), (400, 0.5)])
@pytest.mark.parametrize("p", [0.001, 0.025, 0.975, 0.999])
def test_binomial_limit_matches_brute_force(n: int, theta: float, p: float) -> None:
    expected = brute_interpolated_quantile(binomial_pmf(n, theta), p)
    assert binomial_limit(n, theta, p)[0] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("mu", np.linspace(0.5, 80, 23).tolist())
def test_interpolated_upper_limit_brackets_the_tail_probability(mu: float) -> None:
    # The limit lies in (r_p − 1, r_p]: a count above r_p has tail ≤ 2.5%, a count of r_p − 1 more.
    limit = poisson_limit(mu, 0.975)[0]
    r = math.ceil(limit)
    assert stats.poisson.sf(r, mu) <= 0.025 < stats.poisson.sf(r - 2, mu)


def test_large_expected_count_approaches_normal() -> None:
    # Poisson(10 000): 97.5% quantile ≈ 10 000 + 1.96 × 100 = 10 196 (continuity within 1)
    assert poisson_limit(10_000, 0.975)[0] == pytest.approx(10_196, abs=1.5)
    assert poisson_limit(10_000, 0.001)[0] == pytest.approx(10_000 - 309.0, abs=1.5)


def test_zero_expected_gives_zero_limits_and_any_event_is_above() -> None:
    frame, theta0, _ = funnel([0, 1], [100, 100], theta0=0.0)
    assert theta0 == 0.0
    assert frame["upper998"].to_list() == [0.0, 0.0]
    assert frame["flag"].to_list() == ["within", "above_998"]


def test_limits_frames_and_null_for_no_exposure() -> None:
    limits = poisson_funnel_limits([0, 50], 0.02)
    assert limits["lower95"][0] is None
    # expected 1.0 → same as the hand example above
    assert limits["upper95"][1] == pytest.approx(2.9019487, abs=1e-6)
    binom = binomial_funnel_limits([10], 0.3)
    assert binom["upper998"][0] <= 10
    assert binom["upper95"][0] == pytest.approx(brute_interpolated_quantile(binomial_pmf(10, 0.3), 0.975))


def test_classify_each_flag_and_strict_boundaries() -> None:
    frame = pl.DataFrame(
        {
            "observed": [50.0, 30.0, 20.0, 25.0, 7.0, 2.0, 10.0, None],
            "lower998": [5.0] * 7 + [None],
            "lower95": [10.0] * 7 + [None],
            "upper95": [25.0] * 7 + [None],
            "upper998": [40.0] * 7 + [None],
        }
    )
    flags = frame.select(flag=classify())["flag"].to_list()
    # 25 = upper95 and 10 = lower95 are on the line, not beyond it
    assert flags == ["above_998", "above_95", "within", "within", "below_95", "below_998", "within", None]


def test_funnel_flags_a_planted_outlier() -> None:
    # Nine clinics with 20 AEs in 400 sessions, one with 60: θ0 = 240/4000 = 0.06, expected 24 each.
    observed = [20] * 9 + [60]
    frame, theta0, tau2 = funnel(observed, [400] * 10)
    assert theta0 == pytest.approx(0.06)
    assert tau2 == 0.0
    assert frame["expected"].to_list() == pytest.approx([24.0] * 10)
    assert frame["flag"].to_list() == ["within"] * 9 + ["above_998"]
    assert stats.poisson.sf(59, 24) < 0.001  # the independent reason it must be flagged


def brute_tau2(y: list[float], n: list[float], theta: float) -> tuple[float, float]:
    """Spiegelhalter (2005) §6 written out with loops and an R type-7 quantile."""
    z = [(yi / ni - theta) / math.sqrt(theta / ni) for yi, ni in zip(y, n, strict=True)]

    def q7(xs: list[float], prob: float) -> float:
        s = sorted(xs)
        h = (len(s) - 1) * prob
        lo = math.floor(h)
        return s[lo] + (h - lo) * (s[min(lo + 1, len(s) - 1)] - s[lo])

    lo, hi = q7(z, 0.1), q7(z, 0.9)
    zw = [min(max(v, lo), hi) for v in z]
    units = len(z)
    phi = sum(v * v for v in zw) / units
    w = [ni / theta for ni in n]
    if units * phi <= units - 1:
        return 0.0, phi
    return (units * phi - (units - 1)) / (sum(w) - sum(v * v for v in w) / sum(w)), phi


def test_overdispersion_matches_written_out_formula() -> None:
    y = [5, 30, 12, 2, 40, 18, 9, 25, 3, 14]
    n = [200, 300, 250, 120, 310, 400, 180, 260, 90, 220]
    theta = sum(y) / sum(n)
    tau2, phi = overdispersion(y, n, theta)
    ref_tau2, ref_phi = brute_tau2(y, n, theta)
    assert ref_tau2 > 0  # the data are over-dispersed, so the adjustment really does something
    assert phi == pytest.approx(ref_phi, rel=1e-12)
    assert tau2 == pytest.approx(ref_tau2, rel=1e-12)


def test_no_overdispersion_keeps_exact_limits() -> None:
    # Every clinic exactly on target: z = 0, φ = 0 ≤ (I − 1)/I → τ² = 0 and exact limits are used.
    y, n = [10, 20, 30], [100, 200, 300]
    assert overdispersion(y, n, 0.1)[0] == 0.0
    adjusted, _, tau2 = funnel(y, n, overdispersed=True)
    exact, _, _ = funnel(y, n)
    assert tau2 == 0.0
    assert adjusted.equals(exact)


def test_random_effects_limits_widen_by_tau2() -> None:
    y = [5, 30, 12, 2, 40, 18, 9, 25, 3, 14]
    n = [200, 300, 250, 120, 310, 400, 180, 260, 90, 220]
    frame, theta, tau2 = funnel(y, n, overdispersed=True)
    ref_tau2, _ = brute_tau2(y, n, theta)
    assert tau2 == pytest.approx(ref_tau2)
    for row in frame.iter_rows(named=True):
        sd = math.sqrt(theta / row["n"] + ref_tau2)
        assert row["upper95"] == pytest.approx((theta + 1.959964 * sd) * row["n"], rel=1e-6)
        assert row["upper998"] == pytest.approx((theta + 3.090232 * sd) * row["n"], rel=1e-6)
        assert row["lower95"] == pytest.approx(max(theta - 1.959964 * sd, 0) * row["n"], rel=1e-6)
    unadjusted, _, _ = funnel(y, n)
    assert (frame["upper95"] > unadjusted["upper95"]).all()


def test_overdispersion_degenerate_inputs() -> None:
    assert overdispersion([3], [100], 0.03)[0] == 0.0  # one unit: nothing to compare
    assert overdispersion([0, 0], [10, 20], 0.0)[0] == 0.0  # zero target: no z-scores


def test_funnel_curve_is_on_the_rate_scale() -> None:
    curve = funnel_curve(0.05, 1000, points=50, scale=100)
    assert curve["n"][0] == pytest.approx(1) and curve["n"][-1] == pytest.approx(1000)
    assert curve["target"].unique().to_list() == [5.0]
    last = curve.row(-1, named=True)
    # at n = 1000, expected 50: 100 × brute-force 97.5% limit / 1000
    assert last["upper95"] == pytest.approx(
        100 * brute_interpolated_quantile(poisson_pmf(50, 200), 0.975) / 1000, rel=1e-9
    )
    # the funnel narrows as n grows
    assert curve["upper95"][-1] < curve["upper95"][10]


def brute_flag(y: int, pmf: list[float]) -> str:
    """Place y − ½ against the unfloored interpolated limits (the documented reading of a count)."""
    limits = {p: brute_interpolated_quantile(pmf, p, floor=False) for p in (0.001, 0.025, 0.975, 0.999)}
    if y - 0.5 > limits[0.999]:
        return "above_998"
    if y - 0.5 > limits[0.975]:
        return "above_95"
    if y - 0.5 < limits[0.001]:
        return "below_998"
    if y - 0.5 < limits[0.025]:
        return "below_95"
    return "within"


@pytest.mark.parametrize("mu", [0.02, 0.3, 1.0, 2.5, 6.0, 13.3, 40.0])
def test_flags_place_the_count_midway_against_the_interpolated_limits(mu: float) -> None:
    pmf = poisson_pmf(mu, int(mu * 3 + 40))
    ys = list(range(int(mu * 2.5 + 12)))
    frame, _, _ = funnel(ys, [100] * len(ys), theta0=mu / 100)
    assert frame["flag"].to_list() == [brute_flag(y, pmf) for y in ys]


def test_small_expected_count_is_not_a_998_alarm() -> None:
    # Expected 0.02 AEs, one observed: P(Y ≥ 1) = 1 − e^(−0.02) = 0.0198 — beyond 95%, not 99.8%.
    # The drawn 99.8% limit is 1 − (0.9998 − 0.999)/0.0196 = 0.96 < 1, yet the flag is above_95:
    # mid-p = 0.0196/2 + 0.0002 = 0.0100, between 0.001 and 0.025.
    frame, _, _ = funnel([1], [1], theta0=0.02)
    assert frame["upper998"][0] == pytest.approx(0.96, abs=0.005)
    assert frame["flag"].to_list() == ["above_95"]


def test_binomial_target_of_one_flags_nobody() -> None:
    # Every unit at 100% when the target is 100%: the count sits on its only possible value.
    frame, _, _ = funnel([10, 20], [10, 20], theta0=1.0, kind="binomial")
    assert frame["flag"].to_list() == ["within", "within"]
