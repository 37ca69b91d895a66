"""Time to response (Kaplan–Meier) on the hand-written fixture."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from dashboard.metrics.outcomes import time_to_response, time_to_response_from
from pipelines.model.config import MetricConfig
from tests.dashboard.metrics.outcomes.outcome_rows import (
    NO_SUPPRESSION,
    PERIOD,
    opened,
)


def test_time_to_response_km(rules_db: Path) -> None:
    with opened(rules_db) as con:
        km = time_to_response(con, PERIOD, NO_SUPPRESSION, "depression", "phq9")
    # eligible (valid baseline + a follow-up score): D1 event day 5, D3 event day 20 (day 3 was 20%),
    # D5 censored 50, D6 censored 28, D7 event 42. S: 4/5, ·3/4 = 0.6, (28 censored), ·1/2 = 0.3
    assert km["n"] == 5 and km["suppressed"] is False
    curve = km["curve"]
    assert curve["day"].to_list() == [5, 20, 28, 42, 50]
    assert curve["at_risk"].to_list() == [5, 4, 3, 2, 1]
    assert curve["responded"].to_list() == pytest.approx([0.2, 0.4, 0.4, 0.7, 0.7])
    at_risk = dict(zip(km["at_risk"]["day"], km["at_risk"]["at_risk"], strict=True))
    assert at_risk[0] == 5 and at_risk[28] == 3 and at_risk[60] == 0


def _km_patients(event_days: list[int | None], last_days: list[int]) -> pl.DataFrame:
    n = len(last_days)
    return pl.DataFrame(
        {
            "condition": ["depression"] * n,
            "instrument": ["phq9"] * n,
            "km_eligible": [True] * n,
            "event_day": event_days,
            "last_day": last_days,
        },
        schema_overrides={"event_day": pl.Int64},
    )


def test_curve_ends_at_the_last_time_with_k_at_risk_and_hides_small_at_risk_labels() -> None:
    # events on days 5, 10, 15, 20; one patient censored at day 30. At risk just before each time:
    # day 5: 5, 10: 4, 15: 3, 20: 2, 30: 1. With k = 3 the curve stops at day 15 (3 at risk, ≥ k),
    # not at 10 (a ">" rule) nor at 30 (no rule). Numbers at risk under the axis (followed ≥ t days):
    # day 0: 5, day 14: 3 (15, 20, 30) shown, day 28: 1 (30) hidden, day 42: 0 shown.
    patients = _km_patients([5, 10, 15, 20, None], [5, 10, 15, 20, 30])
    km = time_to_response_from(patients, MetricConfig(suppression_k=3), "depression", "phq9")
    assert km["curve"]["day"].to_list() == [5, 10, 15]
    assert km["curve"]["at_risk"].to_list() == [5, 4, 3]
    assert km["curve"]["responded"].to_list() == pytest.approx([0.2, 0.4, 0.6])
    labels = {r["day"]: (r["at_risk"], r["suppressed"]) for r in km["at_risk"].to_dicts()}
    assert labels[0] == (5, False) and labels[14] == (3, False)
    assert labels[28] == (None, True) and labels[42] == (0, False)
    # k = 0: the whole curve, every label
    whole = time_to_response_from(patients, MetricConfig(suppression_k=0), "depression", "phq9")
    assert whole["curve"]["day"].to_list() == [5, 10, 15, 20, 30]
    assert not whole["at_risk"]["suppressed"].any()


def test_curve_hidden_below_k_patients() -> None:
    patients = _km_patients([5, None], [5, 9])
    km = time_to_response_from(patients, MetricConfig(suppression_k=3), "depression", "phq9")
    assert km["suppressed"] is True and km["n"] is None and km["curve"].is_empty()
