"""Outcomes per clinic: the report rows and the clinic comparison's funnel limits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dashboard.metrics.outcomes import clinic_comparison, outcomes_report
from tests.dashboard.metrics.outcomes.outcome_rows import (
    K11,
    NO_SUPPRESSION,
    PERIOD,
    Builder,
    add_cohort,
    opened,
)


def test_report_rows(rules_db: Path) -> None:
    with opened(rules_db) as con:
        rows = outcomes_report(con, PERIOD, NO_SUPPRESSION)
    dep = [r for r in rows if r["condition"] == "depression" and r["instrument"] == "phq9"]
    # A: D1, D3 evaluable, both respond, D3 remits; B: D6, D7 evaluable, D7 responds
    assert dep == [
        {
            "condition": "depression",
            "instrument": "phq9",
            "clinic_id": None,
            "evaluable": 4,
            "responders": 3,
            "response_rate": 0.75,
            "remitters": 1,
            "remission_rate": 0.25,
            "suppressed": False,
            "suppressed_figures": [],
            "maturing": 0,
        },
        {
            "condition": "depression",
            "instrument": "phq9",
            "clinic_id": "A",
            "evaluable": 2,
            "responders": 2,
            "response_rate": 1.0,
            "remitters": 1,
            "remission_rate": 0.5,
            "suppressed": False,
            "suppressed_figures": [],
            "maturing": 0,
        },
        {
            "condition": "depression",
            "instrument": "phq9",
            "clinic_id": "B",
            "evaluable": 2,
            "responders": 1,
            "response_rate": 0.5,
            "remitters": 0,
            "remission_rate": 0.0,
            "suppressed": False,
            "suppressed_figures": [],
            "maturing": 0,
        },
    ]
    pain = [r for r in rows if r["condition"] == "chronic_pain"]
    assert pain[0]["remitters"] is None and pain[0]["remission_rate"] is None
    assert pain[0]["response_rate"] == 0.5
    # order: conditions in contract order, primary instrument first, network row first
    keys = [(r["condition"], r["instrument"], r["clinic_id"]) for r in rows]
    assert keys[:5] == [
        ("depression", "phq9", None),
        ("depression", "phq9", "A"),
        ("depression", "phq9", "B"),
        ("depression", "madrs", None),
        ("depression", "madrs", "A"),
    ]
    assert ("other", "gad7", None) in keys
    assert not any(c == "other" and i is None for c, i, _ in keys)
    assert set(rows[0]) == {
        "condition",
        "instrument",
        "clinic_id",
        "evaluable",
        "responders",
        "response_rate",
        "remitters",
        "remission_rate",
        "suppressed",
        "suppressed_figures",
        "maturing",
    }


def test_clinic_comparison_limits(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    # every count 0 or ≥ k = 11, so nothing is suppressed (2 of 20 would hide B's responders)
    add_cohort(b, "A", 20, 20, "a")
    add_cohort(b, "B", 20, 0, "b")
    with opened(make_db(b.rows)) as con:
        comp, network = clinic_comparison(con, PERIOD, K11, "depression", "phq9")
    assert network["response_rate"] == pytest.approx(0.5)
    rows = {r["clinic_id"]: r for r in comp.to_dicts()}
    # Binomial(20, 0.5): F(13) = 0.9423 < 0.975 ≤ F(14) = 0.9793, so the 97.5% quantile is 14;
    # Spiegelhalter's interpolated limit 14 − (0.9793 − 0.975)/(0.9793 − 0.9423) = 13.884
    assert rows["A"]["upper95"] == pytest.approx(13.884 / 20, abs=2e-3)
    assert rows["A"]["flag"] == "above_998"  # 20/20 is above even the 99.8% limit (F(16) = 0.9987 < 0.999)
    assert rows["B"]["flag"] == "below_998"
    assert rows["A"]["ci_low"] == pytest.approx(
        20 / (20 + 1.959964**2), abs=1e-4
    )  # Wilson at x = n: n/(n+z²)
