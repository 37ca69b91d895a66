"""Headers: columns matched to the contract, and files rejected whole for their header."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.contract import REASONS, TABLES_BY_NAME
from pipelines.validate import validate_file
from pipelines.validate.typed import accepted_schema
from tests.pipelines.validate.export_files import (
    CLINICS,
    GOOD_CLINIC,
    everything_text,
    only_reject,
    run,
)


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


def test_parquet_with_two_spellings_of_one_column_is_rejected(tmp_path):
    pl.DataFrame({"clinic_id": ["C"], "Clinic ID": ["D"]}).write_parquet(tmp_path / "clinics.parquet")
    r = validate_file(tmp_path / "clinics.parquet", "clinics.parquet")
    assert r.file_error == "duplicate_column"
