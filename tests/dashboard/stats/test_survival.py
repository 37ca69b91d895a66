"""Kaplan–Meier vs a hand example, a brute-force product limit and scipy's ``ecdf``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dashboard.stats.survival import kaplan_meier, numbers_at_risk

Z95 = 1.959963984540054


def brute_force(durations: list[float], events: list[bool]) -> dict[float, tuple[int, int, float, float]]:
    """time -> (at risk, events, S, Greenwood sum), one loop per distinct time, no vectorisation."""
    out = {}
    s, gw = 1.0, 0.0
    for t in sorted(set(durations)):
        n = sum(1 for d in durations if d >= t)
        d_ = sum(1 for d, e in zip(durations, events, strict=True) if d == t and e)
        s *= 1 - d_ / n
        if d_:
            gw += d_ / (n * (n - d_)) if n > d_ else math.inf
        out[t] = (n, d_, s, gw)
    return out


def test_hand_example_with_ties_and_censoring() -> None:
    # t:      1  2  2  3  4  4  5
    # event:  1  1  0  1  1  1  0   (a censoring tied with an event at 2; two events at 4)
    km = kaplan_meier([1, 2, 2, 3, 4, 4, 5], [1, 1, 0, 1, 1, 1, 0], ci_method="plain")
    assert km.time.tolist() == [1, 2, 3, 4, 5]
    # at risk: 7, 6 (the censored one at 2 still counts), 4, 3, 1
    assert km.n_at_risk.tolist() == [7, 6, 4, 3, 1]
    assert km.n_events.tolist() == [1, 1, 1, 2, 0]
    assert km.n_censored.tolist() == [0, 1, 0, 0, 1]
    # S: 6/7; 6/7·5/6 = 5/7; 5/7·3/4 = 15/28; 15/28·1/3 = 5/28; unchanged at 5
    assert km.survival == pytest.approx([6 / 7, 5 / 7, 15 / 28, 5 / 28, 5 / 28])
    # Greenwood at 2: (5/7)² (1/(7·6) + 1/(6·5)) = (25/49)(12/210) = 10/343
    assert km.variance[1] == pytest.approx(10 / 343)
    # plain CI at 1: 6/7 ± 1.96·sqrt((36/49)/42) = 6/7 ± 1.96·sqrt(6/343)
    half = Z95 * math.sqrt(6 / 343)
    assert km.ci_low[0] == pytest.approx(6 / 7 - half)
    assert km.ci_high[0] == pytest.approx(min(1.0, 6 / 7 + half))
    assert km.cumulative_incidence[-1] == pytest.approx(23 / 28)
    assert km.survival_at([0, 1, 2.5, 10]).tolist() == pytest.approx([1, 6 / 7, 5 / 7, 5 / 28])
    # at risk at chosen times: duration ≥ t
    assert km.at_risk_at([0, 2, 4.5, 6]).tolist() == [7, 6, 1, 0]


def test_log_log_ci_formula_by_hand() -> None:
    # two events of four at distinct times: S(1) = 3/4, Greenwood sum = 1/(4·3) = 1/12
    km = kaplan_meier([1, 2, 3, 4], [True, True, False, False])
    s, gw = 0.75, 1 / 12
    spread = Z95 * math.sqrt(gw) / abs(math.log(s))
    assert km.ci_low[0] == pytest.approx(s ** math.exp(spread))
    assert km.ci_high[0] == pytest.approx(s ** math.exp(-spread))
    assert 0 < km.ci_low[0] < s < km.ci_high[0] < 1


def test_everyone_has_the_event_gives_zero_band() -> None:
    km = kaplan_meier([1, 2], [True, True])
    assert km.survival.tolist() == [0.5, 0.0]
    assert km.ci_low[1] == 0.0 and km.ci_high[1] == 0.0
    assert km.variance[1] == 0.0


def test_no_events_keeps_survival_one() -> None:
    km = kaplan_meier([3, 5, 5], [False, False, False])
    assert km.survival.tolist() == [1.0, 1.0]
    assert km.ci_low.tolist() == [1.0, 1.0] and km.ci_high.tolist() == [1.0, 1.0]


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        kaplan_meier([1, -1], [True, False])
    with pytest.raises(ValueError):
        kaplan_meier([1, 2], [True])


def test_numbers_at_risk() -> None:
    assert numbers_at_risk([0, 1, 1, 5], [0, 1, 2, 5, 6]).tolist() == [4, 3, 1, 1, 0]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=12), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_matches_brute_force_product_limit(data: list[tuple[int, bool]]) -> None:
    durations = [float(d) for d, _ in data]
    events = [e for _, e in data]
    km = kaplan_meier(durations, events, ci_method="plain")
    expected = brute_force(durations, events)
    assert km.time.tolist() == sorted(expected)
    for i, t in enumerate(km.time):
        n, d, s, gw = expected[t]
        assert km.n_at_risk[i] == n
        assert km.n_events[i] == d
        assert km.survival[i] == pytest.approx(s, abs=1e-12)
        if s > 0:
            assert km.variance[i] == pytest.approx(s * s * gw, rel=1e-9, abs=1e-15)
            half = Z95 * math.sqrt(s * s * gw)
            assert km.ci_low[i] == pytest.approx(max(0.0, s - half), abs=1e-9)
            assert km.ci_high[i] == pytest.approx(min(1.0, s + half), abs=1e-9)


@pytest.mark.filterwarnings("ignore:The confidence interval is undefined")
@pytest.mark.parametrize("method, scipy_method", [("plain", "linear"), ("log-log", "log-log")])
def test_matches_scipy_ecdf_on_seeded_random_data(method: str, scipy_method: str) -> None:
    rng = np.random.default_rng(20261125)
    for _ in range(20):
        n = int(rng.integers(5, 80))
        t = rng.integers(0, 30, size=n).astype(float)
        e = rng.random(n) < 0.6
        if not e.any():
            continue
        km = kaplan_meier(t, e, ci_method=method)  # type: ignore[arg-type]
        res = stats.ecdf(stats.CensoredData(uncensored=t[e], right=t[~e]))
        sf = res.sf
        assert km.survival_at(km.time) == pytest.approx(sf.evaluate(km.time), abs=1e-12)
        ci = sf.confidence_interval(0.95, method=scipy_method)
        lo, hi = ci.low.evaluate(km.time), ci.high.evaluate(km.time)
        ok = (km.survival > 0) & (km.survival < 1) & np.isfinite(lo) & np.isfinite(hi)
        assert km.ci_low[ok] == pytest.approx(lo[ok], abs=1e-9)
        assert km.ci_high[ok] == pytest.approx(hi[ok], abs=1e-9)
