"""Small-cell suppression of outcome figures (metrics.md "Small-cell suppression")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from dashboard.metrics.outcomes import clinic_comparison, outcome_measures, time_to_response, trajectory
from dashboard.metrics.outcomes.suppression import suppressed_clinics
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


def test_suppressed_below_k(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    add_cohort(b, "A", 10, 6, "a")  # k − 1 evaluable …
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
    }
    assert [r["clinic_id"] for r in rows] == [None, "A"]
    assert all({k: r[k] for k in hidden} == hidden for r in rows)
    with opened(make_db(b.rows)) as con:
        m = outcome_measures(con, PERIOD, K11)
        km = time_to_response(con, PERIOD, K11, "depression", "phq9")
        traj = trajectory(con, PERIOD, K11, "depression", "phq9")
    dep = m.filter(pl.col("instrument") == "phq9")
    assert dep["suppressed"].all() and dep["estimate"].is_null().all() and dep["numerator"].is_null().all()
    assert dep["cohort"].is_null().all()
    assert km["suppressed"] is True and km["curve"].is_empty()
    # trajectory cells stand on their own: 11 baseline scores at session 0 are shown, the 10 at #1 not
    assert traj.select("session_number", "n", "suppressed").rows() == [(0, 11, False), (1, None, True)]
    assert traj["median"].to_list() == [20, None]


def test_shown_at_k(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    add_cohort(b, "A", 11, 6, "a")
    rows = phq9_report(make_db, b, K11)
    assert [(r["clinic_id"], r["evaluable"], r["responders"], r["suppressed"]) for r in rows] == [
        (None, 11, 6, False),
        ("A", 11, 6, False),
    ]
    assert rows[0]["response_rate"] == pytest.approx(6 / 11)


def test_zero_disables_suppression(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    add_cohort(b, "A", 1, 1, "a")
    rows = phq9_report(make_db, b, MetricConfig(suppression_k=0))
    assert [(r["evaluable"], r["responders"], r["suppressed"]) for r in rows] == [
        (1, 1, False),
        (1, 1, False),
    ]


def test_complementary_suppression(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    add_cohort(b, "A", 15, 9, "a")
    add_cohort(b, "B", 12, 5, "b")
    add_cohort(b, "C", 4, 2, "c")
    rows = phq9_report(make_db, b, K11)
    # C (4 < 11) is suppressed; network 31 minus A 15 would give C, so B (the smallest shown, 12) goes too
    assert [(r["clinic_id"], r["evaluable"], r["responders"], r["suppressed"]) for r in rows] == [
        (None, 31, 16, False),
        ("A", 15, 9, False),
        ("B", None, None, True),
        ("C", None, None, True),
    ]
    with opened(make_db(b.rows)) as con:
        comp, network = clinic_comparison(con, PERIOD, K11, "depression", "phq9")
    assert network["evaluable"] == 31 and network["response_rate"] == pytest.approx(16 / 31)
    shown = comp.filter(~pl.col("suppressed"))
    assert shown["clinic_id"].to_list() == ["A"]
    assert comp.filter(pl.col("suppressed"))["evaluable"].is_null().all()
    assert sorted(comp.filter(pl.col("suppressed"))["clinic_id"].to_list()) == ["B", "C"]


def test_complementary_rule_cases() -> None:
    k = MetricConfig(suppression_k=11)
    # one below k → the next-smallest shown clinic too; ties on size go to the first clinic_id
    assert suppressed_clinics({"A": 15, "B": 12, "C": 4}, k) == {"B", "C"}
    assert suppressed_clinics({"A": 12, "B": 12, "C": 4}, k) == {"A", "C"}
    # two below k only reveal their sum: nothing more
    assert suppressed_clinics({"A": 20, "B": 5, "C": 4}, k) == {"B", "C"}
    # a single clinic below k is the network itself (also suppressed)
    assert suppressed_clinics({"A": 4}, k) == {"A"}
    # network below k: every clinic is below k
    assert suppressed_clinics({"A": 5, "B": 5}, k) == {"A", "B"}
    # an evaluable count of 0 still counts as a suppressed cell
    assert suppressed_clinics({"A": 20, "B": 0}, k) == {"A", "B"}
    assert suppressed_clinics({"A": 1, "B": 0}, MetricConfig(suppression_k=0)) == set()
