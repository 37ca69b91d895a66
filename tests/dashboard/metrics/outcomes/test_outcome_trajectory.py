"""Score trajectory by administered session number."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dashboard.metrics.outcomes import trajectory
from tests.dashboard.metrics.outcomes.outcome_rows import (
    NO_SUPPRESSION,
    PERIOD,
    Builder,
    d,
    opened,
)


def test_trajectory_session_mapping(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    # P1: sessions day 0, 2, 4 (and a no-show day 3); P2: sessions day 0, 3
    b.patient("P1", "depression")
    s2 = b.session("P1", d(2))
    b.session("P1", d(3), status="no_show")
    b.session("P1", d(4))
    b.patient("P2", "depression")
    b.session("P2", d(3))
    b.score("P1", "phq9", d(-2), 20)  # before treatment → session 0
    b.score("P1", "phq9", d(3, hours=2), 14)  # after the no-show: latest administered at/before is #2
    b.score("P1", "phq9", d(5), 12, session_id=s2)  # linked to session #2 → #2 (latest there: 12 wins)
    b.score("P1", "phq9", d(4), 10)  # at session #3's exact time → #3
    b.score("P2", "phq9", d(-1), 24)  # → 0
    b.score("P2", "phq9", d(0, hours=1), 18)  # → 1
    b.score("P2", "phq9", d(0, hours=2), 17, session_id=s2)  # names P1's session: ignored → 1
    b.score("P2", "phq9", d(3), 16)  # → 2
    with opened(make_db(b.rows)) as con:
        t = trajectory(con, PERIOD, NO_SUPPRESSION, "depression", "phq9")
    by = {r["session_number"]: r for r in t.to_dicts()}
    assert sorted(by) == [0, 1, 2, 3]
    # session 0: {20, 24} → median 22, q1 = 20 + 0.25·4 = 21, q3 = 23
    assert (by[0]["n"], by[0]["median"], by[0]["q1"], by[0]["q3"]) == (2, 22, 21, 23)
    # session 2: P1's latest at #2 is 12 (day 5), P2's is 16 → median 14
    assert (by[2]["n"], by[2]["median"]) == (2, 14)
    assert (by[1]["n"], by[1]["median"]) == (1, 17)  # P2's latest at #1 (as #2 it would be 18)
    assert (by[3]["n"], by[3]["median"]) == (1, 10)
