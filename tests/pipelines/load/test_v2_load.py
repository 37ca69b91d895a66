"""Contract v2 through real refreshes: vitals and medications load, correct and derive like the rest.

Every expected value is worked out by hand in the comments.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.refresh import refresh
from tests.pipelines.export_folders import CLINICS, DATA_TABLES, PATIENTS, SESSIONS, rows, sess, write

VITALS = "vital_id,session_id,taken_at,timepoint,bp_sys,bp_dia,hr,spo2,resp_rate"
MEDICATIONS = "medication_id,patient_key,drug_class,started_on,stopped_on"
SESSIONS_V2 = SESSIONS + ",bp_sys_pre,bp_sys_max,hr_pre,spo2_min,provider_key"
READINGS = (
    "SELECT session_id, bp_sys_pre, bp_dia_pre, hr_pre, bp_sys_max, bp_dia_max, hr_max, spo2_min "
    "FROM sessions ORDER BY session_id"
)


def _base(exports: Path) -> None:
    write(exports, "clinics.csv", CLINICS, "C1,One,East,2024-01-01,4", "C2,Two,West,2024-01-01,4")
    write(
        exports,
        "C1/patients.csv",
        PATIENTS,
        "P1,C1,F,35-44,depression,2025-01-01",
        "P2,C1,M,45-54,ptsd,2025-01-01",
    )


def _ok(exports: Path, db: Path) -> None:
    summary = refresh(exports, db)
    assert summary.status == "succeeded", summary.message


def test_session_readings_derived_from_vitals_rows(tmp_path: Path) -> None:
    exports, db = tmp_path / "exports", tmp_path / "k.duckdb"
    _base(exports)
    dose = "35,70,40"
    write(
        exports,
        "C1/sessions_2025-02.csv",
        SESSIONS_V2,
        f"S1,P1,C1,2025-02-03T10:00,completed,induction,{dose},,,,,PRV-1",  # readings from its rows only
        f"S2,P1,C1,2025-02-05T10:00,completed,induction,{dose},121,140,66,97,PRV-1",  # no rows: its own
        f"S3,P2,C1,2025-02-05T11:00,completed,induction,{dose},,170,,93,PRV-2",  # rows give only pre
    )
    write(
        exports,
        "C1/vitals_2025-02.csv",
        VITALS,
        "V1,S1,2025-02-03T09:50,pre_dose,150,95,80,98,16",
        "V2,S1,2025-02-03T09:58,pre_dose,138,88,,98,15",  # the latest pre-dose reading
        "V3,S1,2025-02-03T10:40,during,160,100,90,95,14",
        "V4,S1,2025-02-03T11:30,discharge,135,85,75,97,14",
        "V5,S3,2025-02-05T10:55,pre_dose,128,79,70,99,",
    )
    _ok(exports, db)
    # S1: pre = V2 for BP (138/88); V2 gives no HR, so hr_pre = V1's 80; max over V3, V4:
    #     160/100, HR 90; spo2_min = min(95, 97) = 95.
    # S2: no vitals rows: the values it sent.
    # S3: pre from V5 (128/79, HR 70); no other timepoint: bp_sys_max 170 and spo2_min 93 as sent.
    assert rows(db, READINGS) == [
        ("S1", 138, 88, 80, 160, 100, 90, 95),
        ("S2", 121, None, 66, 140, None, None, 97),
        ("S3", 128, 79, 70, 170, None, None, 93),
    ]
    assert rows(db, "SELECT session_id, provider_key FROM sessions ORDER BY 1") == [
        ("S1", "PRV-1"),
        ("S2", "PRV-1"),
        ("S3", "PRV-2"),
    ]
    # a corrected reading (a later file) replaces the old row, and the session follows it
    write(exports, "C1/vitals_2025-03.csv", VITALS, "V3,S1,2025-02-03T10:40,during,150,96,88,96,14")
    _ok(exports, db)
    assert rows(db, "SELECT vital_id, bp_sys, bp_dia FROM vitals WHERE vital_id = 'V3'") == [("V3", 150, 96)]
    assert rows(db, "SELECT count(*) FROM vitals") == [(5,)]
    # S1 max now over V3' (150/96, HR 88, SpO2 96) and V4 (135/85, 75, 97)
    assert rows(db, READINGS)[0] == ("S1", 138, 88, 80, 150, 96, 88, 96)
    # a corrected session row (sent again without readings) gets them from its rows again
    write(
        exports,
        "C1/sessions_2025-03.csv",
        SESSIONS_V2,
        f"S1,P1,C1,2025-02-03T10:00,stopped_early,induction,{dose},,,,,PRV-1",
    )
    _ok(exports, db)
    assert rows(db, READINGS)[0] == ("S1", 138, 88, 80, 150, 96, 88, 96)
    assert rows(db, "SELECT status FROM sessions WHERE session_id = 'S1'") == [("stopped_early",)]


def test_clinic_copied_from_session_and_patient_and_kept_through_corrections(tmp_path: Path) -> None:
    exports, db = tmp_path / "exports", tmp_path / "k.duckdb"
    _base(exports)
    write(exports, "C1/sessions.csv", SESSIONS, sess("S1", "P1", "C1", "2025-02-03T10:00"))
    write(exports, "C1/vitals.csv", VITALS, "V1,S1,2025-02-03T09:50,pre_dose,130,80,70,98,14")
    write(
        exports,
        "C1/medications.csv",
        MEDICATIONS,
        "M1,P1,benzodiazepine,2024-06-01,",
        "M2,P2,ssri_snri,2024-06-01,2024-12-01",
    )
    _ok(exports, db)
    assert rows(db, "SELECT vital_id, clinic_id FROM vitals") == [("V1", "C1")]
    assert rows(db, "SELECT medication_id, clinic_id FROM medications ORDER BY 1") == [
        ("M1", "C1"),
        ("M2", "C1"),
    ]
    # the session moves to C2 and P1's home clinic becomes C2: the copies follow, P2's stays
    write(exports, "C2/sessions_fix.csv", SESSIONS, sess("S1", "P1", "C2", "2025-02-03T10:00"))
    write(exports, "C2/patients_fix.csv", PATIENTS, "P1,C2,F,35-44,depression,2025-01-01")
    # and M1 is re-sent stopped: the later file's row replaces it
    write(exports, "C2/medications_fix.csv", MEDICATIONS, "M1,P1,benzodiazepine,2024-06-01,2025-03-01")
    _ok(exports, db)
    assert rows(db, "SELECT medication_id, CAST(stopped_on AS VARCHAR) FROM medications ORDER BY 1") == [
        ("M1", "2025-03-01"),
        ("M2", "2024-12-01"),
    ]
    assert rows(db, "SELECT vital_id, clinic_id FROM vitals") == [("V1", "C2")]
    assert rows(db, "SELECT medication_id, clinic_id FROM medications ORDER BY 1") == [
        ("M1", "C2"),
        ("M2", "C1"),
    ]


def test_foreign_keys_of_the_new_tables(tmp_path: Path) -> None:
    exports, db = tmp_path / "exports", tmp_path / "k.duckdb"
    _base(exports)
    write(exports, "C1/sessions.csv", SESSIONS, sess("S1", "P1", "C1", "2025-02-03T10:00"))
    write(
        exports,
        "C1/vitals.csv",
        VITALS,
        "V1,S1,2025-02-03T09:50,pre_dose,130,80,70,98,14",
        "V2,S404,2025-02-03T09:50,pre_dose,130,80,70,98,14",
    )
    write(
        exports, "C1/medications.csv", MEDICATIONS, "M1,P1,opioid,2024-06-01,", "M2,P404,opioid,2024-06-01,"
    )
    _ok(exports, db)
    assert rows(db, "SELECT vital_id FROM vitals") == [("V1",)]
    assert rows(db, "SELECT medication_id FROM medications") == [("M1",)]
    assert rows(
        db,
        "SELECT table_name, reason, column_name, value FROM rejected_rows ORDER BY table_name",
    ) == [
        ("medications", "unknown_fk", "patient_key", "P404"),
        ("vitals", "unknown_fk", "session_id", "S404"),
    ]


def test_v1_exports_load_and_publish_empty_v2_tables(tmp_path: Path) -> None:
    exports, db = tmp_path / "exports", tmp_path / "k.duckdb"
    _base(exports)
    write(exports, "C1/sessions.csv", SESSIONS, sess("S1", "P1", "C1", "2025-02-03T10:00"))
    _ok(exports, db)
    assert rows(db, "SELECT count(*) FROM rejected_rows") == [(0,)]
    counts = {t: rows(db, f"SELECT count(*) FROM {t}")[0][0] for t in DATA_TABLES}
    assert counts["sessions"] == 1 and counts["vitals"] == 0 and counts["medications"] == 0
    assert rows(db, "SELECT provider_key FROM sessions") == [(None,)]


def test_a_database_from_before_v2_gains_its_tables_and_columns(tmp_path: Path) -> None:
    exports, db = tmp_path / "exports", tmp_path / "k.duckdb"
    _base(exports)
    write(exports, "C1/sessions.csv", SESSIONS, sess("S1", "P1", "C1", "2025-02-03T10:00"))
    _ok(exports, db)
    con = duckdb.connect(str(db))  # what a v1 version published
    for statement in (
        "ALTER TABLE sessions DROP COLUMN provider_key",
        "DROP TABLE vitals",
        "DROP TABLE vitals_key_hashes",
        "DROP TABLE medications",
        "DROP TABLE medications_key_hashes",
    ):
        con.execute(statement)
    con.close()
    write(exports, "C1/vitals.csv", VITALS, "V1,S1,2025-02-03T10:40,during,150,90,80,97,14")
    _ok(exports, db)
    assert rows(db, "SELECT session_id, provider_key, bp_sys_max FROM sessions") == [("S1", None, 150)]
    assert rows(db, "SELECT vital_id, clinic_id FROM vitals") == [("V1", "C1")]
    assert rows(db, "SELECT count(*) FROM medications") == [(0,)]
