"""What a run records beside the data: files seen and skipped, whole-file rejects, clinic freshness."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from pipelines import publish
from pipelines.refresh import refresh
from pipelines.status import check_status
from tests.pipelines.export_folders import AES, ASSESSMENTS, CLINICS, PATIENTS, SESSIONS, rows, sess, write


def test_a_run_with_nothing_new_publishes_nothing_and_is_recorded_beside_the_file(
    dirty: Path, tmp_path: Path
) -> None:
    db = tmp_path / "k.duckdb"
    first = refresh(dirty, db)
    before, stat = db.read_bytes(), db.stat()
    second = refresh(dirty, db)
    assert (second.status, second.files_read, second.files_skipped) == ("succeeded", 0, 5)
    assert "not republished" in second.message
    # not a copy with the same bytes: the very same file, so dashboard caches stay valid
    assert db.read_bytes() == before and (db.stat().st_ino, db.stat().st_mtime_ns) == (
        stat.st_ino,
        stat.st_mtime_ns,
    )
    assert rows(db, "SELECT count(*) FROM refresh_runs")[0][0] == 1
    # with time to spare, it leaves the next run a copy of the published file, already on disk
    standby = publish.standby_path(db)
    assert standby.read_bytes() == before and "copied it for the next run" in second.message
    standby_inode = standby.stat().st_ino
    [side] = publish.read_side_runs(db)
    assert (side["run_id"], side["status"], side["files_skipped"]) == (second.run_id, "succeeded", 5)
    assert check_status(db, 9999, date(2025, 4, 1)).runs[0]["run_id"] == second.run_id  # newest first
    # the next run that publishes folds the record in and removes the side file
    write(dirty, "CLN-1/sessions_2025-03-09.csv", SESSIONS, sess("S90", "P1", "C1", "2025-03-09T09:00"))
    third = refresh(dirty, db)
    assert third.files_read == 1
    assert db.stat().st_ino == standby_inode  # built in the standby copy, not in a fresh one
    assert rows(db, "SELECT run_id FROM refresh_runs ORDER BY started_at") == [
        (first.run_id,),
        (second.run_id,),
        (third.run_id,),
    ]
    assert not publish.side_runs_path(db).exists()
    # beside it only the versions: the one it replaced keeps its name and inode (pruned later)
    beside = sorted(
        p.name for p in tmp_path.iterdir() if p.name not in ("exports", "k.duckdb", "k.duckdb.lock")
    )
    assert beside == ["k.v1.duckdb", "k.v2.duckdb"] and os.readlink(db) == "k.v2.duckdb"
    assert (tmp_path / "k.v1.duckdb").stat().st_ino == stat.st_ino


def test_unchanged_content_with_a_new_mtime_is_skipped_and_new_content_is_read(
    dirty: Path, tmp_path: Path
) -> None:
    db = tmp_path / "k.duckdb"
    refresh(dirty, db)
    clinics = dirty / "clinics.csv"
    os.utime(clinics, (1_000_000_000, 1_000_000_000))  # touched, same bytes
    again = refresh(dirty, db)
    assert (again.files_read, again.files_skipped) == (0, 5)
    # the new mtime is remembered, so the next run skips the file without even hashing it
    mtime = rows(db, "SELECT file_mtime::VARCHAR FROM source_files WHERE path = 'clinics.csv'")
    assert mtime == [("2001-09-09 01:46:40",)]  # 1e9 s after the epoch, UTC
    clinics.write_text(clinics.read_text().replace("North", "North-East"))
    changed = refresh(dirty, db)
    assert (changed.files_read, changed.files_skipped) == (1, 4)
    assert rows(db, "SELECT clinic_name FROM clinics WHERE clinic_id = 'C1'") == [("North-East",)]
    # its rejected row (C3) is reported again by the run that re-read the file, not duplicated by the others
    assert rows(
        db, "SELECT count(DISTINCT run_id), count(*) FROM rejected_rows WHERE table_name = 'clinics'"
    ) == [(2, 2)]


def test_whole_file_reject_loads_nothing_and_is_not_read_again(tmp_path: Path) -> None:
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4")
    write(ex, "patients_x.csv", PATIENTS + ",date_of_birth", "P1,C1,F,25-34,depression,2025-02-01,1980-04-02")
    summary = refresh(ex, db)
    assert summary.files_rejected == 1 and "patients_x.csv" in summary.message
    assert rows(db, "SELECT count(*) FROM patients")[0][0] == 0
    assert rows(db, "SELECT reason, row_number, value, raw_record FROM rejected_rows") == [
        ("identifier_column", None, None, None)
    ]
    assert rows(db, "SELECT status, rows_loaded FROM source_files WHERE path = 'patients_x.csv'") == [
        ("rejected", 0)
    ]
    assert refresh(ex, db).files_read == 0


def test_clinic_freshness_newest_event_and_last_file(tmp_path: Path) -> None:
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4", "C2,South,S,2025-01-01,3")
    write(ex, "patients.csv", PATIENTS, "P1,C1,F,25-34,depression,2025-02-01")
    write(ex, "C1/sessions.csv", SESSIONS, sess("S1", "P1", "C1", "2025-03-01T09:00"))
    write(ex, "C1/assessments.csv", ASSESSMENTS, "A1,P1,C1,phq9,12,2025-03-04T08:50,")
    write(ex, "C1/adverse_events.csv", AES, "AE1,P1,C1,S1,2025-03-02T11:30,headache,1,false,none")
    refresh(ex, db)
    fresh = "SELECT clinic_id, newest_data_date::VARCHAR, last_file FROM clinic_freshness ORDER BY 1"
    # newest event over sessions (03-01), assessments (03-04), AEs (03-02) = 03-04; adverse_events is the
    # last file read for C1 (tables load in contract order); C2 has no data and no file
    assert rows(db, fresh) == [("C1", "2025-03-04", "C1/adverse_events.csv"), ("C2", None, None)]
    write(ex, "C1/sessions_2.csv", SESSIONS, sess("S2", "P1", "C1", "2025-03-09T09:00"))
    refresh(ex, db)
    assert rows(db, fresh) == [("C1", "2025-03-09", "C1/sessions_2.csv"), ("C2", None, None)]
    arrived = rows(
        db,
        "SELECT f.last_file_at = s.seen_at FROM clinic_freshness f "
        "JOIN source_files s ON s.path = f.last_file WHERE f.clinic_id = 'C1'",
    )
    assert arrived == [(True,)]
    # corrections: S2 was wrongly dated and belongs to C2 → C1's newest falls back to A1's 03-04,
    # C2's is S2's corrected 03-07; an older-dated new session S3 at C1 (03-03) changes nothing
    write(
        ex,
        "C1/sessions_3.csv",
        SESSIONS,
        sess("S2", "P1", "C2", "2025-03-07T09:00"),
        sess("S3", "P1", "C1", "2025-03-03T09:00"),
    )
    refresh(ex, db)
    assert rows(db, fresh) == [
        ("C1", "2025-03-04", "C1/sessions_3.csv"),
        ("C2", "2025-03-07", "C1/sessions_3.csv"),
    ]
