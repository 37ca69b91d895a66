"""Confidence intervals against published tables, scipy and the defining equations."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from dashboard.stats.intervals import (
    clopper_pearson,
    garwood_poisson,
    garwood_poisson_many,
    poisson_rate_ci,
    poisson_rate_cis,
    t_interval,
    t_mean_ci,
    wilson,
)

# Newcombe RG (1998) Statist. Med. 17:857–872, Table I: method 3 (Wilson score)
# and method 5 (exact, Clopper–Pearson), rounded to 4 decimals as published.
NEWCOMBE = [
    # x, n, wilson (lo, hi), clopper-pearson (lo, hi)
    (81, 263, (0.2553, 0.3662), (0.2527, 0.3676)),
    (15, 148, (0.0624, 0.1605), (0.0578, 0.1617)),
    (0, 20, (0.0000, 0.1611), (0.0000, 0.1684)),
    (1, 29, (0.0061, 0.1718), (0.0009, 0.1776)),
]


@pytest.mark.parametrize(("x", "n", "expected", "_cp"), NEWCOMBE)
def test_wilson_matches_newcombe_1998(x: int, n: int, expected: tuple[float, float], _cp: object) -> None:
    lo, hi = wilson(x, n)
    assert round(lo, 4) == expected[0]
    assert round(hi, 4) == expected[1]


@pytest.mark.parametrize(("x", "n", "_w", "expected"), NEWCOMBE)
def test_clopper_pearson_matches_newcombe_1998(
    x: int, n: int, _w: object, expected: tuple[float, float]
) -> None:
    lo, hi = clopper_pearson(x, n)
    assert round(lo, 4) == expected[0]
    assert round(hi, 4) == expected[1]


@pytest.mark.parametrize(("x", "n"), [(0, 1), (1, 1), (3, 7), (50, 100), (999_999, 1_000_000), (12, 5000)])
def test_wilson_agrees_with_scipy(x: int, n: int) -> None:
    ref = stats.binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson(x, n)
    assert lo == pytest.approx(ref.low, abs=1e-12)
    assert hi == pytest.approx(ref.high, abs=1e-12)


def test_wilson_bounds_solve_the_score_equation() -> None:
    # Each Wilson bound π satisfies |p − π| = z·sqrt(π(1 − π)/n).
    x, n, z = 7, 40, stats.norm.ppf(0.975)
    for bound in wilson(x, n):
        assert abs(x / n - bound) == pytest.approx(z * math.sqrt(bound * (1 - bound) / n), rel=1e-9)


def test_wilson_edge_cases() -> None:
    # n = 1, x = 1: lower = n/(n + z²) = 1/(1 + 3.841459) = 0.206549, upper = 1.
    lo, hi = wilson(1, 1)
    assert lo == pytest.approx(1 / (1 + stats.norm.ppf(0.975) ** 2), rel=1e-9)
    assert hi == pytest.approx(1.0)
    # very large n: p ± z·sqrt(p(1−p)/n) = 0.5 ± 1.959964 × 0.0005 = 0.5 ± 0.00097998
    lo, hi = wilson(500_000, 1_000_000)
    assert lo == pytest.approx(0.5 - 0.00097998, abs=1e-7)
    assert hi == pytest.approx(0.5 + 0.00097998, abs=1e-7)
    assert all(math.isnan(v) for v in wilson(0, 0))
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_clopper_pearson_edges() -> None:
    # x = n: upper 1 and lower (α/2)^(1/n): n = 10 → 0.025^(0.1) = 0.691503
    lo, hi = clopper_pearson(10, 10)
    assert hi == 1.0
    assert lo == pytest.approx(0.025**0.1, rel=1e-9)
    # x = 0: upper 1 − (α/2)^(1/n)
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025**0.1))
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))


# Exact Poisson 95% limits for an observed count, as tabulated (e.g. Geigy / Sahai & Khurshid).
POISSON_TABLE = [
    (0, 0.0, 3.689),
    (1, 0.0253, 5.572),
    (2, 0.2422, 7.225),
    (5, 1.623, 11.67),
    (10, 4.795, 18.39),
]


@pytest.mark.parametrize(("k", "lo", "hi"), POISSON_TABLE)
def test_garwood_matches_published_table(k: int, lo: float, hi: float) -> None:
    got_lo, got_hi = garwood_poisson(k)
    assert got_lo == pytest.approx(lo, abs=6e-4 if lo < 1 else 6e-3)
    assert got_hi == pytest.approx(hi, abs=6e-3)


@pytest.mark.parametrize("k", [1, 2, 7, 30, 250, 10_000])
def test_garwood_bounds_are_the_poisson_tail_roots(k: int) -> None:
    # Definition: P(X ≥ k | lower) = 0.025 and P(X ≤ k | upper) = 0.025.
    lo, hi = garwood_poisson(k)
    assert stats.poisson.sf(k - 1, lo) == pytest.approx(0.025, rel=1e-6)
    assert stats.poisson.cdf(k, hi) == pytest.approx(0.025, rel=1e-6)


def test_garwood_zero_and_rate_scaling() -> None:
    lo, hi = garwood_poisson(0)
    assert lo == 0.0
    # k = 0: upper solves e^(−U) = 0.025 → U = −ln 0.025 = 3.688879
    assert hi == pytest.approx(-math.log(0.025), rel=1e-9)
    # 4 events in 200 sessions per 100: 100 × (1.089865, 10.24153) / 200
    assert poisson_rate_ci(4, 200, per=100) == pytest.approx((0.5449325, 5.120765), rel=1e-5)
    assert all(math.isnan(v) for v in poisson_rate_ci(3, 0, per=100))
    with pytest.raises(ValueError):
        garwood_poisson(-1)


def test_vectorised_garwood_is_the_published_table_row_by_row() -> None:
    ks = [k for k, _, _ in POISSON_TABLE]
    low, high = garwood_poisson_many(ks)
    for (_, lo, hi), got_lo, got_hi in zip(POISSON_TABLE, low, high, strict=True):
        assert got_lo == pytest.approx(lo, abs=6e-4 if lo < 1 else 6e-3)
        assert got_hi == pytest.approx(hi, abs=6e-3)
    # per 100 over exposures 200, 0 (no rate), 50: 4 events → 100 × (1.089865, 10.24153) / 200 as above
    rate_low, rate_high = poisson_rate_cis([4, 3, 0], [200, 0, 50], per=100)
    assert (rate_low[0], rate_high[0]) == pytest.approx((0.5449325, 5.120765), rel=1e-5)
    assert math.isnan(rate_low[1]) and math.isnan(rate_high[1])
    # k = 0 over 50: 0 and 100 × 3.688879 / 50
    assert (rate_low[2], rate_high[2]) == pytest.approx((0.0, 100 * -math.log(0.025) / 50), rel=1e-9)
    with pytest.raises(ValueError):
        garwood_poisson_many([3, -1])


def test_t_mean_ci_by_hand_and_scipy() -> None:
    # mean 3, sd = sqrt(2.5) = 1.581139, se = 0.707107, t(0.975, 4) = 2.776445 → half 1.963243
    mean, lo, hi = t_mean_ci([1, 2, 3, 4, 5])
    assert mean == 3.0
    assert lo == pytest.approx(3 - 1.963243, abs=1e-6)
    assert hi == pytest.approx(3 + 1.963243, abs=1e-6)
    values = [-4.0, -7.5, 0.0, -12.0, -3.0, -9.0, 2.0]
    ref = stats.t.interval(0.95, len(values) - 1, loc=sum(values) / len(values), scale=stats.sem(values))
    assert t_mean_ci(values)[1:] == pytest.approx(ref, rel=1e-12)


def test_t_interval_from_a_summary_equals_scipy() -> None:
    values = [-4.0, -7.5, 0.0, -12.0, -3.0, -9.0, 2.0]
    n, mean, sd = len(values), sum(values) / len(values), stats.tstd(values)
    ref = stats.t.interval(0.95, n - 1, loc=mean, scale=sd / math.sqrt(n))
    assert t_interval(n, mean, sd)[1:] == pytest.approx(ref, rel=1e-12)
    assert math.isnan(t_interval(1, 4.0, None)[1]) and t_interval(1, 4.0, None)[0] == 4.0


def test_t_mean_ci_too_few_values() -> None:
    mean, lo, hi = t_mean_ci([4.0])
    assert mean == 4.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in t_mean_ci([]))
