"""Time to response (Kaplan–Meier) on the hand-written fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.metrics.outcomes import time_to_response
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
