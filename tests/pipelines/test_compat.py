"""Databases written by older versions: brought up to date by the next refresh."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.refresh import refresh
from tests.pipelines.export_folders import (
    AES,
    CLINICS,
    DATA_TABLES,
    PATIENTS,
    SESSIONS,
    checksums,
    rows,
    sess,
    write,
)


def test_a_database_of_an_older_version_is_republished_even_with_nothing_new(
    dirty: Path, tmp_path: Path
) -> None:
    """The first run of a version that adds a table or column publishes it without new exports."""
    db = tmp_path / "k.duckdb"
    refresh(dirty, db)
    keep = [*DATA_TABLES, "rejected_rows", "clinic_freshness", "source_files"]
    before = checksums(db, keep)
    firsts = checksums(db, ["patient_first_sessions"])
    assert firsts["patient_first_sessions"][0] > 0
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE patient_first_sessions").fetchall()  # as published before the table existed
    con.close()
    inode = db.stat().st_ino
    again = refresh(dirty, db)
    assert (again.status, again.files_read) == ("succeeded", 0)
    assert db.stat().st_ino != inode  # republished
    assert checksums(db, ["patient_first_sessions"]) == firsts
    assert checksums(db, keep) == before
    assert rows(db, "SELECT count(*) FROM refresh_runs")[0][0] == 2


def test_a_database_published_before_condition_copies_gets_them_on_the_next_refresh(tmp_path: Path) -> None:
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4")
    write(ex, "patients.csv", PATIENTS, "P1,C1,F,25-34,depression,2025-02-01")
    write(ex, "sessions_1.csv", SESSIONS, sess("A", "P1", "C1", "2025-03-01T09:00"))
    write(ex, "adverse_events.csv", AES, "AE1,P1,C1,A,2025-03-01T09:30,headache,1,false,none")
    refresh(ex, db)
    con = duckdb.connect(str(db))
    for table in ("sessions", "adverse_events"):  # as published by an older version
        con.execute(f"ALTER TABLE {table} DROP COLUMN primary_condition")
    con.close()
    write(ex, "sessions_2.csv", SESSIONS, sess("B", "P1", "C1", "2025-03-02T09:00"))
    assert refresh(ex, db).status == "succeeded"
    assert rows(db, "SELECT session_id, primary_condition, session_number FROM sessions ORDER BY 1") == [
        ("A", "depression", 1),
        ("B", "depression", 2),
    ]
    assert rows(db, "SELECT ae_id, primary_condition FROM adverse_events") == [("AE1", "depression")]
