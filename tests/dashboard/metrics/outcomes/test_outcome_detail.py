"""The Outcomes page's bundle of one (condition, instrument) from a single load."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.metrics.outcomes import outcome_detail
from tests.dashboard.metrics.outcomes.outcome_rows import (
    NO_SUPPRESSION,
    PERIOD,
    opened,
)


def test_detail_bundles_the_page_figures(rules_db: Path) -> None:
    with opened(rules_db) as con:
        detail = outcome_detail(con, PERIOD, NO_SUPPRESSION, "depression", "phq9")
    # the hand figures of the KM and report tests: KM 0.2, 0.4, 0.4, 0.7, 0.7; network 3/4; A 2/2, B 1/2
    assert detail["time_to_response"]["curve"]["responded"].to_list() == pytest.approx(
        [0.2, 0.4, 0.4, 0.7, 0.7]
    )
    assert (detail["network"]["evaluable"], detail["network"]["responders"]) == (4, 3)
    clinics = {r["clinic_id"]: (r["evaluable"], r["responders"]) for r in detail["clinics"].to_dicts()}
    assert clinics == {"A": (2, 2), "B": (2, 1)}
    # session 0 = scores before day 0's time (latest per patient): D1 20 (−30 d), D3 25 (−5 d; its score at
    # day 0's exact time belongs to session 1), D4 0, D5 16, D6 12, D7 10; D2's −31 d score is not loaded.
    # sorted 0, 10, 12, 16, 20, 25 → median (12 + 16) / 2 = 14
    traj = {r["session_number"]: r for r in detail["trajectory"].to_dicts()}
    assert (traj[0]["n"], traj[0]["median"]) == (6, 14)
