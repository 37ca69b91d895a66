"""Hand-written outcome fixtures: clinics A, B, C and patients whose first administered session is day 0.

Expected figures are worked out by hand in the comments of the rows and of the tests; none is
computed by the code under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters
from dashboard.metrics.outcomes import outcomes_report
from pipelines.model.config import MetricConfig

DAY0 = datetime(2026, 3, 10, 9, 0)


PERIOD = Filters(start=date(2026, 3, 1), end=date(2026, 3, 31), clinic_ids=("A", "B", "C"))


NO_SUPPRESSION = MetricConfig(suppression_k=0)


# a data's last date at which day-0 patients are just mature (42 days), and which keeps DAY0
# inside the pages' default period (the last 90 days)
JUST_MATURE = DAY0 + timedelta(days=42, hours=5)


K11 = MetricConfig()  # default k = 11


def d(days: float, hours: float = 0) -> datetime:
    return DAY0 + timedelta(days=days, hours=hours)


class Builder:
    """Rows for make_db: clinics A, B, C and patients whose first administered session is day 0.

    ``last_date``: the data's last date (a no-show of a patient never treated, so no cohort
    changes); by default 200 days after ``DAY0``, so every cohort patient is mature."""

    def __init__(self, last_date: datetime | None = DAY0 + timedelta(days=200)) -> None:
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
        if last_date is not None:
            self.patient("ANCHOR", "other", day0=last_date)
            self.rows["sessions"][-1]["status"] = "no_show"
            for column in ("dose_mg", "weight_kg", "duration_min"):
                self.rows["sessions"][-1][column] = None

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


def measure(frame: pl.DataFrame, condition: str, instrument: str, measure: str) -> dict[str, Any]:
    rows = frame.filter(
        (pl.col("condition") == condition)
        & (pl.col("instrument") == instrument)
        & (pl.col("measure") == measure)
    ).to_dicts()
    assert len(rows) == 1, (condition, instrument, measure, rows)
    return rows[0]


def add_cohort(b: Builder, clinic: str, evaluable: int, responders: int, prefix: str) -> None:
    """``evaluable`` depression patients at a clinic, the first ``responders`` of them responding."""
    for i in range(evaluable):
        key = f"{prefix}{i}"
        b.patient(key, "depression", clinic=clinic)
        b.score(key, "phq9", d(-1), 20)
        b.score(key, "phq9", d(21), 5 if i < responders else 18)


def phq9_report(make_db: Callable[[dict], Path], b: Builder, cfg: MetricConfig) -> list[dict[str, Any]]:
    with opened(make_db(b.rows)) as con:
        return [r for r in outcomes_report(con, PERIOD, cfg) if r["instrument"] == "phq9"]
