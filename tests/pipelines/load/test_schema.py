"""The published schema: what ``schema_is_current`` notices, and how key columns are stored."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.load import schema_is_current
from pipelines.refresh import refresh
from tests.pipelines.export_folders import ASSESSMENTS, CLINICS, PATIENTS, SESSIONS, rows, sess, write


@pytest.mark.parametrize(
    "change",
    [
        "DROP TABLE maintenance_sessions",
        "ALTER TABLE patient_first_sessions DROP COLUMN induction_sessions",
        "ALTER TABLE sessions DROP COLUMN primary_condition",
        "DROP TABLE sessions_key_hashes",
        "ALTER TABLE sessions_key_hashes ALTER COLUMN key_hash TYPE UHUGEINT",  # 128-bit, before Dec 2026
        "DROP TABLE patient_session_tails",
        "ALTER TABLE source_files DROP COLUMN file_mtime",
        "ALTER TABLE clinics ALTER COLUMN chairs TYPE VARCHAR",
    ],
)
def test_schema_is_current_sees_what_ensure_schema_or_the_summaries_would_add(
    dirty: Path, tmp_path: Path, change: str
) -> None:
    db = tmp_path / "k.duckdb"
    refresh(dirty, db)
    con = duckdb.connect(str(db))
    try:
        assert schema_is_current(con)
        con.execute(change).fetchall()
        assert not schema_is_current(con)
    finally:
        con.close()


def test_ids_of_about_one_value_per_row_are_stored_with_zstd(tmp_path: Path) -> None:
    # each table's key and references to a session (contract.per_row_ids); other strings keep
    # DuckDB's own choice
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4")
    write(ex, "patients.csv", PATIENTS, "P1,C1,F,25-34,depression,2025-02-01")
    write(ex, "sessions_1.csv", SESSIONS, sess("S1", "P1", "C1", "2025-03-01T09:00"))
    write(ex, "assessments_1.csv", ASSESSMENTS, "A1,P1,C1,phq9,12,2025-03-01T08:50,S1")
    assert refresh(ex, db).status == "succeeded"
    zstd = {
        table: {
            c
            for (c,) in rows(
                db, f"SELECT column_name FROM pragma_storage_info('{table}') WHERE compression = 'ZSTD'"
            )
        }
        for table in ("patients", "sessions", "assessments")
    }
    assert zstd == {
        "patients": {"patient_key"},
        "sessions": {"session_id"},
        "assessments": {"assessment_id", "session_id"},
    }
