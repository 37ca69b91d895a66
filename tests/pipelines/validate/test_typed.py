"""Typing: values read as the contract spells them (and usual other spellings), defaults, derived columns."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from pipelines.contract import TABLES_BY_NAME
from pipelines.validate import validate_file
from pipelines.validate.typed import accepted_schema
from tests.pipelines.validate.export_files import (
    AES,
    CLINICS,
    GOOD_CLINIC,
    PATIENTS,
    SESSIONS,
    only_reject,
    run,
)


def test_good_clinics_file_is_typed_with_defaults(tmp_path):
    r = run(tmp_path, "clinics.csv", CLINICS + GOOD_CLINIC)
    assert r.file_error is None and r.rows_read == 1 and r.rows_rejected == 0
    assert r.table == "clinics"
    assert r.accepted.schema == pl.Schema(accepted_schema(TABLES_BY_NAME["clinics"]))
    row = r.accepted.row(0, named=True)
    assert row == {
        "clinic_id": "CLN-001",
        "clinic_name": "North",
        "region": "East",
        "opened_on": date(2024, 1, 2),
        "closed_on": None,
        "chairs": 5,
        "hours_per_day": 10.0,  # contract default for an empty optional value
        "_row_number": 1,
    }


def test_values_are_trimmed_and_enums_take_the_canonical_spelling(tmp_path):
    text = PATIENTS + " P1 , CLN-001 , f ,90+, PTSD ,2025-03-04\nP2,CLN-001,x,<18,Depression,2025-03-05\n"
    r = run(tmp_path, "patients.csv", text)
    assert r.rows_rejected == 0
    assert r.accepted["patient_key"].to_list() == ["P1", "P2"]
    assert r.accepted["home_clinic_id"].to_list() == ["CLN-001", "CLN-001"]
    assert r.accepted["sex"].to_list() == ["F", "X"]
    assert r.accepted["primary_condition"].to_list() == ["ptsd", "depression"]


def test_timestamp_and_boolean_spellings(tmp_path):
    rows = [
        "AE1,P1,CLN-001,,2026-01-05T10:00,headache,1,yes,none,,",
        "AE2,P1,CLN-001,,2026-01-05 10:00:30,headache,1,NO,none,,",
        "AE3,P1,CLN-001,,2026-01-05T10:00:30,headache,1,1,none,,",
        "AE4,P1,CLN-001,,2026-01-05 10:00,headache,1,False,none,,",
    ]
    r = run(tmp_path, "adverse_events.csv", AES + "\n".join(rows) + "\n")
    assert r.rows_rejected == 0
    assert r.accepted["onset_at"].to_list() == [
        datetime(2026, 1, 5, 10, 0),
        datetime(2026, 1, 5, 10, 0, 30),
        datetime(2026, 1, 5, 10, 0, 30),
        datetime(2026, 1, 5, 10, 0),
    ]
    assert r.accepted["serious"].to_list() == [True, False, True, False]


def test_row_level_derived_dose_per_kg_and_defaults(tmp_path):
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,,,35,70,40\n"
    r = run(tmp_path, "sessions.csv", text)
    row = r.accepted.row(0, named=True)
    assert row["route"] == "iv" and row["modality"] == "infusion"  # contract defaults
    assert row["dose_mg_per_kg"] == pytest.approx(0.5)  # 35 mg / 70 kg
    assert "session_number" not in r.accepted.columns


def test_parquet_file_with_native_types(tmp_path):
    frame = pl.DataFrame(
        {
            "AE_ID": ["AE1", "AE2"],
            "patient_key": ["P1", "P2"],
            "clinic_id": ["CLN-001", "CLN-001"],
            "onset_at": [datetime(2026, 1, 5, 10, 0), datetime(2026, 1, 6, 11, 30, 15)],
            "category": ["Headache", "nausea_vomiting"],
            "severity_grade": [1, 4],
            "serious": [False, True],
            "action_taken": ["none", "monitored"],
            "extra": [1.5, 2.5],
        }
    )
    frame.write_parquet(tmp_path / "adverse_events.parquet")
    r = validate_file(tmp_path / "adverse_events.parquet", "adverse_events.parquet")
    assert r.rows_read == 2 and r.unknown_columns == ["extra"]
    assert r.accepted["onset_at"].to_list() == [datetime(2026, 1, 5, 10, 0), datetime(2026, 1, 6, 11, 30, 15)]
    assert r.accepted["category"].to_list() == ["headache", "nausea_vomiting"]
    assert r.accepted["severity_grade"].to_list() == [1, 4] and r.accepted["serious"].to_list() == [
        False,
        True,
    ]


def test_parquet_zone_aware_timestamp_keeps_wall_clock(tmp_path):
    frame = pl.DataFrame(
        {
            "assessment_id": ["A1"],
            "patient_key": ["P1"],
            "clinic_id": ["CLN-001"],
            "instrument": ["phq9"],
            "score": [12],
            "assessed_at": [datetime(2026, 1, 5, 9, 30)],
        }
    ).with_columns(pl.col("assessed_at").dt.replace_time_zone("America/Chicago"))
    frame.write_parquet(tmp_path / "assessments.parquet")
    r = validate_file(tmp_path / "assessments.parquet", "assessments.parquet")
    assert r.accepted["assessed_at"].to_list() == [datetime(2026, 1, 5, 9, 30)]
    assert r.accepted["score"].to_list() == [12.0]


def test_parquet_dates_written_as_midnight_timestamps_are_dates(tmp_path):
    # pandas stores dates as timestamps; a time of day in a date column is still unparsable
    pl.DataFrame(
        {
            "clinic_id": ["C1", "C2"],
            "clinic_name": ["N", "M"],
            "region": ["R", "R"],
            "opened_on": [datetime(2024, 1, 2), datetime(2024, 1, 2, 9, 30)],
            "chairs": [4, 4],
        }
    ).write_parquet(tmp_path / "clinics.parquet")
    r = validate_file(tmp_path / "clinics.parquet", "clinics.parquet")
    assert r.accepted["opened_on"].to_list() == [date(2024, 1, 2)]
    assert (only_reject(r)["reason"], only_reject(r)["column_name"]) == ("unparsable", "opened_on")
