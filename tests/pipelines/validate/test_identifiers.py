"""The stricter identifier guard (contract v2): key values, column names, free text, bad bytes."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.validate import validate_file
from tests.pipelines.validate.export_files import AES, CLINICS, GOOD_AE, everything_text, only_reject, run

IDENTIFIER_KEYS = [
    "jo.doe@mail.example.org",
    "555-123-4567",
    "(555) 123-4567",
    "+1 555 123 4567",
    "+44 20 7946 0958",
    "123-45-6789",
    "123.45.6789",
    "123 45 6789",
    "123\u201345\u20136789",  # en dashes
]


@pytest.mark.parametrize("value", IDENTIFIER_KEYS)
@pytest.mark.parametrize("column", ["ae_id", "patient_key", "clinic_id", "session_id"])
def test_identifier_in_any_key_column_rejects_the_row_and_keeps_nothing(tmp_path, value, column):
    row = dict(zip(AES.strip().split(","), GOOD_AE.strip().split(","), strict=True)) | {column: value}
    text = AES + ",".join(f'"{v}"' for v in row.values()) + "\n"
    r = run(tmp_path, "adverse_events.csv", text)
    rej = only_reject(r)
    assert (rej["reason"], rej["column_name"], rej["value"], rej["raw_record"]) == (
        "identifier_in_key",
        column,
        None,
        None,
    )
    assert value not in everything_text(r)


@pytest.mark.parametrize(
    "value", ["P0001-03-00012", "CLN-007", "S-2026-01-05-0001", "5551234567", "123456789"]
)
def test_pseudonyms_are_not_taken_for_identifiers(tmp_path, value):
    row = dict(zip(AES.strip().split(","), GOOD_AE.strip().split(","), strict=True)) | {"patient_key": value}
    r = run(tmp_path, "adverse_events.csv", AES + ",".join(row.values()) + "\n")
    assert r.rows_rejected == 0 and r.accepted["patient_key"].to_list() == [value]


def test_identifier_key_wins_over_every_other_reason(tmp_path):
    # a bad grade too: the reject must still be identifier_in_key, or the raw record would be kept
    text = AES + "AE1,jo@x.org,CLN-001,S1,2026-01-05T10:00,headache,9,false,none,,\n"
    rej = only_reject(run(tmp_path, "adverse_events.csv", text))
    assert rej["reason"] == "identifier_in_key" and rej["raw_record"] is None


@pytest.mark.parametrize(
    "name",
    [
        "DateOfBirth",
        "Birthday",
        "PhoneNumber",
        "Cell Phone",
        "Patient Email",
        "emailaddress",
        "Home Address",
        "Given Name",
        "Family Name",
        "patient_mrn",
        "Social Security",
        "date of birth",
        "ZIP",
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_identifier_column_spellings_reject_the_file(tmp_path, name, fmt):
    columns = [*CLINICS.strip().split(","), name]
    values = ["CLN-001", "North", "East", "2024-01-02", "", "5", "", "secret-value-1"]
    if fmt == "csv":
        path = tmp_path / "clinics.csv"
        path.write_text(",".join(columns) + "\n" + ",".join(values) + "\n")
    else:
        path = tmp_path / "clinics.parquet"
        pl.DataFrame({c: [v] for c, v in zip(columns, values, strict=True)}).write_parquet(path)
    r = validate_file(path, path.name)
    assert r.file_error == "identifier_column" and r.accepted.height == 0
    assert only_reject(r)["column_name"] == name
    assert "secret-value-1" not in everything_text(r)


@pytest.mark.parametrize("name", ["clinic_name", "region", "notes", "drug_name", "category_code"])
def test_ordinary_column_names_are_not_identifiers(tmp_path, name):
    columns = CLINICS.strip().split(",")
    if name not in columns:
        columns.append(name)
    text = (
        ",".join(columns)
        + "\n"
        + ",".join(["CLN-001", "North", "East", "2024-01-02", "", "5", "", "x"][: len(columns)])
        + "\n"
    )
    r = run(tmp_path, "clinics.csv", text)
    assert r.file_error is None and r.accepted.height == 1


# (description, what must be gone, marker left in its place)
FREE_TEXT = [
    ("pt DOB 1985-03-02 felt dizzy", "1985-03-02", "[redacted:dob]"),
    ("born on 3 March 1985, nausea", "1985", "[redacted:dob]"),
    ("date of birth: 03/02/1985", "03/02/1985", "[redacted:dob]"),
    ("birthday March 2, 1985", "1985", "[redacted:dob]"),
    ("MRN 12345678 seen", "12345678", "[redacted:mrn]"),
    ("MR# 4455 seen", "4455", "[redacted:mrn]"),
    ("chart no. 99881 reviewed", "99881", "[redacted:mrn]"),
    ("medical record number 998877", "998877", "[redacted:mrn]"),
    ("SSN 123456789 on file", "123456789", "[redacted:ssn]"),
    ("social security 123456789", "123456789", "[redacted:ssn]"),
    ("ss 123.45.6789", "123.45.6789", "[redacted:ssn]"),
    ("ss 123\u201345\u20136789", "6789", "[redacted:ssn]"),
    ("ss 123-45-6789", "123-45-6789", "[redacted:ssn]"),
    ("call 555-0199 later", "555-0199", "[redacted:phone]"),
    ("call 555.0199 later", "555.0199", "[redacted:phone]"),
    ("call (555) 123-4567", "123-4567", "[redacted:phone]"),
    ("mail jo@x.example.org", "jo@x.example.org", "[redacted:email]"),
]


@pytest.mark.parametrize(("text", "secret", "marker"), FREE_TEXT)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_free_text_identifiers_are_redacted(tmp_path: Path, text, secret, marker, fmt):
    columns = AES.strip().split(",")
    values = [*GOOD_AE.strip().split(",")[:-1], text]
    if fmt == "csv":
        path = tmp_path / "adverse_events.csv"
        path.write_text(",".join(columns) + "\n" + ",".join(f'"{v}"' for v in values) + "\n")
    else:
        path = tmp_path / "adverse_events.parquet"
        pl.DataFrame({c: [v] for c, v in zip(columns, values, strict=True)}).write_parquet(path)
    r = validate_file(path, path.name)
    (description,) = r.accepted["description"].to_list()
    assert secret not in description and marker in description
    assert r.redactions == 1


def test_free_text_in_a_rejected_row_is_redacted_too(tmp_path):
    text = AES + 'AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,9,false,none,,"DOB 1985-03-02, MRN 445566"\n'
    rej = only_reject(run(tmp_path, "adverse_events.csv", text))
    record = json.loads(rej["raw_record"])
    assert record["description"] == "[redacted:dob], [redacted:mrn]"


def test_bad_bytes_cost_their_line_only(tmp_path):
    body = (
        CLINICS.encode()
        + b"CLN-001,North,East,2024-01-02,,5,\n"
        + "CLN-002,M\xfcnster,East,2024-01-02,,5,\n".encode("latin-1")
        + b"CLN-003,South,East,2024-01-02,,5,\n"
        + b"CLN-004,\xff\xfe,East,2024-01-02,,5,\n"
    )
    r = run(tmp_path, "clinics.csv", body)
    assert r.file_error is None
    assert r.accepted["clinic_id"].to_list() == ["CLN-001", "CLN-003"]
    assert r.rejects.select("row_number", "reason").rows() == [
        (2, "invalid_encoding"),
        (4, "invalid_encoding"),
    ]
    assert r.rows_rejected == 2
