"""Small-cell suppression of outcome figures (metrics.md "Small-cell suppression")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.metrics.outcomes import (
    clinic_comparison,
    outcome_measures,
    outcomes_report,
    time_to_response,
    trajectory,
)
from dashboard.metrics.outcomes.suppression import shown, suppressed_block
from pipelines.model.config import MetricConfig
from tests.dashboard.metrics.outcomes.outcome_rows import (
    K11,
    PERIOD,
    Builder,
    add_cohort,
    d,
    opened,
    phq9_report,
)


def test_default_k_is_11() -> None:
    assert K11.suppression_k == 11


ALL_FIGURES = ["evaluable", "responders", "response_rate", "remitters", "remission_rate", "maturing"]


def test_suppressed_below_k(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    add_cohort(b, "A", 10, 0, "a")  # k − 1 evaluable …
    b.patient("noend", "depression")  # … plus a cohort patient without an endpoint: still 10 evaluable
    b.score("noend", "phq9", d(-1), 20)
    rows = phq9_report(make_db, b, K11)
    hidden = {
        "evaluable": None,
        "responders": None,
        "response_rate": None,
        "remitters": None,
        "remission_rate": None,
        "suppressed": True,
        "suppressed_figures": ALL_FIGURES,
        "maturing": None,
    }
    assert [r["clinic_id"] for r in rows] == [None, "A"]
    assert all({k: r[k] for k in hidden} == hidden for r in rows)
    with opened(make_db(b.rows)) as con:
        m = outcome_measures(con, PERIOD, K11)
        km = time_to_response(con, PERIOD, K11, "depression", "phq9")
        traj = trajectory(con, PERIOD, K11, "depression", "phq9")
    dep = m.filter(pl.col("instrument") == "phq9")
    over_evaluable = dep.filter(
        pl.col("measure").is_in(["response", "remission", "mean_change", "worsening"])
    )
    assert over_evaluable.height == 4 and over_evaluable["suppressed"].all()
    assert over_evaluable["estimate"].is_null().all() and over_evaluable["numerator"].is_null().all()
    # rapid response and durability have denominators of their own: nobody scored then, 0 is shown
    own = dep.filter(pl.col("measure").is_in(["rapid_response", "durability"]))
    assert own["denominator"].to_list() == [0, 0] and not own["suppressed"].any()
    # the cohort (11 patients) and the maturing (0) are counts of their own, shown
    assert dep["cohort"].to_list() == [11] * dep.height and dep["maturing"].to_list() == [0] * dep.height
    assert km["suppressed"] is True and km["curve"].is_empty()
    # trajectory cells stand on their own: 11 baseline scores at session 0 are shown, the 10 at #1 not
    assert traj.select("session_number", "n", "suppressed").rows() == [(0, 11, False), (1, None, True)]
    assert traj["median"].to_list() == [20, None]


def test_numerators_are_suppressed(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    add_cohort(b, "A", 18, 2, "a")  # "2 of 18 responded" must not be published
    rows = phq9_report(make_db, b, K11)
    for r in rows:
        assert (r["evaluable"], r["responders"], r["response_rate"]) == (18, None, None)
        assert (r["remitters"], r["remission_rate"]) == (0, 0.0)  # 0 is shown (a score of 5 is not < 5)
        assert r["suppressed"] is False and r["suppressed_figures"] == ["responders", "response_rate"]
    with opened(make_db(b.rows)) as con:
        m = outcome_measures(con, PERIOD, K11)
    resp = m.filter((pl.col("instrument") == "phq9") & (pl.col("measure") == "response")).row(0, named=True)
    assert resp["suppressed"] and resp["numerator"] is None and resp["ci_low"] is None
    assert resp["cohort"] == 18


def test_shown_at_k(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    add_cohort(b, "A", 11, 11, "a")
    rows = phq9_report(make_db, b, K11)
    assert [(r["clinic_id"], r["evaluable"], r["responders"], r["suppressed"]) for r in rows] == [
        (None, 11, 11, False),
        ("A", 11, 11, False),
    ]
    assert rows[0]["response_rate"] == 1.0 and rows[0]["suppressed_figures"] == []


def test_zero_disables_suppression(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    add_cohort(b, "A", 1, 1, "a")
    rows = phq9_report(make_db, b, MetricConfig(suppression_k=0))
    assert [(r["evaluable"], r["responders"], r["suppressed"]) for r in rows] == [
        (1, 1, False),
        (1, 1, False),
    ]


def _three_clinics() -> Builder:
    b = Builder()
    add_cohort(b, "A", 15, 11, "a")
    add_cohort(b, "B", 12, 0, "b")
    add_cohort(b, "C", 4, 0, "c")
    return b


def test_complementary_suppression(make_db: Callable[[dict], Path]) -> None:
    b = _three_clinics()
    rows = phq9_report(make_db, b, K11)
    # C (4 < 11) is suppressed; network 31 minus A 15 would give C, so B (the smallest non-zero, 12) goes too
    assert [(r["clinic_id"], r["evaluable"], r["responders"], r["suppressed"]) for r in rows] == [
        (None, 31, 11, False),
        ("A", 15, 11, False),
        ("B", None, None, True),
        ("C", None, None, True),
    ]
    with opened(make_db(b.rows)) as con:
        comp, network = clinic_comparison(con, PERIOD, K11, "depression", "phq9")
    assert network["evaluable"] == 31 and network["response_rate"] == pytest.approx(11 / 31)
    shown_rows = comp.filter(~pl.col("suppressed"))
    assert shown_rows["clinic_id"].to_list() == ["A"]
    assert comp.filter(pl.col("suppressed"))["evaluable"].is_null().all()
    assert sorted(comp.filter(pl.col("suppressed"))["clinic_id"].to_list()) == ["B", "C"]


def test_clinic_selections_do_not_difference(make_db: Callable[[dict], Path]) -> None:
    """`ketaops metrics --clinic …`: a selection holding part of the block shows nothing of it."""
    path = make_db(_three_clinics().rows)

    def network(*clinics: str) -> tuple[int | None, int | None]:
        with opened(path) as con:
            rows = outcomes_report(con, PERIOD.with_clinics(clinics), K11)
        row = next(r for r in rows if r["instrument"] == "phq9" and r["clinic_id"] is None)
        return row["evaluable"], row["responders"]

    # whole network 31; {A, B} would give C as 31 − 27 = 4, {B} B itself, {A, C} B as 31 − 19 = 12
    assert network("A", "B", "C") == (31, 11)
    assert network("A", "B")[0] is None
    assert network("B")[0] is None
    assert network("A", "C")[0] is None
    assert network("A") == (15, 11)
    assert network("B", "C") == (16, 0)  # the whole block: only its sum, which is ≥ k


def test_block_rule_cases() -> None:
    k = MetricConfig(suppression_k=11)
    # one below k → the smallest non-zero clinic outside joins until the block holds ≥ k; ties: first id
    assert suppressed_block({"A": 15, "B": 12, "C": 4}, k) == {"B", "C"}
    assert suppressed_block({"A": 12, "B": 12, "C": 4}, k) == {"A", "C"}
    # two below k holding 9 < k together: a third joins (v1 published their sum of 9)
    assert suppressed_block({"A": 20, "B": 5, "C": 4}, k) == {"A", "B", "C"}
    assert suppressed_block({"A": 20, "B": 6, "C": 5}, k) == {"B", "C"}  # 11 together
    # a clinic with 0 is never a partner (hiding it hides nothing), and 0 itself is shown
    assert suppressed_block({"A": 20, "B": 0, "C": 4}, k) == {"A", "C"}
    assert suppressed_block({"A": 20, "B": 0}, k) == set()
    assert suppressed_block({"A": 4}, k) == {"A"}
    assert suppressed_block({"A": 1, "B": 0}, MetricConfig(suppression_k=0)) == set()
    block = suppressed_block({"A": 15, "B": 12, "C": 4}, k)
    counts = {"A": 15, "B": 12, "C": 4}
    assert [shown(s, counts, block, k) for s in ({"A"}, {"B", "C"}, {"A", "B"}, {"C"}, {"A", "B", "C"})] == [
        True,
        True,
        False,
        False,
        True,
    ]


@st.composite
def _networks(draw: st.DrawFn) -> tuple[dict[str, int], int, set[str], set[str]]:
    n = draw(st.integers(1, 7))
    clinics = [f"C{i}" for i in range(n)]
    counts = {c: draw(st.one_of(st.just(0), st.integers(1, 12), st.integers(1, 60))) for c in clinics}
    k = draw(st.integers(1, 15))
    first = set(draw(st.lists(st.sampled_from(clinics), unique=True)))
    second = set(draw(st.lists(st.sampled_from(clinics), unique=True)))
    return counts, k, first, second


@settings(max_examples=400, deadline=None)
@given(_networks())
def test_no_two_shown_selections_difference_a_small_clinic(
    net: tuple[dict[str, int], int, set[str], set[str]],
) -> None:
    """For any network and any two clinic selections, shown figures never isolate a clinic of 1..k−1.

    Nested selections (S2 ⊆ S1) differ by the clinics of S1 − S2: that sum is never 1..k−1.
    Any two selections: the non-zero clinics where they differ are never one small clinic alone.
    """
    counts, k, first, second = net
    cfg = MetricConfig(suppression_k=k)
    block = suppressed_block(counts, cfg)
    small = {c for c, n in counts.items() if 0 < n < k}  # restated here, not taken from the code
    assert small <= block
    for c in small:  # a small clinic alone is never shown
        assert not shown({c}, counts, block, cfg)
    pairs = [(first, second), (first | second, second), (first | second, first), (first, first & second)]
    for s1, s2 in pairs:
        if not (shown(s1, counts, block, cfg) and shown(s2, counts, block, cfg)):
            continue
        total1, total2 = sum(counts[c] for c in s1), sum(counts[c] for c in s2)
        if s2 <= s1:
            assert not 0 < total1 - total2 < k, (counts, k, s1, s2)
        differing = {c for c in s1 ^ s2 if counts[c] > 0}
        assert not (len(differing) == 1 and differing <= small), (counts, k, s1, s2)
