"""Outcomes v2 (metrics.md "Outcomes"): maturity, caseness, the baseline linked to day 0, reliable
worsening, the ideation signal and measurement-based-care completeness, on hand-worked cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from dashboard.metrics.outcomes import ideation_signals, mbc_completeness, outcome_measures, outcomes_report
from tests.dashboard.metrics.outcomes.outcome_rows import (
    DAY0,
    NO_SUPPRESSION,
    PERIOD,
    Builder,
    d,
    measure,
    opened,
)


def _one_responder(last_days_after_day0: int) -> Builder:
    b = Builder(last_date=DAY0 + timedelta(days=last_days_after_day0, hours=5))
    b.patient("M1", "depression")
    b.score("M1", "phq9", d(-1), 20)
    b.score("M1", "phq9", d(21), 5)
    return b


@pytest.mark.parametrize(("last", "evaluable", "maturing"), [(41, 0, 1), (42, 1, 0)])
def test_only_mature_patients_are_evaluable(
    make_db: Callable[[dict], Path], last: int, evaluable: int, maturing: int
) -> None:
    # day 0 on exactly the data's last date − 42 is mature; − 41 is not (dates, not times: the
    # last session is at 14:00, day 0 at 09:00)
    with opened(make_db(_one_responder(last).rows)) as con:
        m = outcome_measures(con, PERIOD, NO_SUPPRESSION)
        report = outcomes_report(con, PERIOD, NO_SUPPRESSION)
    resp = measure(m, "depression", "phq9", "response")
    assert (resp["denominator"], resp["maturing"], resp["cohort"]) == (evaluable, maturing, 1)
    row = next(r for r in report if r["instrument"] == "phq9" and r["clinic_id"] is None)
    assert (row["evaluable"], row["maturing"]) == (evaluable, maturing)


def test_durability_needs_120_days(make_db: Callable[[dict], Path]) -> None:
    b = _one_responder(119)
    b.score("M1", "phq9", d(90), 6)  # still responding at day 90
    with opened(make_db(b.rows)) as con:
        young = measure(outcome_measures(con, PERIOD, NO_SUPPRESSION), "depression", "phq9", "durability")
    b = _one_responder(120)
    b.score("M1", "phq9", d(90), 6)
    with opened(make_db(b.rows)) as con:
        old = measure(outcome_measures(con, PERIOD, NO_SUPPRESSION), "depression", "phq9", "durability")
    assert young["denominator"] == 0 and (old["numerator"], old["denominator"]) == (1, 1)


def test_caseness_baseline_linked_and_reliable_worsening(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    # below caseness: PHQ-9 8 < 10 → 3 would be a "remitter" without improving much; not evaluable
    b.patient("low", "depression")
    b.score("low", "phq9", d(-1), 8)
    b.score("low", "phq9", d(21), 3)
    # pre-infusion questionnaire linked to the day-0 session, logged 5 minutes after the booked time
    day0 = b.patient("late", "depression")
    b.score("late", "phq9", d(-7), 22)  # an older score, superseded by the linked one
    b.score("late", "phq9", d(0, hours=5 / 60), 10, session_id=day0)  # baseline 10, not a day-0 follow-up
    b.score("late", "phq9", d(3), 9)  # first follow-up: 10 → 9 is no rapid response
    b.score("late", "phq9", d(21), 4)  # endpoint: 60% → responder; 4 < 5 → remitted
    # worsening: PHQ-9 needs a rise of 6 points
    b.patient("w6", "depression")
    b.score("w6", "phq9", d(-1), 10)
    b.score("w6", "phq9", d(21), 16)  # +6: worsened
    b.patient("w5", "depression")
    b.score("w5", "phq9", d(-1), 10)
    b.score("w5", "phq9", d(21), 15)  # +5: not
    # Y-BOCS has no points threshold: ≥ 20% of baseline and ≥ 2 points
    b.patient("y4", "ocd")
    b.score("y4", "ybocs", d(-1), 20)
    b.score("y4", "ybocs", d(21), 24)  # +4 = 20%: worsened
    b.patient("y3", "ocd")
    b.score("y3", "ybocs", d(-1), 16)
    b.score("y3", "ybocs", d(21), 19)  # +3 < 3.2: not
    with opened(make_db(b.rows)) as con:
        m = outcome_measures(con, PERIOD, NO_SUPPRESSION)
    resp = measure(m, "depression", "phq9", "response")
    # evaluable: late, w6, w5 (low is below caseness); responders: late
    assert (resp["numerator"], resp["denominator"], resp["below_caseness"]) == (1, 3, 1)
    rem = measure(m, "depression", "phq9", "remission")
    assert (rem["numerator"], rem["denominator"]) == (1, 3)  # late only; low's 3 does not count
    rapid = measure(m, "depression", "phq9", "rapid_response")
    # late's first follow-up is day 3's 9 (the linked 10 is its baseline); w6, w5 have none in 7 days
    assert (rapid["numerator"], rapid["denominator"]) == (0, 1)
    worse = measure(m, "depression", "phq9", "worsening")
    assert (worse["numerator"], worse["denominator"]) == (1, 3)  # w6
    worse = measure(m, "ocd", "ybocs", "worsening")
    assert (worse["numerator"], worse["denominator"]) == (1, 2)  # y4


def test_ideation_signal_lists_patients_whose_ideation_rose(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    b.patient("rise", "depression")
    b.score("rise", "cssrs_ideation", d(-1), 1)
    b.score("rise", "cssrs_ideation", d(10), 3)  # 1 → 3: listed, day 10
    b.score("rise", "cssrs_ideation", d(20), 4)
    b.patient("same", "depression")
    b.score("same", "cssrs_ideation", d(-1), 3)
    b.score("same", "cssrs_ideation", d(10), 3)  # stayed at 3: no rise
    b.patient("nobase", "bipolar_depression", clinic="B")
    b.score("nobase", "cssrs_ideation", d(5), 4)  # no baseline: any score ≥ 3 after day 0
    b.patient("low", "depression")
    b.score("low", "cssrs_ideation", d(5), 2)  # below 3: no
    with opened(make_db(b.rows)) as con:
        signals = ideation_signals(con, PERIOD)
        only_b = ideation_signals(con, PERIOD.with_clinics(("B",)))
    rows = [
        (r["patient_key"], r["baseline"], r["rose_to"], r["rose_at"], r["peak_after"])
        for r in signals.to_dicts()
    ]
    assert rows == [("rise", 1, 3, d(10), 4), ("nobase", None, 4, d(5), 4)]  # newest rise first
    assert only_b["patient_key"].to_list() == ["nobase"]


def test_mbc_completeness_by_clinic(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    day0 = b.patient("P1", "depression")
    b.score("P1", "phq9", d(0, hours=0.1), 18, session_id=day0)  # linked: scores session 1, baseline
    b.session("P1", d(2))
    b.score("P1", "phq9", d(2, hours=3), 12)  # same date as session 2: scores it; endpoint
    b.session("P1", d(4))  # not scored
    b.patient("P2", "depression")  # no scores at all
    b.patient("P3", "depression", clinic="B")
    b.score("P3", "phq9", d(-2), 15)  # a baseline, but not on a session's date
    with opened(make_db(b.rows)) as con:
        mbc = {r["clinic_id"]: r for r in mbc_completeness(con, PERIOD, NO_SUPPRESSION).to_dicts()}
    a = mbc["A"]
    assert (a["cohort"], a["baseline_share"], a["mature"], a["endpoint_share"]) == (2, 0.5, 2, 0.5)
    assert (a["sessions"], a["scored_session_share"]) == (4, 0.5)  # P1: 2 of 3 sessions, P2: 0 of 1
    bb = mbc["B"]
    assert (bb["cohort"], bb["baseline_share"], bb["endpoint_share"], bb["scored_session_share"]) == (
        1,
        1.0,
        0.0,
        0.0,
    )
