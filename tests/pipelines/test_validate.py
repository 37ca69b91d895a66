"""validate_file: one small failing example per rule, plus the invariants the loader relies on."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.contract import TABLES_BY_NAME
from pipelines.validate import REJECT_SCHEMA, FileResult, accepted_schema, validate_file

CLINICS_HEADER = "clinic_id,clinic_name,region,opened_on,closed_on,chairs,hours_per_day\n"


def run(tmp_path: Path, name: str, text: str | bytes) -> FileResult:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return validate_file(path, name)


def conserved(r: FileResult) -> bool:
    return r.rows_read == r.accepted.height + r.rows_rejected + r.duplicates_collapsed


def test_good_clinics_file_is_typed_with_defaults(tmp_path):
    r = run(tmp_path, "clinics.csv", CLINICS_HEADER + "CLN-001,North,East,2024-01-02,,5,\n")
    assert r.file_error is None and r.rows_read == 1 and r.rows_rejected == 0
    assert r.accepted.schema == pl.Schema(accepted_schema(TABLES_BY_NAME["clinics"]))
    row = r.accepted.row(0, named=True)
    assert row["hours_per_day"] == 10.0  # contract default for an empty optional value
    assert row["chairs"] == 5 and row["_row_number"] == 1
    assert r.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert conserved(r)
