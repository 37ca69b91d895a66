"""Throughput metrics against figures worked out by hand on tiny fixtures.

Every expected value is derived in a comment from the rows below, never by
calling the code under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from dashboard.metrics import throughput as tp
from dashboard.metrics.filters import Filters
from pipelines.compat import first_sessions_source, maintenance_sessions_source
from pipelines.marts import FIRST_SESSIONS, MAINTENANCE_SESSIONS
from pipelines.marts.first_sessions import build_first_sessions
from pipelines.marts.maintenance import build_maintenance_sessions
from pipelines.model.config import MetricConfig

CFG = MetricConfig()
ADMIN = ("completed", "stopped_early")


def sess(
    sid: str,
    patient: str,
    clinic: str,
    at: str,
    status: str = "completed",
    phase: str = "induction",
    route: str = "iv",
    modality: str = "infusion",
    duration: int | None = 40,
    recovery: int | None = 50,
) -> dict[str, Any]:
    administered = status in ADMIN
    return {
        "session_id": sid,
        "patient_key": patient,
        "clinic_id": clinic,
        "scheduled_at": datetime.fromisoformat(at),
        "status": status,
        "phase": phase,
        "route": route,
        "modality": modality,
        "dose_mg": 35.0 if administered else None,
        "weight_kg": 70.0 if administered else None,
        "duration_min": duration if administered else None,
        "recovery_min": recovery if administered else None,
    }


def numbered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set the loader-derived session_number: 1, 2, … over each patient's administered sessions by time."""
    administered = sorted(
        (r for r in rows if r["status"] in ADMIN), key=lambda r: (r["patient_key"], r["scheduled_at"])
    )
    previous, n = None, 0
    for r in administered:
        n = n + 1 if r["patient_key"] == previous else 1
        previous = r["patient_key"]
        r["session_number"] = n
    return rows


def clinic(cid: str, region: str, chairs: int, hours: float | None, opened: str, closed: str | None = None):
    return {
        "clinic_id": cid,
        "clinic_name": f"Clinic {cid}",
        "region": region,
        "opened_on": date.fromisoformat(opened),
        "closed_on": date.fromisoformat(closed) if closed else None,
        "chairs": chairs,
        "hours_per_day": hours,
    }


def patient(key: str, condition: str, home: str = "A") -> dict[str, Any]:
    return {
        "patient_key": key,
        "home_clinic_id": home,
        "sex": "F",
        "age_band": "35-44",
        "primary_condition": condition,
        "enrolled_on": date(2025, 1, 1),
    }


# Period: Mon 2026-03-02 .. Sun 2026-03-15 (two full weeks, 12 Monday–Saturday days).
START, END = date(2026, 3, 2), date(2026, 3, 15)
CLINICS = [
    clinic("A", "North", 2, 8.0, "2026-01-01"),  # open all 12 days
    clinic("B", "South", 1, None, "2026-03-04"),  # opens Wed 4th: 4 + 6 = 10 days; hours null -> 10
    clinic("C", "South", 3, 10.0, "2025-01-01", "2026-03-05"),  # closes Thu 5th (inclusive): 4 days
]
PATIENTS = [
    patient("P1", "depression"),
    patient("P2", "anxiety"),
    patient("P3", "anxiety"),
    patient("P4", "depression", "B"),
    patient("P5", "ptsd", "B"),
    patient("P6", "depression", "C"),
]
SESSIONS = [
    # clinic A, in the period
    sess("a1", "P1", "A", "2026-03-02 09:00"),  # 40 + 50 = 90 chair-minutes
    sess("a2", "P1", "A", "2026-03-04 09:00"),  # 90
    sess("a3", "P2", "A", "2026-03-03 10:00", "stopped_early", duration=20, recovery=None),  # 20
    sess("a4", "P2", "A", "2026-03-05 10:00", "no_show"),
    sess("a5", "P3", "A", "2026-03-06 11:00", "cancelled"),
    sess(
        "a6", "P3", "A", "2026-03-09 11:00", phase="maintenance", route="im", duration=30, recovery=30
    ),  # 60
    sess("a7", "P2", "A", "2026-03-08 10:00", duration=30, recovery=0),  # a Sunday: 30, counted
    # clinic B
    sess("b1", "P4", "B", "2026-03-10 14:00", route="intranasal", duration=60, recovery=120),  # 180
    sess("b2", "P5", "B", "2026-03-11 14:00", "no_show"),
    # clinic C
    sess("c1", "P6", "C", "2026-03-03 09:00", modality="kap", duration=45, recovery=45),  # 90
    # outside the period
    sess("x1", "P3", "A", "2026-02-20 09:00"),  # P3's first session: P3 is no new start
    sess("x2", "P1", "A", "2026-03-16 09:00"),  # the Monday after the period
    sess("x3", "P6", "C", "2026-01-10 09:00"),  # P6's first session
]


@pytest.fixture
def con(make_db: Callable[[dict], Path]) -> duckdb.DuckDBPyConnection:
    path = make_db({"clinics": CLINICS, "patients": PATIENTS, "sessions": numbered(SESSIONS)})
    c = duckdb.connect(str(path), read_only=True)
    yield c
    c.close()


def filters(**kw: Any) -> Filters:
    return Filters(start=START, end=END, clinic_ids=kw.pop("clinic_ids", ("A", "B", "C")), **kw)


def test_network_summary(con: duckdb.DuckDBPyConnection) -> None:
    s = tp.throughput_summary(con, filters(), CFG)
    # in period: A a1..a7 (7), B b1, b2 (2), C c1 (1) = 10 scheduled
    assert s["scheduled_sessions"] == 10
    # administered: a1 a2 a3 a6 a7 b1 c1 = 7 (a3 stopped early counts)
    assert s["administered_sessions"] == 7
    assert s["no_show_rate"] == pytest.approx(2 / 10)  # a4, b2
    assert s["cancellation_rate"] == pytest.approx(1 / 10)  # a5
    # patients with an administered session in the period: P1 P2 P3 P4 P6
    assert s["active_patients"] == 5
    # first administered session in the period: P1 (a1), P2 (a3), P4 (b1); P3/P6 started earlier, P5 never
    assert s["new_starts"] == 3
    # used: 90+90+20+60+30 (A) + 180 (B) + 90 (C) = 560
    # available: A 2 chairs × 8 h × 60 × 12 days = 11520; B 1 × 10 × 60 × 10 = 6000; C 3 × 10 × 60 × 4 = 7200
    assert s["chair_minutes_used"] == 560
    assert s["chair_minutes_available"] == 11520 + 6000 + 7200
    assert s["chair_utilisation"] == pytest.approx(560 / 24720)


def test_by_clinic(con: duckdb.DuckDBPyConnection) -> None:
    df = tp.throughput_by_clinic(con, filters(), CFG)
    rows = {r["clinic_id"]: r for r in df.iter_rows(named=True)}
    assert list(rows) == ["A", "B", "C"]
    a, b, c = rows["A"], rows["B"], rows["C"]
    assert (a["scheduled_sessions"], a["administered_sessions"], a["no_shows"], a["cancellations"]) == (
        7,
        5,
        1,
        1,
    )
    assert a["no_show_rate"] == pytest.approx(1 / 7)
    assert a["open_days"] == 12 and a["chair_utilisation"] == pytest.approx(290 / (2 * 8 * 60 * 12))
    assert (a["active_patients"], a["new_starts"]) == (3, 2)  # P1 P2 P3 active; P1 P2 new
    assert b["hours_per_day"] == 10.0 and b["open_days"] == 10  # null hours -> default 10
    assert b["chair_utilisation"] == pytest.approx(180 / (1 * 10 * 60 * 10))
    assert (b["scheduled_sessions"], b["no_show_rate"], b["new_starts"]) == (2, 0.5, 1)
    assert c["open_days"] == 4 and c["chair_utilisation"] == pytest.approx(90 / (3 * 10 * 60 * 4))
    assert c["new_starts"] == 0


def test_clinic_not_open_in_period_has_no_utilisation(con: duckdb.DuckDBPyConnection) -> None:
    # C closed on 2026-03-05: in a later period it has 0 open days and no utilisation (not a division by 0)
    f = Filters(date(2026, 3, 9), date(2026, 3, 14), ("C",))
    row = tp.throughput_by_clinic(con, f, CFG).row(0, named=True)
    assert row["open_days"] == 0 and row["chair_utilisation"] is None
    assert tp.throughput_summary(con, f, CFG)["chair_utilisation"] is None


def test_clinic_scope_narrows(con: duckdb.DuckDBPyConnection) -> None:
    s = tp.throughput_summary(con, filters(clinic_ids=("A",)), CFG)
    assert (s["scheduled_sessions"], s["administered_sessions"], s["new_starts"], s["active_patients"]) == (
        7,
        5,
        2,
        3,
    )
    assert s["chair_utilisation"] == pytest.approx(290 / 11520)
    empty = tp.throughput_summary(con, filters(clinic_ids=()), CFG)
    assert empty["scheduled_sessions"] == 0 and empty["no_show_rate"] is None


def test_region_filter(con: duckdb.DuckDBPyConnection) -> None:
    s = tp.throughput_summary(con, filters(regions=("South",)), CFG)
    # B + C: b1 b2 c1 scheduled, b1 c1 administered, P4 new; (180 + 90) / (6000 + 7200)
    assert (s["scheduled_sessions"], s["administered_sessions"], s["new_starts"]) == (3, 2, 1)
    assert s["chair_utilisation"] == pytest.approx(270 / 13200)
    assert tp.throughput_by_clinic(con, filters(regions=("South",)), CFG)["clinic_id"].to_list() == ["B", "C"]


def test_condition_filter(con: duckdb.DuckDBPyConnection) -> None:
    s = tp.throughput_summary(con, filters(conditions=("depression",)), CFG)
    # P1 P4 P6: a1 a2 b1 c1, all administered; P1 P4 new; P1 P4 P6 active
    assert (s["scheduled_sessions"], s["administered_sessions"], s["no_show_rate"]) == (4, 4, 0.0)
    assert (s["new_starts"], s["active_patients"]) == (2, 3)


def test_route_filter(con: duckdb.DuckDBPyConnection) -> None:
    s = tp.throughput_summary(con, filters(routes=("iv",)), CFG)
    # iv: a1 a2 a3 a4 a5 a7 b2 c1 = 8; administered a1 a2 a3 a7 c1 = 5
    # new starts whose first session was iv: P1, P2 (P4's first, b1, was intranasal)
    assert (s["scheduled_sessions"], s["administered_sessions"], s["new_starts"]) == (8, 5, 2)
    assert s["no_show_rate"] == pytest.approx(2 / 8)


def test_sessions_over_time_by_region(con: duckdb.DuckDBPyConnection) -> None:
    df = tp.sessions_over_time(con, filters(), "week", by="region")
    got = {
        (r["period_start"], r["group"]): (r["scheduled_sessions"], r["administered_sessions"], r["no_shows"])
        for r in df.iter_rows(named=True)
    }
    assert got == {
        # week of Mon 2 March: North a1 a2 a3 a4 a5 a7 (a7 is Sunday 8th); South c1
        (date(2026, 3, 2), "North"): (6, 4, 1),
        (date(2026, 3, 2), "South"): (1, 1, 0),
        # week of Mon 9 March: North a6; South b1 b2
        (date(2026, 3, 9), "North"): (1, 1, 0),
        (date(2026, 3, 9), "South"): (2, 1, 1),
    }


def test_sessions_over_time_zero_fills_clinics(con: duckdb.DuckDBPyConnection) -> None:
    df = tp.sessions_over_time(con, filters(), "week", by="clinic")
    c_week2 = df.filter(group="C", period_start=date(2026, 3, 9)).row(0, named=True)
    assert c_week2["scheduled_sessions"] == 0 and c_week2["no_show_rate"] is None
    assert df.height == 2 * 3  # 2 weeks × 3 clinics
    month = tp.sessions_over_time(con, filters(), "month")
    assert month.select("period_start", "group", "scheduled_sessions").rows() == [
        (date(2026, 3, 1), "network", 10)
    ]
    with pytest.raises(ValueError):
        tp.sessions_over_time(con, filters(), "year")  # type: ignore[arg-type]


def test_new_starts_over_time(con: duckdb.DuckDBPyConnection) -> None:
    df = tp.new_starts_over_time(con, filters(), "week")
    # P1 (2 March) and P2 (3 March) in week 1; P4 (10 March) in week 2
    assert df.rows() == [(date(2026, 3, 2), 2), (date(2026, 3, 9), 1)]


def test_weekday_hour_load(con: duckdb.DuckDBPyConnection) -> None:
    df = tp.weekday_hour_load(con, filters(clinic_ids=("A",)))
    assert df.height == 7 * 24
    cell = {(r["weekday"], r["hour"]): r for r in df.iter_rows(named=True)}
    # each weekday occurs twice in the period. Monday: a1 09:00–10:30, a6 11:00–12:00
    assert cell[(1, 9)]["avg_chairs_in_use"] == pytest.approx(60 / (60 * 2))
    assert cell[(1, 10)]["avg_chairs_in_use"] == pytest.approx(30 / (60 * 2))
    assert cell[(1, 11)]["avg_chairs_in_use"] == pytest.approx(60 / (60 * 2))
    assert cell[(1, 9)]["avg_sessions_started"] == pytest.approx(1 / 2)
    assert cell[(1, 10)]["avg_sessions_started"] == 0
    assert cell[(1, 9)]["share_of_chairs"] == pytest.approx(0.5 / 2)  # clinic A has 2 chairs
    # Tuesday: a3 10:00–10:20 (stopped early, no recovery); Sunday: a7 10:00–10:30
    assert cell[(2, 10)]["avg_chairs_in_use"] == pytest.approx(20 / 120)
    assert cell[(7, 10)]["avg_chairs_in_use"] == pytest.approx(30 / 120)
    assert cell[(7, 10)]["weekday_name"] == "Sunday" and cell[(1, 0)]["weekday_name"] == "Monday"
    assert cell[(4, 10)]["avg_chairs_in_use"] == 0  # a4 was a no-show


def test_route_modality_mix(con: duckdb.DuckDBPyConnection) -> None:
    df = tp.route_modality_mix(con, filters())
    got = {
        (r["route"], r["modality"]): (r["administered_sessions"], r["share"])
        for r in df.iter_rows(named=True)
    }
    # administered: iv/infusion a1 a2 a3 a7; im a6; intranasal b1; iv/kap c1 (7 in all)
    assert got == {
        ("iv", "infusion"): (4, pytest.approx(4 / 7)),
        ("im", "infusion"): (1, pytest.approx(1 / 7)),
        ("intranasal", "infusion"): (1, pytest.approx(1 / 7)),
        ("iv", "kap"): (1, pytest.approx(1 / 7)),
    }


# --- induction: data last date 2026-06-30, maturity cutoff 2026-06-30 − 42 days = 2026-05-19 -------------

LAST = "2026-06-30"


def series(patient: str, clinic: str, days: list[str], prefix: str = "", **kw: Any) -> list[dict[str, Any]]:
    """Administered sessions of one patient at 10:00 on each day (ids ``<prefix or patient>-<i>``)."""
    return [sess(f"{prefix or patient}-{i}", patient, clinic, f"{d} 10:00", **kw) for i, d in enumerate(days)]


INDUCTION_SESSIONS = [
    # Q1: first on 19 May, exactly 42 days before 30 June -> eligible; 6 sessions by 1 June -> completed
    *series("Q1", "A", ["2026-05-19", "2026-05-21", "2026-05-23", "2026-05-26", "2026-05-28", "2026-06-01"]),
    # Q2: first on 20 May, 41 days before the last date -> not yet eligible despite 6 sessions
    *series("Q2", "A", ["2026-05-20", "2026-05-21", "2026-05-22", "2026-05-23", "2026-05-25", "2026-05-26"]),
    # Q3: first 1 May; 6th session on 13 June = day 43 -> only 5 within 42 days: reached 3, not 6
    *series("Q3", "A", ["2026-05-01", "2026-05-04", "2026-05-06", "2026-05-08", "2026-05-11", "2026-06-13"]),
    # Q4: first 2 May at A, the rest at B; 6th on 13 June = day 42 -> completed (counted network-wide)
    *series("Q4", "A", ["2026-05-02"]),
    *series(
        "Q4", "B", prefix="Q4b", days=["2026-05-04", "2026-05-06", "2026-05-08", "2026-05-11", "2026-06-13"]
    ),
    sess("Q4-ns", "Q4", "B", "2026-05-05 10:00", "no_show"),  # not administered
    # Q5: 2 administered induction sessions, one cancelled, one maintenance -> started only
    *series("Q5", "A", ["2026-05-03", "2026-05-05"]),
    sess("Q5-c", "Q5", "A", "2026-05-07 10:00", "cancelled"),
    sess("Q5-m", "Q5", "A", "2026-05-09 10:00", phase="maintenance"),
    # Q6: first session in April, before the period -> not in the cohort
    *series("Q6", "A", ["2026-04-20", "2026-05-02", "2026-05-04"]),
    # Q7: 3 administered induction sessions (one stopped early) -> reached 3
    *series("Q7", "B", ["2026-05-05", "2026-05-07"]),
    sess("Q7-s", "Q7", "B", "2026-05-09 10:00", "stopped_early"),
    # Z: the data's last date
    sess("Z-0", "Z", "A", f"{LAST} 10:00"),
]


def with_tables(path: Path, table: bool) -> Path:
    """The database with the refresh's ``patient_first_sessions`` and ``maintenance_sessions``
    (``table``) or without them (the metrics then read the same SQL inline): both paths must
    give the same figures."""
    with duckdb.connect(str(path)) as c:
        if table:
            build_first_sessions(c)
            build_maintenance_sessions(c)
        assert (first_sessions_source(c) == FIRST_SESSIONS) is table
        assert (maintenance_sessions_source(c) == MAINTENANCE_SESSIONS) is table
    return path


@pytest.fixture(params=[False, True], ids=["inline", "table"])
def icon(make_db: Callable[[dict], Path], request: pytest.FixtureRequest) -> duckdb.DuckDBPyConnection:
    keys = sorted({s["patient_key"] for s in INDUCTION_SESSIONS})
    path = make_db(
        {
            "clinics": CLINICS[:2],
            "patients": [patient(k, "depression") for k in keys],
            "sessions": numbered(INDUCTION_SESSIONS),
        }
    )
    with_tables(path, request.param)
    c = duckdb.connect(str(path), read_only=True)
    yield c
    c.close()


MAY = Filters(date(2026, 5, 1), date(2026, 5, 31), ("A", "B"))


def test_data_last_date(icon: duckdb.DuckDBPyConnection) -> None:
    assert tp.data_last_date(icon) == date(2026, 6, 30)


def test_induction_completion_maturity_rule(icon: duckdb.DuckDBPyConnection) -> None:
    res = tp.induction_completion(icon, MAY)
    # eligible: Q1 (exactly 42 days), Q3, Q4, Q5, Q7; not Q2 (41 days) nor Q6 (April); completed Q1, Q4
    assert res["eligible_patients"] == 5
    assert res["completed_patients"] == 2
    assert res["completion_rate"] == pytest.approx(2 / 5)
    assert res["maturity_cutoff"] == date(2026, 5, 19)


def test_induction_funnel(icon: duckdb.DuckDBPyConnection) -> None:
    df = tp.induction_funnel(icon, MAY)
    # started 5; ≥3: Q1 Q3 Q4 Q7; ≥6: Q1 Q4
    assert df.select("min_sessions", "patients").rows() == [(1, 5), (3, 4), (6, 2)]
    assert df["share_of_started"].to_list() == pytest.approx([1.0, 4 / 5, 2 / 5])


def test_induction_scope_uses_first_session_clinic(icon: duckdb.DuckDBPyConnection) -> None:
    # Q4 started at A: in A's cohort (still completed with B's sessions), not in B's
    a = tp.induction_completion(icon, MAY.with_clinics(("A",)))
    assert (a["eligible_patients"], a["completed_patients"]) == (4, 2)  # Q1 Q3 Q4 Q5
    b = tp.induction_completion(icon, MAY.with_clinics(("B",)))
    assert (b["eligible_patients"], b["completed_patients"], b["completion_rate"]) == (1, 0, 0.0)  # Q7


def test_induction_empty_cohort(icon: duckdb.DuckDBPyConnection) -> None:
    june = Filters(date(2026, 6, 1), date(2026, 6, 30), ("A", "B"))  # Z starts on the last date: immature
    res = tp.induction_completion(icon, june)
    assert res["eligible_patients"] == 0 and res["completion_rate"] is None
    assert tp.induction_funnel(icon, june)["share_of_started"].to_list() == [None, None, None]


# --- maintenance cadence --------------------------------------------------------------------


@pytest.mark.parametrize("table", [False, True], ids=["inline", "table"])
def test_maintenance_cadence(make_db: Callable[[dict], Path], table: bool) -> None:
    rows = [
        *series("M1", "A", ["2026-02-20", "2026-03-06", "2026-03-27"], phase="maintenance"),  # gaps 14, 21
        sess("M1-ns", "M1", "A", "2026-03-13 10:00", "no_show", phase="maintenance"),  # ignored
        *series("M2", "A", ["2026-03-01", "2026-03-08"], phase="maintenance"),  # gap 7
        sess("M2-i", "M2", "A", "2026-03-04 10:00"),  # an induction session in between: ignored
        *series("M3", "B", ["2026-03-02", "2026-03-30"], phase="maintenance"),  # gap 28, clinic B
        # M4: 433 days since the previous maintenance session: a restart (> 365 days), not a cadence
        *series("M4", "A", ["2025-01-01", "2026-03-10"], phase="maintenance"),
    ]
    path = with_tables(
        make_db({"clinics": CLINICS[:2], "patients": [patient("M1", "ocd")], "sessions": numbered(rows)}),
        table,
    )
    with duckdb.connect(str(path), read_only=True) as c:
        f = Filters(date(2026, 3, 1), date(2026, 3, 31), ("A",))
        # the 14-day gap counts although its earlier session (20 Feb) precedes the period
        assert tp.maintenance_cadence(c, f).rows() == [(7, 1), (14, 1), (21, 1)]
        summary = tp.maintenance_cadence_summary(c, f)
        # median of 7, 14, 21 = 14; linear quartiles: 10.5 and 17.5
        assert (summary["intervals"], summary["patients"], summary["median_days"]) == (3, 2, 14)
        assert (summary["p25_days"], summary["p75_days"]) == (10.5, 17.5)
        later = Filters(date(2026, 3, 7), date(2026, 3, 31), ("A", "B"))
        assert tp.maintenance_cadence(c, later).rows() == [(7, 1), (21, 1), (28, 1)]
        # a period longer than a year (another query plan): M4's 433-day gap is still a restart
        long = Filters(date(2025, 1, 1), date(2026, 3, 31), ("A",))
        assert tp.maintenance_cadence(c, long).rows() == [(7, 1), (14, 1), (21, 1)]


def test_weekday_hour_load_across_midnight(make_db: Callable[[dict], Path]) -> None:
    # Saturday 14 March 23:30 for 40 + 50 = 90 minutes: 30 min on Saturday 23h, 60 min on Sunday 0h
    rows = [
        sess("late", "P1", "A", "2026-03-14 23:30"),
        sess("x", "P1", "A", "2026-03-10 09:15:30", duration=1, recovery=0),
    ]
    path = make_db({"clinics": CLINICS[:1], "sessions": numbered(rows)})
    with duckdb.connect(str(path), read_only=True) as c:
        df = tp.weekday_hour_load(c, Filters(START, END, ("A",)))
    cell = {(r["weekday"], r["hour"]): r["avg_chairs_in_use"] for r in df.iter_rows(named=True)}
    assert cell[(6, 23)] == pytest.approx(30 / 120)  # two Saturdays in the period
    assert cell[(7, 0)] == pytest.approx(60 / 120)
    assert cell[(2, 9)] == pytest.approx(1 / 120)  # 09:15:30–09:16:30 on a Tuesday
    assert sum(cell.values()) == pytest.approx((90 + 1) / 120)


def test_weekday_hour_load_short_period(con: duckdb.DuckDBPyConnection) -> None:
    # Mon 2 – Wed 4 March: Monday 09h holds a1 (60 of its 90 minutes) on the one Monday; no Thursday at all
    df = tp.weekday_hour_load(con, Filters(date(2026, 3, 2), date(2026, 3, 4), ("A",)))
    assert df.height == 7 * 24
    cell = {(r["weekday"], r["hour"]): r["avg_chairs_in_use"] for r in df.iter_rows(named=True)}
    assert cell[(1, 9)] == pytest.approx(60 / 60)
    assert cell[(4, 9)] is None


def test_modality_filter(con: duckdb.DuckDBPyConnection) -> None:
    s = tp.throughput_summary(con, filters(modalities=("kap",)), CFG)
    # only c1 (P6, whose first session x3 was before the period) is kap
    assert (s["scheduled_sessions"], s["administered_sessions"], s["new_starts"]) == (1, 1, 0)
    # utilisation keeps every in-scope clinic's capacity: 90 / 24720
    assert s["chair_utilisation"] == pytest.approx(90 / 24720)


# --- merged calls: one query per figure pair, same figures as the single functions ------------------


def test_induction_merged_call(icon: duckdb.DuckDBPyConnection) -> None:
    got = tp.induction(icon, MAY)
    # the same cohort as test_induction_funnel / _maturity_rule: started 5 (Q1 Q3 Q4 Q5 Q7),
    # ≥3: Q1 Q3 Q4 Q7, ≥6: Q1 Q4
    assert got["funnel"].select("min_sessions", "patients").rows() == [(1, 5), (3, 4), (6, 2)]
    done = got["completion"]
    assert (done["eligible_patients"], done["completed_patients"]) == (5, 2)
    assert done["completion_rate"] == pytest.approx(2 / 5)
    assert (done["data_last_date"], done["maturity_cutoff"]) == (date(2026, 6, 30), date(2026, 5, 19))
    # a period ending after the cutoff: only first sessions up to 19 May count (Q2 on 20 May does not)
    to_june = tp.induction(icon, Filters(date(2026, 5, 19), date(2026, 6, 30), ("A", "B")))
    assert to_june["funnel"]["patients"].to_list() == [1, 1, 1]  # Q1 alone, 6 sessions by 1 June


@pytest.mark.parametrize("table", [False, True], ids=["inline", "table"])
def test_induction_counts_the_42nd_day_not_the_43rd(make_db: Callable[[dict], Path], table: bool) -> None:
    # first session 1 May 23:30; day 42 = 12 June (counted even at 23:59), 13 June 00:00 is day 43
    days = ["2026-05-03", "2026-05-05", "2026-05-07", "2026-05-09"]
    rows = [
        sess("R-0", "R", "A", "2026-05-01 23:30"),
        *series("R", "A", days, prefix="R1"),
        sess("R-42", "R", "A", "2026-06-12 23:59"),  # the 6th within 42 days
        sess("S-0", "S", "A", "2026-05-01 08:00"),
        *series("S", "A", days, prefix="S1"),
        sess("S-43", "S", "A", "2026-06-13 00:00"),  # day 43: only 5 within the window
        sess("Z-0", "Z", "A", "2026-08-31 10:00"),  # data's last date: cutoff 20 July
        # M: first administered session in the maintenance phase: started, 0 induction sessions
        *series("M", "A", ["2026-05-02", "2026-05-04"], phase="maintenance"),
    ]
    path = with_tables(make_db({"clinics": CLINICS[:1], "sessions": numbered(rows)}), table)
    with duckdb.connect(str(path), read_only=True) as c:
        got = tp.induction(c, Filters(date(2026, 5, 1), date(2026, 5, 31), ("A",)))
    assert got["funnel"]["patients"].to_list() == [3, 2, 1]  # R, S, M started; R and S ≥ 3, only R ≥ 6
    assert got["completion"]["completion_rate"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("table", [False, True], ids=["inline", "table"])
def test_maintenance_merged_call_with_ties_and_lookback(make_db: Callable[[dict], Path], table: bool) -> None:
    rows = [
        # T: last session before the period 25 Feb, then 1 Mar twice at the same time and 8 Mar:
        # gaps 25 Feb→1 Mar = 4, the tie = 0, 1 Mar→8 Mar = 7
        *series("T", "A", ["2026-02-10", "2026-02-25", "2026-03-01"], phase="maintenance"),
        sess("T-tie", "T", "A", "2026-03-01 10:00", phase="maintenance"),
        sess("T-8", "T", "A", "2026-03-08 10:00", phase="maintenance"),
        # U: previous maintenance session 366 days before (a restart), then 10 Mar → 31 Mar = 21
        *series("U", "A", ["2025-03-09", "2026-03-10", "2026-03-31"], phase="maintenance"),
        # V: maintenance only before the period: no gap in March
        *series("V", "A", ["2026-01-05", "2026-02-05"], phase="maintenance"),
        # W: one maintenance session in March after exactly 365 days: kept (≤ 365)
        *series("W", "A", ["2025-03-15", "2026-03-15"], phase="maintenance"),
    ]
    path = with_tables(make_db({"clinics": CLINICS[:1], "sessions": numbered(rows)}), table)
    with duckdb.connect(str(path), read_only=True) as c:
        got = tp.maintenance(c, Filters(date(2026, 3, 1), date(2026, 3, 31), ("A",)))
    assert got["cadence"].rows() == [(0, 1), (4, 1), (7, 1), (21, 1), (365, 1)]
    # 5 intervals of T, U, W; sorted 0 4 7 21 365: median 7, linear quartiles at positions 1 and 3: 4 and 21
    assert got["summary"] == {
        "intervals": 5,
        "patients": 3,
        "median_days": 7.0,
        "p25_days": 4.0,
        "p75_days": 21.0,
    }
    with duckdb.connect(str(path), read_only=True) as c:
        none = tp.maintenance(c, Filters(date(2026, 4, 1), date(2026, 4, 30), ("A",)))
    assert none["cadence"].is_empty()
    assert none["summary"] == {
        "intervals": 0,
        "patients": 0,
        "median_days": None,
        "p25_days": None,
        "p75_days": None,
    }


def test_summaries_without_active_patients(con: duckdb.DuckDBPyConnection) -> None:
    full = tp.throughput_summary(con, filters(), CFG)
    lean = tp.throughput_summary(con, filters(), CFG, active_patients=False)
    assert lean["active_patients"] is None and full["active_patients"] == 5
    assert {k: v for k, v in lean.items() if k != "active_patients"} == {
        k: v for k, v in full.items() if k != "active_patients"
    }
    by = tp.throughput_by_clinic(con, filters(), CFG, active_patients=False)
    assert by["active_patients"].null_count() == 3
    # the other columns as in test_by_clinic: A 7 scheduled, 5 administered; B 2, 1; C 1, 1
    assert by.select("clinic_id", "scheduled_sessions", "administered_sessions").rows() == [
        ("A", 7, 5),
        ("B", 2, 1),
        ("C", 1, 1),
    ]


def test_with_clinic_calls_give_each_scope_its_own_figures(icon: duckdb.DuckDBPyConnection) -> None:
    # one query for the network (A, B) and clinic B alone: the figures of two separate calls
    both = tp.induction_with_clinic(icon, MAY, "B")
    assert both["scope"]["funnel"]["patients"].to_list() == [5, 4, 2]  # as test_induction_funnel
    # B alone: Q7 started there (Q4's first session was at A): started 1, ≥3 1, ≥6 0
    assert both["clinic"]["funnel"]["patients"].to_list() == [1, 1, 0]
    assert both["clinic"]["completion"]["completion_rate"] == 0.0
    # the clinic need not be in the scope, and a region filter of the scope does not hide it
    south = tp.induction_with_clinic(icon, Filters(MAY.start, MAY.end, ("A",), regions=("North",)), "B")
    assert south["scope"]["funnel"]["patients"].to_list() == [4, 3, 2]  # A: Q1 Q3 Q4 Q5; ≥3 Q1 Q3 Q4
    assert south["clinic"]["funnel"]["patients"].to_list() == [1, 1, 0]


@pytest.mark.parametrize("table", [False, True], ids=["inline", "table"])
def test_maintenance_with_clinic(make_db: Callable[[dict], Path], table: bool) -> None:
    rows = [
        *series("M1", "A", ["2026-02-20", "2026-03-06", "2026-03-27"], phase="maintenance"),  # A: 14, 21
        *series("M3", "B", ["2026-03-02", "2026-03-30"], phase="maintenance"),  # B: 28
        # M5 alternates clinics: network gaps 5 and 5; at B alone 1 → 11 Mar = 10
        sess("M5-1", "M5", "B", "2026-03-01 10:00", phase="maintenance"),
        sess("M5-2", "M5", "A", "2026-03-06 10:00", phase="maintenance"),
        sess("M5-3", "M5", "B", "2026-03-11 10:00", phase="maintenance"),
    ]
    path = with_tables(make_db({"clinics": CLINICS[:2], "sessions": numbered(rows)}), table)
    with duckdb.connect(str(path), read_only=True) as c:
        both = tp.maintenance_with_clinic(c, Filters(date(2026, 3, 1), date(2026, 3, 31), ("A", "B")), "B")
    assert both["scope"]["cadence"].rows() == [(5, 2), (14, 1), (21, 1), (28, 1)]
    assert both["clinic"]["cadence"].rows() == [(10, 1), (28, 1)]
    # B: gaps 10 and 28 of 2 patients; median (10 + 28) / 2 = 19
    assert both["clinic"]["summary"]["patients"] == 2 and both["clinic"]["summary"]["median_days"] == 19.0
    assert both["scope"]["summary"]["intervals"] == 5 and both["scope"]["summary"]["patients"] == 3


def test_clinic_page_pairs_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    f = filters()
    s = tp.throughput_summary_with_clinic(con, f, "B", CFG)
    # B alone: b1 (administered, P4's first) and b2 (no-show); 180 of 1 × 10 h × 60 × 10 days
    b = s["clinic"]
    assert (b["scheduled_sessions"], b["administered_sessions"], b["active_patients"], b["new_starts"]) == (
        2,
        1,
        1,
        1,
    )
    assert b["no_show_rate"] == 0.5 and b["chair_utilisation"] == pytest.approx(180 / 6000)
    # the scope as in test_network_summary, without the distinct-patient count
    net = s["scope"]
    assert (net["scheduled_sessions"], net["administered_sessions"], net["active_patients"]) == (10, 7, None)
    assert net["chair_utilisation"] == pytest.approx(560 / 24720)

    weekly = tp.sessions_over_time_with_clinic(con, f, "C", "week")
    # C: c1 in the week of 2 March, nothing in the week of 9 March; network 7 and 3 (see the region test)
    assert weekly["clinic"].select("period_start", "scheduled_sessions").rows() == [
        (date(2026, 3, 2), 1),
        (date(2026, 3, 9), 0),
    ]
    assert weekly["scope"]["scheduled_sessions"].to_list() == [7, 3]

    starts = tp.new_starts_over_time_with_clinic(con, f, "A", "week")
    assert starts["clinic"].rows() == [(date(2026, 3, 2), 2), (date(2026, 3, 9), 0)]  # P1, P2 at A
    assert starts["scope"].rows() == [(date(2026, 3, 2), 2), (date(2026, 3, 9), 1)]  # + P4 at B

    mix = tp.route_modality_mix_with_clinic(con, f, "B")
    assert mix["clinic"].rows() == [("intranasal", "infusion", 1, 1.0)]  # b1 only
    assert mix["scope"]["administered_sessions"].sum() == 7

    load = tp.weekday_hour_load_with_clinic(con, f, "A")
    cell = {(r["weekday"], r["hour"]): r for r in load["clinic"].iter_rows(named=True)}
    # as test_weekday_hour_load (clinic A): Monday 09h 60 of a1's minutes over 2 Mondays, 2 chairs
    assert (
        cell[(1, 9)]["avg_chairs_in_use"] == pytest.approx(60 / 120) and cell[(1, 9)]["chairs_in_scope"] == 2
    )
    # the scope: all 6 chairs (A 2, B 1, C 3); Tuesday 09h holds c1 (C) 09:00–10:30 → 60 min over 2 Tuesdays
    net_cell = {(r["weekday"], r["hour"]): r for r in load["scope"].iter_rows(named=True)}
    assert net_cell[(2, 9)]["chairs_in_scope"] == 6
    assert net_cell[(2, 9)]["avg_chairs_in_use"] == pytest.approx(60 / 120)
    assert cell[(2, 9)]["avg_chairs_in_use"] == 0

    charts = {
        k: v.filter(pl.col("in_period"))
        for k, v in tp.no_show_pchart_with_clinic(con, f, "B", CFG, "week").items()
    }
    # the chart reaches back 26 weeks (earlier sessions are its context); in the period, B: week 1
    # nothing scheduled (no point), week 2: b2 of b1, b2 -> one point at 1/2
    assert charts["clinic"].select("period", "count", "n").rows() == [(date(2026, 3, 9), 1, 2)]
    assert charts["scope"].select("count", "n").rows() == [(1, 7), (1, 3)]  # a4 of 7; b2 of 3
    with pytest.raises(ValueError):
        tp._sessions_over_time(con, tp._scopes(f, "A"), "week", "clinic")


def test_no_show_pcharts_by_clinic(con: duckdb.DuckDBPyConnection) -> None:
    charts = {
        k: v.filter(pl.col("in_period"))
        for k, v in tp.no_show_pcharts_by_clinic(con, filters(), CFG, "week").items()
    }
    # in the period, A: week of 2 March a1–a5, a7 (6 scheduled, a4 a no-show), week of 9 March a6 (1, none)
    assert charts["A"].select("period", "count", "n").rows() == [
        (date(2026, 3, 2), 1, 6),
        (date(2026, 3, 9), 0, 1),
    ]
    # B: nothing scheduled in the first week, so one point: b2 of b1, b2; C: c1 in the first week only
    assert charts["B"].select("period", "count", "n").rows() == [(date(2026, 3, 9), 1, 2)]
    assert charts["C"].select("period", "count", "n").rows() == [(date(2026, 3, 2), 0, 1)]
    # a clinic filtered out by the region has no chart; the p-chart columns are no_show_pchart's
    assert set(tp.no_show_pcharts_by_clinic(con, filters(regions=("South",)), CFG, "week")) == {"B", "C"}
    assert charts["A"].columns == tp.no_show_pchart(con, filters(clinic_ids=("A",)), CFG, "week").columns


@pytest.mark.parametrize("table", [False, True], ids=["inline", "table"])
def test_maintenance_cadence_equals_a_loop_over_each_patients_sessions_within_the_filters(
    make_db: Callable[[dict], Path], table: bool
) -> None:
    """Random histories with clinic, route and modality changes and tied times, against a loop:
    per patient, the administered maintenance sessions the filters select, in (time, id) order,
    each paired with the one before it; the gap counts when the later one is in the period."""
    import random
    from collections import Counter
    from itertools import pairwise

    rng = random.Random(7)
    rows = []
    for p in range(60):
        at = datetime(2025, 1, 1, 10) + timedelta(days=rng.randint(0, 400))
        for k in range(rng.randint(1, 16)):
            at += timedelta(days=rng.choice([0, 7, 7, 14, 14, 21, 30, 45, 200, 400]))  # 0: a tie in time
            rows.append(
                sess(
                    f"S{p:02d}-{k:02d}",
                    f"P{p:02d}",
                    rng.choice("AAAB" if p % 3 else "ABC"),
                    f"{at:%Y-%m-%d %H:%M}",
                    rng.choice(["completed", "completed", "stopped_early", "no_show"]),
                    rng.choice(["maintenance", "maintenance", "induction"]),
                    route=rng.choice(["iv", "iv", "im"]),
                    modality=rng.choice(["infusion", "infusion", "kap"]),
                )
            )
    path = with_tables(make_db({"clinics": CLINICS, "sessions": numbered(rows)}), table)

    def by_loop(f: Filters, previous_anywhere: bool = False) -> list[tuple[int, int]]:
        region = {c["clinic_id"]: c["region"] for c in CLINICS}

        def selected(r: dict[str, Any]) -> bool:
            return (
                r["clinic_id"] in f.clinic_ids
                and (not f.regions or region[r["clinic_id"]] in f.regions)
                and (not f.routes or r["route"] in f.routes)
                and (not f.modalities or r["modality"] in f.modalities)
            )

        chosen = sorted(
            (r["patient_key"], r["scheduled_at"], r["session_id"], selected(r))
            for r in rows
            if r["status"] in ADMIN and r["phase"] == "maintenance" and (previous_anywhere or selected(r))
        )
        gaps = Counter(
            (later[1].date() - earlier[1].date()).days
            for earlier, later in pairwise(chosen)
            if earlier[0] == later[0]
            and later[3]
            and f.start <= later[1].date() <= f.end
            and (later[1].date() - earlier[1].date()).days <= tp.MAX_CADENCE_GAP_DAYS
        )
        return sorted(gaps.items())

    year = Filters(date(2025, 9, 1), date(2026, 8, 31), ("A", "B", "C"))
    cases = [
        year,
        year.with_clinics(("A",)),
        year.with_clinics(("B", "C")),
        replace(year, regions=("South",)),
        replace(year, routes=("iv",)),
        replace(year, modalities=("kap",), clinic_ids=("A", "C")),
        Filters(date(2026, 1, 1), date(2026, 3, 31), ("A", "B")),
    ]
    with duckdb.connect(str(path), read_only=True) as c:
        for f in cases:
            expected = by_loop(f)
            assert tp.maintenance_cadence(c, f).rows() == expected, f
        assert sum(n for _, n in by_loop(year.with_clinics(("A",)))) > 20  # the loop found gaps
        # and the filters matter: pairing with the previous session anywhere would differ
        for f in cases[1:6]:
            assert by_loop(f) != by_loop(f, previous_anywhere=True), f
        both = tp.maintenance_with_clinic(c, year.with_clinics(("A", "B")), "C")
        assert both["scope"]["cadence"].rows() == by_loop(year.with_clinics(("A", "B")))
        assert both["clinic"]["cadence"].rows() == by_loop(year.with_clinics(("C",)))
