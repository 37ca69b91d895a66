"""A hand-worked monitoring fixture: five administered sessions whose every rule outcome is known.

Every expected figure in the tests is worked out here, session by session (period March 2026):

- S1 C1 iv: observed 40+20 ≥ 30 ✓; pre 130/80 (vitals); 150/90 at 40 min ✓; discharge 125/78;
  CADSS 10, MOAA/S 5. Complete.
- S2 C1 intranasal: 30+60 < 120 ✗; pre 160/90 then re-check 140/85 (the latest: not elevated);
  BPs at 25 and 90 min only ✗; discharge 185/100: excursion; MOAA/S 3.
- S3 C1 iv: 40 + null ≥ 30 ✓; pre 155/92: elevated; 170/100 ('other') at 30 min ✓; latest
  discharge row has no BP and HR 135: incomplete, excursion.
- S4 C2 im: 20+40 ≥ 60 ✓; no vitals rows: pre 152/80 from the session (elevated), incomplete;
  CADSS 20.
- S6 C3 iv: duration null ✗; pre 130/85; 140/90 at 60 min ✓; discharge 130/85 SpO₂ 91:
  complete, excursion.

S5 (C2) is a no-show; S7 (C1, 15 Feb) is in the previous period (no vitals rows, observed ✓);
S8 (C1, April) is after the period.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import duckdb

from dashboard.metrics.filters import Filters

START, END = date(2026, 3, 1), date(2026, 3, 31)
T0 = datetime(2026, 3, 10, 10, 0)
FILTERS = Filters(start=START, end=END, clinic_ids=("C1", "C2", "C3"))


def at(minutes: int) -> datetime:
    """10:00 on 10 March 2026 plus ``minutes``."""
    from datetime import timedelta

    return T0 + timedelta(minutes=minutes)


def _session(sid: str, patient: str, clinic: str, route: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "session_id": sid,
        "patient_key": patient,
        "clinic_id": clinic,
        "scheduled_at": T0,
        "status": "completed",
        "phase": "induction",
        "route": route,
        "modality": "infusion",
        "dose_mg": 40.0,
        "weight_kg": 80.0,
        "dose_mg_per_kg": 0.5,
        "duration_min": 40,
    }
    row.update(kw)
    return row


SESSIONS = [
    _session("S1", "P1", "C1", "iv", recovery_min=20, bp_sys_max=150, bp_dia_max=90),
    _session("S2", "P2", "C1", "intranasal", duration_min=30, recovery_min=60, dose_mg_per_kg=None,
             weight_kg=None, dose_mg=56.0, bp_sys_max=185, bp_dia_max=100),
    _session("S3", "P3", "C1", "iv", dose_mg_per_kg=0.8, dose_mg=64.0, bp_sys_max=185, bp_dia_max=100),
    _session("S4", "P4", "C2", "im", duration_min=20, recovery_min=40, bp_sys_pre=152, bp_dia_pre=80),
    _session("S5", "P5", "C2", "iv", status="no_show", duration_min=None),
    _session("S6", "P6", "C3", "iv", duration_min=None, recovery_min=30),
    _session("S7", "P7", "C1", "iv", scheduled_at=datetime(2026, 2, 15, 10, 0), recovery_min=20),
    _session("S8", "P1", "C1", "iv", scheduled_at=datetime(2026, 4, 5, 10, 0), recovery_min=20),
]  # fmt: skip
PROVIDERS = {"S1": "PA", "S2": "PB", "S3": "PA", "S6": "PC", "S7": "PA", "S8": "PA"}

# (vital_id, session_id, minutes from 10:00, timepoint, sys, dia, hr, spo2)
VITALS = [
    ("V01", "S1", -10, "pre_dose", 130, 80, 70, 98),
    ("V02", "S1", 40, "during", 150, 90, 90, 97),
    ("V03", "S1", 60, "discharge", 125, 78, 72, 98),
    ("V04", "S2", -5, "pre_dose", 160, 90, 75, 98),
    ("V05", "S2", -2, "pre_dose", 140, 85, 75, 98),
    ("V06", "S2", 25, "during", 150, 90, 88, 97),
    ("V07", "S2", 90, "post_dose", 150, 92, 80, 97),
    ("V08", "S2", 120, "discharge", 185, 100, 80, 97),
    ("V09", "S3", -10, "pre_dose", 155, 92, 80, 98),
    ("V10", "S3", 30, "other", 170, 100, 95, 97),
    ("V11", "S3", 60, "discharge", 120, 80, 80, 98),
    ("V12", "S3", 70, "discharge", None, None, 135, 98),
    ("V13", "S6", -10, "pre_dose", 130, 85, 70, 98),
    ("V14", "S6", 60, "during", 140, 90, 80, 95),
    ("V15", "S6", 90, "discharge", 130, 85, 75, 91),
]
ASSESSMENTS = [
    ("A1", "P1", "C1", "cadss", 10.0, "S1"),
    ("A2", "P1", "C1", "moaas", 5.0, "S1"),
    ("A3", "P2", "C1", "moaas", 3.0, "S2"),
    ("A4", "P4", "C2", "cadss", 20.0, "S4"),
]
# (medication_id, patient_key, drug_class, started_on, stopped_on): at day 0 (10 March) P2, P6 on a
# benzodiazepine (P6's stops that day), P3 on an MAOI; P1's stimulant stopped before, P4's benzo later.
MEDICATIONS = [
    ("M1", "P3", "maoi", date(2026, 1, 1), None),
    ("M2", "P1", "stimulant", date(2025, 6, 1), date(2026, 3, 1)),
    ("M3", "P2", "benzodiazepine", date(2026, 3, 10), None),
    ("M4", "P4", "benzodiazepine", date(2026, 3, 11), None),
    ("M5", "P6", "benzodiazepine", date(2025, 1, 1), date(2026, 3, 10)),
]
AES = [("E1", "P1", "C1", "S1", "dissociation"), ("E2", "P3", "C1", "S3", "hypertension")]

VITALS_DDL = (
    "CREATE TABLE IF NOT EXISTS vitals (vital_id VARCHAR, session_id VARCHAR, clinic_id VARCHAR, "
    "taken_at TIMESTAMP, timepoint VARCHAR, bp_sys INTEGER, bp_dia INTEGER, hr INTEGER, spo2 INTEGER, "
    "resp_rate INTEGER)"
)
MEDICATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS medications (medication_id VARCHAR, patient_key VARCHAR, clinic_id VARCHAR, "
    "drug_class VARCHAR, started_on DATE, stopped_on DATE)"
)


def add_v2(db: Path, vitals: list[tuple], medications: list[tuple], providers: dict[str, str]) -> None:
    """Contract v2 rows added to a database: the tables (when the published DDL lacks them) and rows,
    each vitals row with its session's clinic and each medication with the patient's home clinic."""
    con = duckdb.connect(str(db))
    try:
        con.execute(VITALS_DDL)
        con.execute(MEDICATIONS_DDL)
        con.execute("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS provider_key VARCHAR")
        for vid, sid, minute, tp, sys_, dia, hr, spo2 in vitals:
            con.execute(
                "INSERT INTO vitals (vital_id, session_id, clinic_id, taken_at, timepoint, bp_sys, bp_dia, "
                "hr, spo2, resp_rate) SELECT ?, ?, clinic_id, ?, ?, ?, ?, ?, ?, 14 FROM sessions "
                "WHERE session_id = ?",
                [vid, sid, at(minute), tp, sys_, dia, hr, spo2, sid],
            )
        for mid, patient, drug, started, stopped in medications:
            con.execute(
                "INSERT INTO medications VALUES "
                "(?, ?, (SELECT home_clinic_id FROM patients WHERE patient_key = ?), ?, ?, ?)",
                [mid, patient, patient, drug, started, stopped],
            )
        for sid, provider in providers.items():
            con.execute("UPDATE sessions SET provider_key = ? WHERE session_id = ?", [provider, sid])
    finally:
        con.close()


def build(make_db: Callable[[dict], Path]) -> Path:
    clinics = [
        {"clinic_id": c, "clinic_name": n, "region": "North", "opened_on": date(2024, 1, 1), "chairs": 4,
         "hours_per_day": 10.0}
        for c, n in (("C1", "Harbor"), ("C2", "Elm"), ("C3", "Ridge"))
    ]  # fmt: skip
    home = {s["patient_key"]: s["clinic_id"] for s in SESSIONS}
    patients = [
        {
            "patient_key": p,
            "home_clinic_id": c,
            "primary_condition": "depression",
            "enrolled_on": date(2026, 1, 1),
        }
        for p, c in sorted(home.items())
    ]
    db = make_db(
        {
            "clinics": clinics,
            "patients": patients,
            "sessions": SESSIONS,
            "assessments": [
                {"assessment_id": a, "patient_key": p, "clinic_id": c, "instrument": i, "score": s,
                 "assessed_at": at(50), "session_id": sid}
                for a, p, c, i, s, sid in ASSESSMENTS
            ],
            "adverse_events": [
                {"ae_id": e, "patient_key": p, "clinic_id": c, "session_id": s, "onset_at": at(30),
                 "category": cat, "severity_grade": 1, "serious": False, "action_taken": "monitored"}
                for e, p, c, s, cat in AES
            ],
        }
    )  # fmt: skip
    add_v2(db, VITALS, MEDICATIONS, PROVIDERS)
    return db
