"""validate_file: one small failing example per rule, plus the invariants the loader relies on."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from pipelines import validate as validate_module
from pipelines.contract import REASONS, TABLES_BY_NAME
from pipelines.validate import REJECT_SCHEMA, RULE_ORDER, FileResult, accepted_schema, validate_file

CLINICS = "clinic_id,clinic_name,region,opened_on,closed_on,chairs,hours_per_day\n"
PATIENTS = "patient_key,home_clinic_id,sex,age_band,primary_condition,enrolled_on\n"
SESSIONS = (
    "session_id,patient_key,clinic_id,scheduled_at,status,phase,route,modality,"
    "dose_mg,weight_kg,duration_min\n"
)
ASSESSMENTS = "assessment_id,patient_key,clinic_id,instrument,score,assessed_at,session_id\n"
AES = (
    "ae_id,patient_key,clinic_id,session_id,onset_at,category,severity_grade,serious,action_taken,"
    "outcome,description\n"
)
GOOD_CLINIC = "CLN-001,North,East,2024-01-02,,5,\n"
GOOD_SESSION = "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,35,70,40\n"
GOOD_AE = "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,1,false,none,resolved,mild headache\n"


def run(tmp_path: Path, name: str, content: str | bytes) -> FileResult:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    result = validate_file(path, name)
    assert result.rows_read == result.accepted.height + result.rows_rejected + result.duplicates_collapsed
    assert result.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert result.rejects.height == (1 if result.file_error else result.rows_rejected)
    return result


def only_reject(result: FileResult) -> dict:
    assert result.rejects.height == 1, result.rejects
    return result.rejects.row(0, named=True)


def everything_text(result: FileResult) -> str:
    """Every value a FileResult could hand to the loader, as one string."""
    parts = [str(v) for frame in (result.accepted, result.rejects) for row in frame.iter_rows() for v in row]
    return " ".join(parts + result.unknown_columns)


# --- accepted rows ---------------------------------------------------------------------------


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


def test_bom_padded_case_insensitive_headers_and_unknown_columns(tmp_path):
    text = "\ufeff Clinic_ID ,CLINIC_NAME,Region,Opened_On,chairs, Notes \n"
    text += "CLN-001,North,East,2024-01-02,5,secret note\n"
    r = run(tmp_path, "clinics.csv", text)
    assert r.file_error is None
    assert r.unknown_columns == ["Notes"]
    assert r.accepted["clinic_id"].to_list() == ["CLN-001"]
    # absent optional columns: null, or the contract default
    assert r.accepted["closed_on"].to_list() == [None]
    assert r.accepted["hours_per_day"].to_list() == [10.0]
    assert "secret note" not in everything_text(r)


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


def test_header_only_file_is_valid_and_empty(tmp_path):
    r = run(tmp_path, "clinics.csv", CLINICS)
    assert r.file_error is None and r.rows_read == 0 and r.accepted.height == 0


def test_file_matching_no_table_is_ignored(tmp_path):
    r = run(tmp_path, "CLN-001/notes.csv", "anything at all\n")
    assert r.table is None and r.file_error is None and r.rows_read == 0 and r.rejects.height == 0
    assert len(r.content_hash) == 64


def test_row_level_derived_dose_per_kg_and_defaults(tmp_path):
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,,,35,70,40\n"
    r = run(tmp_path, "sessions.csv", text)
    row = r.accepted.row(0, named=True)
    assert row["route"] == "iv" and row["modality"] == "infusion"  # contract defaults
    assert row["dose_mg_per_kg"] == pytest.approx(0.5)  # 35 mg / 70 kg
    assert "session_number" not in r.accepted.columns


def test_protocol_ranges_are_not_rejects(tmp_path):
    # 0.2 mg/kg is below the usual protocol and 300 minutes far above: flagged later, never rejected
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,14,70,300\n"
    r = run(tmp_path, "sessions.csv", text)
    assert r.rows_rejected == 0 and r.accepted.height == 1


def test_intranasal_sessions_need_no_weight(tmp_path):
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,intranasal,infusion,56,,120\n"
    r = run(tmp_path, "sessions.csv", text)
    assert r.rows_rejected == 0
    assert r.accepted["dose_mg_per_kg"].to_list() == [None]


def test_cancelled_sessions_need_no_dose(tmp_path):
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,cancelled,induction,iv,infusion,,,\n"
    r = run(tmp_path, "sessions.csv", text)
    assert r.rows_rejected == 0


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


# --- row rejects: one small failing example per rule -----------------------------------------

ROW_CASES = [
    # (file, content, reason, column, value)
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,five,\n", "unparsable", "chairs", "five"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-13-02,,5,\n", "unparsable", "opened_on", "2024-13-02"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-1-2,,5,\n", "unparsable", "opened_on", "2024-1-2"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,5,nan\n", "unparsable", "hours_per_day", "nan"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,5.5,\n", "unparsable", "chairs", "5.5"),
    ("clinics.csv", CLINICS + "CLN-001,,East,2024-01-02,,5,\n", "missing_required", "clinic_name", None),
    ("clinics.csv", CLINICS + "CLN-001,   ,East,2024-01-02,,5,\n", "missing_required", "clinic_name", None),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,51,\n", "out_of_range", "chairs", "51"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,5,25\n", "out_of_range", "hours_per_day", "25"),
    (
        "clinics.csv",
        CLINICS + "CLN-001,North,East,2024-01-02,2023-12-31,5,\n",
        "closed_before_opened",
        "closed_on",
        "2023-12-31",
    ),
    ("patients.csv", PATIENTS + "P1,CLN-001,Q,18-24,ptsd,2025-01-01\n", "invalid_enum", "sex", "Q"),
    ("patients.csv", PATIENTS + "P1,CLN-001,F,18-25,ptsd,2025-01-01\n", "invalid_enum", "age_band", "18-25"),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05 9am,completed,induction,iv,infusion,35,70,40\n",
        "unparsable",
        "scheduled_at",
        "2026-01-05 9am",
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,,70,40\n",
        "missing_required",
        "dose_mg",
        None,
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,stopped_early,induction,im,infusion,35,,40\n",
        "missing_required",
        "weight_kg",
        None,
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,35,70,\n",
        "missing_required",
        "duration_min",
        None,
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,0,70,40\n",
        "out_of_range",
        "dose_mg",
        "0",
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,35,24,40\n",
        "out_of_range",
        "weight_kg",
        "24",
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,oral,infusion,35,70,40\n",
        "invalid_enum",
        "route",
        "oral",
    ),
    (
        # 420 mg / 80 kg = 5.25 mg/kg > 5
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,420,80,40\n",
        "dose_per_kg_too_high",
        "dose_mg_per_kg",
        "5.25",
    ),
    (
        "assessments.csv",
        ASSESSMENTS + "A1,P1,CLN-001,phq9,28,2026-01-05T09:00,\n",
        "out_of_range",
        "score",
        "28",
    ),
    (
        "assessments.csv",
        ASSESSMENTS + "A1,P1,CLN-001,bdi,10,2026-01-05T09:00,\n",
        "invalid_enum",
        "instrument",
        "bdi",
    ),
    (
        "adverse_events.csv",
        AES + "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,4,no,none,,\n",
        "grade_not_serious",
        "serious",
        "no",
    ),
    (
        "adverse_events.csv",
        AES + "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,6,yes,none,,\n",
        "out_of_range",
        "severity_grade",
        "6",
    ),
    (
        "adverse_events.csv",
        AES + "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,2,maybe,none,,\n",
        "unparsable",
        "serious",
        "maybe",
    ),
]


@pytest.mark.parametrize(("name", "content", "reason", "column", "value"), ROW_CASES)
def test_row_reject(tmp_path, name, content, reason, column, value):
    r = run(tmp_path, name, content)
    assert r.file_error is None and r.accepted.height == 0 and r.rows_rejected == 1
    rej = only_reject(r)
    assert (rej["reason"], rej["column_name"], rej["value"]) == (reason, column, value)
    assert rej["row_number"] == 1
    assert rej["message"].startswith(f"{name} row 1, column {column}:")
    assert json.loads(rej["raw_record"])  # the row's canonical columns, as sent


def test_boundary_values_are_accepted(tmp_path):
    # hard limits are inclusive except dose_mg's 0 < x
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,125,25,1\n"
    r = run(tmp_path, "sessions.csv", text)  # 125 / 25 = exactly 5 mg/kg: allowed
    assert r.rows_rejected == 0
    r = run(tmp_path, "assessments.csv", ASSESSMENTS + "A1,P1,CLN-001,phq9,27,2026-01-05T09:00,\n")
    assert r.rows_rejected == 0


def test_first_failing_rule_wins_and_message_counts_the_rest(tmp_path):
    # sex is an invalid enum AND enrolled_on unparsable: unparsable comes first in RULE_ORDER
    r = run(tmp_path, "patients.csv", PATIENTS + "P1,CLN-001,Q,18-24,ptsd,yesterday\n")
    rej = only_reject(r)
    assert RULE_ORDER.index("unparsable") < RULE_ORDER.index("invalid_enum")
    assert (rej["reason"], rej["column_name"]) == ("unparsable", "enrolled_on")
    assert "1 more problem" in rej["message"]


def test_duplicate_keys_that_differ_are_all_rejected(tmp_path):
    text = CLINICS + GOOD_CLINIC + "CLN-001,North,West,2024-01-02,,5,\nCLN-002,South,East,2024-01-02,,3,\n"
    r = run(tmp_path, "clinics.csv", text)
    assert r.accepted["clinic_id"].to_list() == ["CLN-002"]
    assert r.rejects["reason"].to_list() == ["duplicate_key", "duplicate_key"]
    assert r.rejects["row_number"].to_list() == [1, 2]
    assert r.rejects["column_name"].to_list() == ["clinic_id", "clinic_id"]


def test_identical_duplicates_collapse_to_one(tmp_path):
    r = run(tmp_path, "clinics.csv", CLINICS + GOOD_CLINIC * 3)
    assert r.rows_read == 3 and r.accepted.height == 1 and r.duplicates_collapsed == 2
    assert r.rows_rejected == 0 and r.accepted["_row_number"].to_list() == [1]


def test_malformed_lines_are_rejected_and_the_rest_is_read(tmp_path):
    text = (
        CLINICS
        + "CLN-001,North,East,2024-01-02,,5\n"  # one field short
        + "CLN-002,North,East,2024-01-02,,5,10,extra\n"  # one field too many
        + 'CLN-003,"North,East,2024-01-02,,5,10\n'  # an unbalanced quote
        + 'CLN-004,"Upper, North",East,2024-01-02,,5,10\n'  # proper quoting
    )
    r = run(tmp_path, "clinics.csv", text)
    assert r.accepted["clinic_id"].to_list() == ["CLN-004"]
    assert r.accepted["clinic_name"].to_list() == ["Upper, North"]
    assert r.rejects["reason"].to_list() == ["malformed_line"] * 3
    assert r.rejects["row_number"].to_list() == [1, 2, 3]
    assert r.rejects["value"].to_list() == [None] * 3
    assert "6 fields, the header has 7" in r.rejects["message"][0]


# --- file rejects --------------------------------------------------------------------------------

FILE_CASES = [
    ("clinics.csv", b"", "empty_file", None, 0),
    ("clinics.csv", b" \n\r\n\t\n", "empty_file", None, 0),
    ("clinics.csv", GOOD_CLINIC.encode() * 2, "no_header", None, 2),
    (
        "clinics.csv",
        CLINICS.replace(",", ";").encode() + b"CLN-001;North;East;2024-01-02;;5;\n",
        "wrong_delimiter",
        None,
        1,
    ),
    (
        "clinics.csv",
        CLINICS.replace(",", "\t").encode() + b"CLN-001\tN\tE\t2024-01-02\t\t5\t\n",
        "wrong_delimiter",
        None,
        1,
    ),
    (
        "clinics.csv",
        b"clinic_id,clinic_name,opened_on,chairs\nCLN-001,North,2024-01-02,5\n",
        "missing_column",
        "region",
        1,
    ),
    (
        "clinics.csv",
        (CLINICS + "CLN-001,M\xfcnster,East,2024-01-02,,5,\n").encode("latin-1"),
        "unreadable_file",
        None,
        0,
    ),
    ("clinics.csv", b"\x00\x01\x02garbage\xff" * 10, "unreadable_file", None, 0),
    ("clinics.xlsx", b"PK\x03\x04" + b"\x00" * 40, "unreadable_file", None, 0),
    ("clinics.parquet", b"PAR1 this is not really parquet", "unreadable_file", None, 0),
    (
        "clinics.csv",
        b"clinic_id,Clinic ID,clinic_name,region,opened_on,chairs\n",
        "duplicate_column",
        "clinic_id",
        0,
    ),
]


@pytest.mark.parametrize(("name", "content", "reason", "column", "rows"), FILE_CASES)
def test_file_reject(tmp_path, name, content, reason, column, rows):
    r = run(tmp_path, name, content)
    assert r.file_error == reason and reason in REASONS
    rej = only_reject(r)
    assert (rej["reason"], rej["column_name"], rej["row_number"]) == (reason, column, None)
    assert rej["value"] is None and rej["raw_record"] is None
    assert rej["message"].startswith(name)
    assert r.accepted.height == 0 and r.rows_rejected == rows
    assert r.accepted.schema == pl.Schema(accepted_schema(TABLES_BY_NAME["clinics"]))


def test_missing_column_message_names_every_missing_column(tmp_path):
    r = run(tmp_path, "clinics.csv", "clinic_id,opened_on\n")
    assert "clinic_name, region" in only_reject(r)["message"]


def test_identifier_column_file_leaves_nothing_behind(tmp_path):
    text = (
        "patient_key,home_clinic_id,sex,age_band,primary_condition,enrolled_on,Date of Birth\n"
        "P1,CLN-001,F,25-34,ptsd,2025-01-01,1990-07-14\n"
        "P2,CLN-001,M,25-34,ptsd,2025-01-01,1985-02-03\n"
    )
    r = run(tmp_path, "patients.csv", text)
    assert r.file_error == "identifier_column" and r.rows_rejected == 2 and r.rows_read == 2
    rej = only_reject(r)
    assert rej["value"] is None and rej["raw_record"] is None
    assert "patients.csv" in rej["message"] and "Date of Birth" in rej["message"]
    everything = everything_text(r)
    for leaked in ("1990-07-14", "1985-02-03", "P1", "P2", "CLN-001"):
        assert leaked not in everything


def test_identifier_column_in_parquet(tmp_path):
    pl.DataFrame({"clinic_id": ["CLN-001"], "clinic_name": ["N"], "email": ["a@b.org"]}).write_parquet(
        tmp_path / "clinics.parquet"
    )
    r = validate_file(tmp_path / "clinics.parquet", "clinics.parquet")
    assert r.file_error == "identifier_column" and r.rows_rejected == 1
    assert "a@b.org" not in everything_text(r)


def test_unexpected_error_becomes_unreadable_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("patient P1 value leaked in an exception")

    monkeypatch.setattr(validate_module, "_validate_rows", boom)
    r = run(tmp_path, "clinics.csv", CLINICS + GOOD_CLINIC)
    assert r.file_error == "unreadable_file"
    assert "RuntimeError" in only_reject(r)["message"]
    assert "P1" not in only_reject(r)["message"]


# --- de-identification -------------------------------------------------------------------------


def test_free_text_is_redacted_in_accepted_rows(tmp_path):
    text = AES + (
        "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,1,false,none,resolved,"
        '"Pt called from 555-123-4567, mail jo.doe@example.com, SSN 123-45-6789"\n'
    )
    r = run(tmp_path, "adverse_events.csv", text)
    assert r.accepted["description"].to_list() == [
        "Pt called from [redacted:phone], mail [redacted:email], SSN [redacted:ssn]"
    ]
    assert r.redactions == 3


def test_identifiers_never_reach_the_quarantine(tmp_path):
    text = AES + (
        # rejected for its category; its description carries an e-mail
        "AE1,P1,CLN-001,S1,2026-01-05T10:00,stomachache,1,false,none,,write to jo@example.com\n"
        # an identifier typed into a numeric column
        "AE2,P1,CLN-001,S1,2026-01-05T10:00,headache,555-123-4567,false,none,,\n"
        # a malformed line whose text carries an SSN
        "AE3,P1,CLN-001,S1,2026-01-05T10:00,headache,1,false,none,,SSN 123-45-6789,extra\n"
    )
    r = run(tmp_path, "adverse_events.csv", text)
    assert r.rejects["reason"].to_list() == ["invalid_enum", "unparsable", "malformed_line"]
    everything = everything_text(r)
    for leaked in ("jo@example.com", "555-123-4567", "123-45-6789"):
        assert leaked not in everything
    assert r.rejects["value"][1] == "[redacted:phone]"
    assert "[redacted:email]" in r.rejects["raw_record"][0]
    assert r.redactions == 3


def test_unknown_columns_never_reach_raw_record(tmp_path):
    text = CLINICS.rstrip("\n") + ",internal_note\nCLN-001,North,East,2024-01-02,,99,,call Dr Who\n"
    r = run(tmp_path, "clinics.csv", text)
    rej = only_reject(r)
    assert rej["reason"] == "out_of_range"
    assert "internal_note" not in rej["raw_record"] and "Dr Who" not in rej["raw_record"]
    assert set(json.loads(rej["raw_record"])) == set(TABLES_BY_NAME["clinics"].column_names)


# --- property: whatever arrives, nothing is lost and nothing raises -----------------------------


def _valid_value(column) -> st.SearchStrategy[str]:
    low = column.minimum if column.minimum is not None else 0
    high = column.maximum if column.maximum is not None else 100
    return {
        "text": st.sampled_from(["A1", "B2", "CLN-001", " x y "]),
        "enum": st.sampled_from(list(column.enum or ("x",)) + [v.upper() for v in column.enum or ()]),
        "int": st.integers(int(low), int(high)).map(str),
        "float": st.floats(low, high, allow_nan=False).map(lambda v: f"{v:.2f}"),
        "date": st.dates().map(lambda d: d.isoformat()),
        "timestamp": st.datetimes().map(lambda d: d.isoformat(timespec="minutes")),
        "bool": st.sampled_from(["true", "No", "1", "0"]),
    }[column.kind]


CORRUPT = st.one_of(
    st.just(""),
    st.just("zz"),
    st.just("-1"),
    st.just("1e9"),
    st.text(alphabet='a1,"\n -;:@', max_size=6),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_input_conserves_rows_and_never_raises(tmp_path_factory, data):
    table = data.draw(st.sampled_from(list(TABLES_BY_NAME.values())), label="table")
    columns = list(table.columns)
    n_rows = data.draw(st.integers(0, 12), label="rows")
    lines = []
    for _ in range(n_rows):
        values = [
            data.draw(st.one_of(_valid_value(c), CORRUPT) if data.draw(st.booleans()) else _valid_value(c))
            for c in columns
        ]
        lines.append(",".join(values))
    if lines and data.draw(st.booleans(), label="repeat a row"):
        lines.append(data.draw(st.sampled_from(lines)))
    body = "\n".join([",".join(c.name for c in columns), *lines]) + "\n"
    if data.draw(st.booleans(), label="properly quoted"):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(
            [[c.name for c in columns]] + [line.split(",") for line in lines]
        )
        body = buffer.getvalue()
    path = tmp_path_factory.mktemp("prop") / f"{table.name}.csv"
    path.write_text(body)
    note(repr(body))

    r = validate_file(path, path.name)

    assert r.rows_read == r.accepted.height + r.rows_rejected + r.duplicates_collapsed
    assert r.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert set(r.rejects["reason"].to_list()) <= set(REASONS)
    if r.file_error is None:
        assert r.accepted.schema == pl.Schema(accepted_schema(table))
        rejected = r.rejects["row_number"].to_list()
        assert len(rejected) == len(set(rejected)) == r.rows_rejected  # one reject per rejected row
        assert not set(rejected) & set(r.accepted["_row_number"].to_list())
        assert r.rejects["message"].null_count() == 0


def test_crlf_file_with_a_multi_line_description(tmp_path):
    text = AES + GOOD_AE.replace("mild headache", '"mild headache,\r\nresolved by 11:00"')
    r = run(tmp_path, "adverse_events.csv", text.replace("\n", "\r\n").replace("\r\r\n", "\r\n"))
    assert r.rows_rejected == 0
    assert r.accepted["description"].to_list() == ["mild headache,\nresolved by 11:00"]


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


def test_parquet_with_an_unreadable_column_type_is_rejected_whole(tmp_path):
    pl.DataFrame(
        {
            "clinic_id": ["C"],
            "clinic_name": ["N"],
            "region": ["R"],
            "opened_on": ["2024-01-01"],
            "chairs": [[1, 2]],
        }
    ).write_parquet(tmp_path / "clinics.parquet")
    r = validate_file(tmp_path / "clinics.parquet", "clinics.parquet")
    assert r.file_error == "unreadable_file" and r.rows_rejected == 1
    assert only_reject(r)["column_name"] == "chairs"


def test_parquet_with_two_spellings_of_one_column_is_rejected(tmp_path):
    pl.DataFrame({"clinic_id": ["C"], "Clinic ID": ["D"]}).write_parquet(tmp_path / "clinics.parquet")
    r = validate_file(tmp_path / "clinics.parquet", "clinics.parquet")
    assert r.file_error == "duplicate_column"


def test_malformed_line_message_does_not_count_the_consequences(tmp_path):
    r = run(tmp_path, "clinics.csv", CLINICS + "CLN-001,North\n")
    rej = only_reject(r)
    assert rej["reason"] == "malformed_line" and "more problem" not in rej["message"]
    assert json.loads(rej["raw_record"]) == {
        "clinic_id": "CLN-001",
        "clinic_name": "North",
        "region": None,
        "opened_on": None,
        "closed_on": None,
        "chairs": None,
        "hours_per_day": None,
    }


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


def test_identifier_split_by_a_line_break_is_redacted_in_the_raw_record(tmp_path):
    text = AES + 'AE1,P1,CLN-001,S1,2026-01-05T10:00,"call 555\n123-4567",1,false,none,,\n'
    r = run(tmp_path, "adverse_events.csv", text)
    rej = only_reject(r)
    assert rej["reason"] == "invalid_enum" and rej["value"] == "call [redacted:phone]"
    assert "123-4567" not in rej["raw_record"] and "[redacted:phone]" in rej["raw_record"]
    assert r.redactions == 1


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b'"', b'""', b"a", b",", b"\n", b"\r\n", b" "]), max_size=40).map(b"".join))
def test_a_file_may_span_lines_exactly_when_a_line_holds_an_odd_number_of_quotes(body: bytes) -> None:
    """The byte-level shortcut against the definition, counted line by line."""
    odd_line = any(line.count(b'"') % 2 for line in body.split(b"\n"))
    assert validate_module._may_span_lines(body) == odd_line
