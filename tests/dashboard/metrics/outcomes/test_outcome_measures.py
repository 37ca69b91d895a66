"""Network outcome measures (metrics.md "Outcomes"): every rule on the hand-written fixture."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from dashboard.metrics.outcomes import outcome_measures, outcome_summary, outcomes_report
from tests.dashboard.metrics.outcomes.outcome_rows import (
    DAY0,
    NO_SUPPRESSION,
    PERIOD,
    Builder,
    d,
    measure,
    opened,
)


def test_depression_rules(rules_db: Path) -> None:
    with opened(rules_db) as con:
        m = outcome_measures(con, PERIOD, NO_SUPPRESSION)
    # evaluable: D1, D3, D6, D7 (D2 no baseline, D4 baseline 0, D5 no endpoint); responders D1, D3, D7
    resp = measure(m, "depression", "phq9", "response")
    assert (resp["numerator"], resp["denominator"]) == (3, 4)
    assert resp["estimate"] == pytest.approx(0.75)
    # Wilson 95% for 3/4 (Newcombe 1998 table: 0.3006–0.9544)
    assert resp["ci_low"] == pytest.approx(0.3006, abs=1e-4)
    assert resp["ci_high"] == pytest.approx(0.9544, abs=1e-4)
    rem = measure(m, "depression", "phq9", "remission")
    assert (rem["numerator"], rem["denominator"]) == (1, 4)  # only D3 (4 < 5); D7's 5 is not < 5
    # mean change: (8−20) + (4−10) + (15−12) + (5−10) = −20 over 4 → −5
    mc = measure(m, "depression", "phq9", "mean_change")
    assert mc["estimate"] == pytest.approx(-5.0)
    # t CI: changes −12, −6, 3, −5; sd = sqrt(((−7)²+(−1)²+8²+0²)/3) = sqrt(38); t(0.975, 3) = 3.182446
    half = 3.182446305284263 * 38**0.5 / 2
    assert mc["ci_low"] == pytest.approx(-5 - half) and mc["ci_high"] == pytest.approx(-5 + half)
    rapid = measure(m, "depression", "phq9", "rapid_response")
    assert (rapid["numerator"], rapid["denominator"]) == (1, 2)  # D1 yes, D3 no
    dur = measure(m, "depression", "phq9", "durability")
    assert (dur["numerator"], dur["denominator"]) == (1, 2)  # D1 (day 90) yes, D3 (day 100) no, D7 no score
    worse = measure(m, "depression", "phq9", "worsening")
    # D6 12 → 15 rises 3 points, under PHQ-9's reliable change of 6 (v1's 20% rule made it a worsening)
    assert (worse["numerator"], worse["denominator"]) == (0, 4)
    ide = measure(m, "depression", "cssrs_ideation", "ideation_improved")
    assert (ide["numerator"], ide["denominator"]) == (1, 2)  # D1 2→0 lower, D3 1→1 not, D6 baseline 0 out
    assert measure(m, "depression", "phq9", "response")["cohort"] == 7
    madrs = measure(m, "depression", "madrs", "remission")
    assert (madrs["numerator"], madrs["denominator"]) == (1, 1)  # MADRS 10 ≤ 10
    # secondaries without any score are not shown
    assert m.filter((pl.col("condition") == "depression") & (pl.col("instrument") == "qids_sr16")).is_empty()


def test_other_conditions_rules(rules_db: Path) -> None:
    with opened(rules_db) as con:
        m = outcome_measures(con, PERIOD, NO_SUPPRESSION)
    # PTSD: T1 −10 responds, T2 −9 does not; T3's baseline 0 is below PCL-5 caseness (33): not evaluable
    r = measure(m, "ptsd", "pcl5", "response")
    assert (r["numerator"], r["denominator"]) == (1, 2)
    assert r["below_caseness"] == 1
    r = measure(m, "ptsd", "pcl5", "remission")
    assert (r["numerator"], r["denominator"]) == (1, 2)  # T1's 30 < 33; T2's 41 is not
    # OCD: 35% exactly (20→13) responds, 30% does not, 60% does; remission only 12 ≤ 12
    r = measure(m, "ocd", "ybocs", "response")
    assert (r["numerator"], r["denominator"]) == (2, 3)
    r = measure(m, "ocd", "ybocs", "remission")
    assert (r["numerator"], r["denominator"]) == (1, 3)
    # chronic pain: 37.5% responds, 16.7% does not; no remission rule → no remission figure
    r = measure(m, "chronic_pain", "pain_nrs", "response")
    assert (r["numerator"], r["denominator"]) == (1, 2)
    assert m.filter((pl.col("condition") == "chronic_pain") & (pl.col("measure") == "remission")).is_empty()
    # "other": no primary, the GAD-7 secondary is shown
    r = measure(m, "other", "gad7", "remission")
    assert (r["numerator"], r["denominator"]) == (1, 1)
    # anxiety: E1's day 0 is its first administered session (day 2), E2 started before the period
    r = measure(m, "anxiety", "gad7", "response")
    assert (r["numerator"], r["denominator"]) == (1, 1)
    assert r["cohort"] == 1


def test_summary_is_wide(rules_db: Path) -> None:
    with opened(rules_db) as con:
        s = outcome_summary(con, PERIOD, NO_SUPPRESSION)
    row = s.filter((pl.col("condition") == "ocd") & (pl.col("instrument") == "ybocs")).to_dicts()[0]
    assert row["response"] == pytest.approx(2 / 3) and row["response_denominator"] == 3
    assert row["remission_n"] == 1 and row["response_suppressed"] is False


def test_windows_take_scores_in_time_order_not_file_order(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    # R1: scores arrive out of time order. Endpoint = the latest by time within 42 days: day 20's 4
    # (80% → responder, 4 < 5 → remitted), not day 10's 18, which came later in the file.
    b.patient("R1", "depression")
    b.score("R1", "phq9", d(2), 8)  # rapid window (≤ 7 days): the *first* score, 8 → 60% → rapid responder
    b.score("R1", "phq9", d(6), 15)  # second rapid-window score (25%): not the one that counts
    b.score("R1", "phq9", d(20), 4)
    b.score("R1", "phq9", d(10), 18)
    b.score("R1", "phq9", d(-1), 20)
    # R2, R3: two endpoint scores at the same instant: the tie goes to the higher assessment id
    # ("…2": 9, 55% → responder; "…1" would be 12, 40%), whichever comes first in the file
    for key, first, second in (("R2", ("t1", 12), ("t2", 9)), ("R3", ("u2", 9), ("u1", 12))):
        b.patient(key, "depression")
        b.score(key, "phq9", d(-1), 20)
        for assessment_id, score in (first, second):
            b.score(key, "phq9", d(21), score, assessment_id=assessment_id)
    with opened(make_db(b.rows)) as con:
        m = outcome_measures(con, PERIOD, NO_SUPPRESSION)
    resp = measure(m, "depression", "phq9", "response")
    assert (resp["numerator"], resp["denominator"]) == (3, 3)
    rem = measure(m, "depression", "phq9", "remission")
    assert (rem["numerator"], rem["denominator"]) == (1, 3)  # R1's 4 < 5; the 9s are not
    rapid = measure(m, "depression", "phq9", "rapid_response")
    assert (rapid["numerator"], rapid["denominator"]) == (1, 1)  # R2, R3 have no score within 7 days
    # mean change: (4 − 20) + 2 × (9 − 20) = −38 over 3
    assert measure(m, "depression", "phq9", "mean_change")["estimate"] == pytest.approx(-38 / 3)


def test_day0_tie_goes_to_the_lower_session_id(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    first = b.patient("T", "depression", clinic="B")  # session id s0 …
    second = b.session("T", DAY0, clinic="A")  # … and s1 at the same time at clinic A
    assert first < second
    b.score("T", "phq9", d(-1), 20)
    b.score("T", "phq9", d(21), 5)
    with opened(make_db(b.rows)) as con:
        rows = outcomes_report(con, PERIOD, NO_SUPPRESSION)
    assert [(r["clinic_id"], r["evaluable"]) for r in rows] == [(None, 1), ("B", 1)]


def test_filters_apply(rules_db: Path) -> None:
    with opened(rules_db) as con:
        only_b = outcomes_report(con, replace(PERIOD, clinic_ids=("B",)), NO_SUPPRESSION)
        later = outcomes_report(
            con, replace(PERIOD, start=date(2026, 4, 1), end=date(2026, 4, 30)), NO_SUPPRESSION
        )
    assert {r["condition"] for r in only_b} == {"depression"}
    net = next(r for r in only_b if r["instrument"] == "phq9" and r["clinic_id"] is None)
    assert (net["evaluable"], net["responders"]) == (2, 1)
    assert later == []
