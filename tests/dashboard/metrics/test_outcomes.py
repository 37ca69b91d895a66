"""Outcomes (metrics.md): every rule on a hand-written fixture, and small-cell suppression.

Expected figures are worked out by hand in the comments; none is computed by
the code under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from dashboard.metrics.config import MetricConfig
from dashboard.metrics.filters import Filters
from dashboard.metrics.outcomes import (
    PRIMARY_INSTRUMENT,
    RULES,
    clinic_comparison,
    outcome_detail,
    outcome_measures,
    outcome_summary,
    outcomes_report,
    rules_markdown,
    suppressed_clinics,
    time_to_response,
    trajectory,
)

DAY0 = datetime(2026, 3, 10, 9, 0)
PERIOD = Filters(start=date(2026, 3, 1), end=date(2026, 3, 31), clinic_ids=("A", "B", "C"))
NO_SUPPRESSION = MetricConfig(suppression_k=0)


def d(days: float, hours: float = 0) -> datetime:
    return DAY0 + timedelta(days=days, hours=hours)


class Builder:
    """Rows for make_db: clinics A, B, C and patients whose first administered session is day 0."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {
            "clinics": [
                {
                    "clinic_id": c,
                    "clinic_name": f"Clinic {c}",
                    "region": "North",
                    "opened_on": date(2020, 1, 1),
                    "chairs": 4,
                    "hours_per_day": 10.0,
                }
                for c in ("A", "B", "C")
            ],
            "patients": [],
            "sessions": [],
            "assessments": [],
        }
        self._ids = iter(range(10**6))

    def patient(self, key: str, condition: str, clinic: str = "A", day0: datetime = DAY0) -> str:
        self.rows["patients"].append(
            {
                "patient_key": key,
                "home_clinic_id": clinic,
                "sex": "F",
                "age_band": "35-44",
                "primary_condition": condition,
                "enrolled_on": date(2026, 1, 1),
            }
        )
        return self.session(key, day0, clinic)

    def session(self, key: str, when: datetime, clinic: str = "A", status: str = "completed") -> str:
        sid = f"s{next(self._ids)}"
        administered = status in ("completed", "stopped_early")
        self.rows["sessions"].append(
            {
                "session_id": sid,
                "patient_key": key,
                "clinic_id": clinic,
                "scheduled_at": when,
                "status": status,
                "phase": "induction",
                "route": "iv",
                "modality": "infusion",
                "dose_mg": 35.0 if administered else None,
                "weight_kg": 70.0 if administered else None,
                "duration_min": 40 if administered else None,
            }
        )
        return sid

    def score(
        self,
        key: str,
        instrument: str,
        when: datetime,
        score: float,
        session_id: str | None = None,
        assessment_id: str | None = None,
    ) -> None:
        self.rows["assessments"].append(
            {
                "assessment_id": assessment_id or f"a{next(self._ids)}",
                "patient_key": key,
                "clinic_id": "A",
                "instrument": instrument,
                "score": score,
                "assessed_at": when,
                "session_id": session_id,
            }
        )


@contextmanager
def opened(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def rules_fixture() -> Builder:
    b = Builder()
    # --- depression (PHQ-9, ≥ 50% reduction, remission < 5)
    b.patient("D1", "depression")
    b.score("D1", "phq9", d(-30), 20)  # baseline exactly 30 days before: in the window
    b.score("D1", "phq9", d(5), 9)  # first score within 7 days: 11/20 = 55% → rapid responder
    b.score("D1", "phq9", d(42), 8)  # endpoint at day 42: 12/20 = 60% → responder; 8 ≥ 5 → not remitted
    b.score("D1", "phq9", d(90), 9)  # latest 60–120 days: still 55% → durable
    b.score("D1", "madrs", d(-1), 30)  # secondary: 30 → 10 = 67% → responder; 10 ≤ 10 → remitted
    b.score("D1", "madrs", d(30), 10)
    b.score("D1", "cssrs_ideation", d(-1), 2)  # ideation 2 → 0: lower
    b.score("D1", "cssrs_ideation", d(14), 0)
    b.patient("D2", "depression")
    b.score("D2", "phq9", d(-31), 20)  # 31 days before: outside → no baseline → not evaluable
    b.score("D2", "phq9", d(10), 4)
    b.patient("D3", "depression")
    b.score("D3", "phq9", d(-5), 25)  # older baseline, superseded by the one at day 0's exact time
    b.score("D3", "phq9", d(0), 10)  # at day 0's scheduled_at: baseline
    b.score("D3", "phq9", d(3), 8)  # first within 7 days: 2/10 = 20% → not a rapid responder
    b.score("D3", "phq9", d(20), 4)  # endpoint: 60% → responder; 4 < 5 → remitted
    b.score("D3", "phq9", d(43), 12)  # day 43: outside the endpoint window (would make a non-responder)
    b.score("D3", "phq9", d(61), 3)
    b.score("D3", "phq9", d(100), 8)  # latest 60–120: 20% → not durable
    b.score("D3", "cssrs_ideation", d(-1), 1)  # 1 → 1: not lower
    b.score("D3", "cssrs_ideation", d(10), 1)
    b.patient("D4", "depression")
    b.score("D4", "phq9", d(-2), 0)  # baseline 0 with a %-rule: not evaluable
    b.score("D4", "phq9", d(14), 3)
    b.patient("D5", "depression")
    b.score("D5", "phq9", d(-1), 16)  # no endpoint (next score at day 50): not evaluable
    b.score("D5", "phq9", d(50), 14)
    b.patient("D6", "depression", clinic="B")
    b.score("D6", "phq9", d(-3), 12)
    b.score("D6", "phq9", d(28), 15)  # 15 ≥ 1.2 × 12 = 14.4 → worsened; not a responder
    b.score("D6", "cssrs_ideation", d(-3), 0)  # baseline ideation 0: not in the ideation figure
    b.score("D6", "cssrs_ideation", d(28), 1)
    b.patient("D7", "depression", clinic="B")
    b.score("D7", "phq9", d(-1), 10)
    b.score("D7", "phq9", d(42, hours=9), 5)  # day 42 late in the day: in; exactly 50% → responder; 5 not < 5
    # --- PTSD (PCL-5, ≥ 10-point reduction, remission < 33)
    b.patient("T1", "ptsd")
    b.score("T1", "pcl5", d(-1), 40)
    b.score("T1", "pcl5", d(21), 30)  # −10 → responder; 30 < 33 → remitted
    b.patient("T2", "ptsd")
    b.score("T2", "pcl5", d(-1), 50)
    b.score("T2", "pcl5", d(21), 41)  # −9 → not; 41 → not remitted
    b.patient("T3", "ptsd")
    b.score("T3", "pcl5", d(-1), 0)  # baseline 0 is evaluable for a points rule
    b.score("T3", "pcl5", d(21), 0)  # −0 → not a responder; 0 < 33 → remitted
    # --- OCD (Y-BOCS, ≥ 35% reduction, remission ≤ 12)
    b.patient("O1", "ocd")
    b.score("O1", "ybocs", d(-1), 20)
    b.score("O1", "ybocs", d(21), 13)  # 7/20 = exactly 35% → responder; 13 > 12
    b.patient("O2", "ocd")
    b.score("O2", "ybocs", d(-1), 20)
    b.score("O2", "ybocs", d(21), 14)  # 30% → not
    b.patient("O3", "ocd")
    b.score("O3", "ybocs", d(-1), 30)
    b.score("O3", "ybocs", d(21), 12)  # 60% → responder; 12 ≤ 12 → remitted
    # --- chronic pain (NRS, ≥ 30%, no remission rule)
    b.patient("C1", "chronic_pain")
    b.score("C1", "pain_nrs", d(-1), 8)
    b.score("C1", "pain_nrs", d(21), 5)  # 37.5% → responder
    b.patient("C2", "chronic_pain")
    b.score("C2", "pain_nrs", d(-1), 6)
    b.score("C2", "pain_nrs", d(21), 5)  # 16.7% → not
    # --- "other" has no primary instrument; GAD-7 is a secondary for any condition
    b.patient("X1", "other")
    b.score("X1", "gad7", d(-1), 10)
    b.score("X1", "gad7", d(21), 4)  # 60% → responder; 4 < 5 → remitted
    # --- anxiety: day 0 is the first *administered* session, and only cohort patients count
    b.patient("E1", "anxiety", day0=d(2))  # its first session (day 2) …
    b.session("E1", d(-5), status="no_show")  # … after a no-show at day −5 that is not day 0
    b.score("E1", "gad7", d(1), 12)  # before day 0 (day 2): baseline
    b.score("E1", "gad7", d(22), 6)  # 50% → responder; 6 ≥ 5
    b.patient("E2", "anxiety", day0=datetime(2026, 2, 20, 9))  # first administered before the period
    b.session("E2", d(5))
    b.score("E2", "gad7", d(4), 12)
    b.score("E2", "gad7", d(22), 2)
    return b


@pytest.fixture
def rules_db(make_db: Callable[[dict], Path]) -> Path:
    return make_db(rules_fixture().rows)


def _measure(frame: pl.DataFrame, condition: str, instrument: str, measure: str) -> dict[str, Any]:
    rows = frame.filter(
        (pl.col("condition") == condition)
        & (pl.col("instrument") == instrument)
        & (pl.col("measure") == measure)
    ).to_dicts()
    assert len(rows) == 1, (condition, instrument, measure, rows)
    return rows[0]


def test_depression_rules(rules_db: Path) -> None:
    with opened(rules_db) as con:
        m = outcome_measures(con, PERIOD, NO_SUPPRESSION)
    # evaluable: D1, D3, D6, D7 (D2 no baseline, D4 baseline 0, D5 no endpoint); responders D1, D3, D7
    resp = _measure(m, "depression", "phq9", "response")
    assert (resp["numerator"], resp["denominator"]) == (3, 4)
    assert resp["estimate"] == pytest.approx(0.75)
    # Wilson 95% for 3/4 (Newcombe 1998 table: 0.3006–0.9544)
    assert resp["ci_low"] == pytest.approx(0.3006, abs=1e-4)
    assert resp["ci_high"] == pytest.approx(0.9544, abs=1e-4)
    rem = _measure(m, "depression", "phq9", "remission")
    assert (rem["numerator"], rem["denominator"]) == (1, 4)  # only D3 (4 < 5); D7's 5 is not < 5
    # mean change: (8−20) + (4−10) + (15−12) + (5−10) = −20 over 4 → −5
    mc = _measure(m, "depression", "phq9", "mean_change")
    assert mc["estimate"] == pytest.approx(-5.0)
    # t CI: changes −12, −6, 3, −5; sd = sqrt(((−7)²+(−1)²+8²+0²)/3) = sqrt(38); t(0.975, 3) = 3.182446
    half = 3.182446305284263 * 38**0.5 / 2
    assert mc["ci_low"] == pytest.approx(-5 - half) and mc["ci_high"] == pytest.approx(-5 + half)
    rapid = _measure(m, "depression", "phq9", "rapid_response")
    assert (rapid["numerator"], rapid["denominator"]) == (1, 2)  # D1 yes, D3 no
    dur = _measure(m, "depression", "phq9", "durability")
    assert (dur["numerator"], dur["denominator"]) == (1, 2)  # D1 (day 90) yes, D3 (day 100) no, D7 no score
    worse = _measure(m, "depression", "phq9", "worsening")
    assert (worse["numerator"], worse["denominator"]) == (1, 4)  # D6
    ide = _measure(m, "depression", "cssrs_ideation", "ideation_improved")
    assert (ide["numerator"], ide["denominator"]) == (1, 2)  # D1 2→0 lower, D3 1→1 not, D6 baseline 0 out
    assert _measure(m, "depression", "phq9", "response")["cohort"] == 7
    madrs = _measure(m, "depression", "madrs", "remission")
    assert (madrs["numerator"], madrs["denominator"]) == (1, 1)  # MADRS 10 ≤ 10
    # secondaries without any score are not shown
    assert m.filter((pl.col("condition") == "depression") & (pl.col("instrument") == "qids_sr16")).is_empty()


def test_other_conditions_rules(rules_db: Path) -> None:
    with opened(rules_db) as con:
        m = outcome_measures(con, PERIOD, NO_SUPPRESSION)
    # PTSD: T1 −10 responds, T2 −9 does not, T3 0→0 evaluable (points rule) but does not
    r = _measure(m, "ptsd", "pcl5", "response")
    assert (r["numerator"], r["denominator"]) == (1, 3)
    r = _measure(m, "ptsd", "pcl5", "remission")
    assert (r["numerator"], r["denominator"]) == (2, 3)  # 30 and 0 are < 33
    # OCD: 35% exactly (20→13) responds, 30% does not, 60% does; remission only 12 ≤ 12
    r = _measure(m, "ocd", "ybocs", "response")
    assert (r["numerator"], r["denominator"]) == (2, 3)
    r = _measure(m, "ocd", "ybocs", "remission")
    assert (r["numerator"], r["denominator"]) == (1, 3)
    # chronic pain: 37.5% responds, 16.7% does not; no remission rule → no remission figure
    r = _measure(m, "chronic_pain", "pain_nrs", "response")
    assert (r["numerator"], r["denominator"]) == (1, 2)
    assert m.filter((pl.col("condition") == "chronic_pain") & (pl.col("measure") == "remission")).is_empty()
    # "other": no primary, the GAD-7 secondary is shown
    r = _measure(m, "other", "gad7", "remission")
    assert (r["numerator"], r["denominator"]) == (1, 1)
    # anxiety: E1's day 0 is its first administered session (day 2), E2 started before the period
    r = _measure(m, "anxiety", "gad7", "response")
    assert (r["numerator"], r["denominator"]) == (1, 1)
    assert r["cohort"] == 1


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
    }


def test_summary_is_wide(rules_db: Path) -> None:
    with opened(rules_db) as con:
        s = outcome_summary(con, PERIOD, NO_SUPPRESSION)
    row = s.filter((pl.col("condition") == "ocd") & (pl.col("instrument") == "ybocs")).to_dicts()[0]
    assert row["response"] == pytest.approx(2 / 3) and row["response_denominator"] == 3
    assert row["remission_n"] == 1 and row["response_suppressed"] is False


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


def test_detail_bundles_the_page_figures(rules_db: Path) -> None:
    with opened(rules_db) as con:
        detail = outcome_detail(con, PERIOD, NO_SUPPRESSION, "depression", "phq9")
    # the same hand figures as above: KM 0.2, 0.4, 0.4, 0.7, 0.7; network 3/4; A 2/2, B 1/2
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
    resp = _measure(m, "depression", "phq9", "response")
    assert (resp["numerator"], resp["denominator"]) == (3, 3)
    rem = _measure(m, "depression", "phq9", "remission")
    assert (rem["numerator"], rem["denominator"]) == (1, 3)  # R1's 4 < 5; the 9s are not
    rapid = _measure(m, "depression", "phq9", "rapid_response")
    assert (rapid["numerator"], rapid["denominator"]) == (1, 1)  # R2, R3 have no score within 7 days
    # mean change: (4 − 20) + 2 × (9 − 20) = −38 over 3
    assert _measure(m, "depression", "phq9", "mean_change")["estimate"] == pytest.approx(-38 / 3)


# --- small-cell suppression -------------------------------------------------------------


def _cohort(b: Builder, clinic: str, evaluable: int, responders: int, prefix: str) -> None:
    """``evaluable`` depression patients at a clinic, the first ``responders`` of them responding."""
    for i in range(evaluable):
        key = f"{prefix}{i}"
        b.patient(key, "depression", clinic=clinic)
        b.score(key, "phq9", d(-1), 20)
        b.score(key, "phq9", d(21), 5 if i < responders else 18)


def _report(make_db: Callable[[dict], Path], b: Builder, cfg: MetricConfig) -> list[dict[str, Any]]:
    with opened(make_db(b.rows)) as con:
        return [r for r in outcomes_report(con, PERIOD, cfg) if r["instrument"] == "phq9"]


K11 = MetricConfig()  # default k = 11


def test_default_k_is_11() -> None:
    assert K11.suppression_k == 11


def test_suppressed_below_k(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    _cohort(b, "A", 10, 6, "a")  # k − 1 evaluable …
    b.patient("noend", "depression")  # … plus a cohort patient without an endpoint: still 10 evaluable
    b.score("noend", "phq9", d(-1), 20)
    rows = _report(make_db, b, K11)
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
    _cohort(b, "A", 11, 6, "a")
    rows = _report(make_db, b, K11)
    assert [(r["clinic_id"], r["evaluable"], r["responders"], r["suppressed"]) for r in rows] == [
        (None, 11, 6, False),
        ("A", 11, 6, False),
    ]
    assert rows[0]["response_rate"] == pytest.approx(6 / 11)


def test_zero_disables_suppression(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    _cohort(b, "A", 1, 1, "a")
    rows = _report(make_db, b, MetricConfig(suppression_k=0))
    assert [(r["evaluable"], r["responders"], r["suppressed"]) for r in rows] == [
        (1, 1, False),
        (1, 1, False),
    ]


def test_complementary_suppression(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    _cohort(b, "A", 15, 9, "a")
    _cohort(b, "B", 12, 5, "b")
    _cohort(b, "C", 4, 2, "c")
    rows = _report(make_db, b, K11)
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


def test_clinic_comparison_limits(make_db: Callable[[dict], Path]) -> None:
    b = Builder()
    _cohort(b, "A", 20, 18, "a")
    _cohort(b, "B", 20, 2, "b")
    with opened(make_db(b.rows)) as con:
        comp, network = clinic_comparison(con, PERIOD, K11, "depression", "phq9")
    assert network["response_rate"] == pytest.approx(0.5)
    rows = {r["clinic_id"]: r for r in comp.to_dicts()}
    # Binomial(20, 0.5): F(13) = 0.9423 < 0.975 ≤ F(14) = 0.9793, so the 97.5% quantile is 14;
    # Spiegelhalter's interpolated limit 14 − (0.9793 − 0.975)/(0.9793 − 0.9423) = 13.884
    assert rows["A"]["upper95"] == pytest.approx(13.884 / 20, abs=2e-3)
    assert rows["A"]["flag"] == "above_998"  # 18/20 is above even the 99.8% limit (F(16) = 0.9987 < 0.999)
    assert rows["B"]["flag"] == "below_998"
    assert rows["A"]["ci_low"] == pytest.approx(0.6990, abs=1e-4)  # Wilson 18/20: 0.6990–0.9721


# --- the rule table as data -------------------------------------------------------------


def test_rule_table_matches_metrics_md() -> None:
    # metrics.md's table, restated by hand
    assert PRIMARY_INSTRUMENT["bipolar_depression"] == "phq9"
    assert PRIMARY_INSTRUMENT["other"] is None
    assert (RULES["pcl5"].response_kind, RULES["pcl5"].response_amount) == ("points", 10)
    assert (RULES["ybocs"].remission_op, RULES["ybocs"].remission_threshold) == ("<=", 12)
    assert RULES["pain_nrs"].remission_op is None and RULES["pain_nrs"].response_amount == 30
    assert (RULES["madrs"].remission_op, RULES["madrs"].remission_threshold) == ("<=", 10)
    table = rules_markdown()
    assert "| ptsd | pcl5 | ≥ 10-point reduction | score < 33 |" in table
    assert "| ocd | ybocs | ≥ 35% reduction | score ≤ 12 |" in table


def test_docs_carry_the_rule_table() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
    assert rules_markdown() in docs.read_text(encoding="utf-8")


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
