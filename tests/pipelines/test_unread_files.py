"""Nothing lost: files that fail to read, links and special files, glob characters in the database path."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.refresh import refresh
from pipelines.status import EXIT_UNREAD, check_status
from pipelines.validate import batch as batch_module
from tests.pipelines.export_folders import AES, CLINICS, PATIENTS, SESSIONS, rows, sess, write


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    ex = tmp_path / "exports"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4")
    write(ex, "C1/patients.csv", PATIENTS, "P1,C1,F,25-34,depression,2025-02-01")
    write(ex, "C1/sessions_2025-03-01.csv", SESSIONS, sess("S1", "P1", "C1", "2025-03-01T09:00"))
    return ex


def _serious_ae(ex: Path) -> Path:
    return write(
        ex, "C1/adverse_events.csv", AES, "AE1,P1,C1,S1,2025-03-01T09:30,hypertension,4,true,monitored"
    )


def test_a_file_that_fails_to_read_is_retried_until_it_reads(tmp_path, exports, monkeypatch):
    ae = _serious_ae(exports)
    db = tmp_path / "db" / "k.duckdb"
    real_open = open

    def failing_open(path, *args, **kwargs):
        if os.fspath(path) == os.fspath(ae):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(batch_module, "open", failing_open, raising=False)
    first = refresh(exports, db)
    assert first.status == "succeeded" and first.files_unread == 1
    assert rows(db, "SELECT count(*) FROM adverse_events") == [(0,)]
    assert rows(db, "SELECT count(*) FROM source_files WHERE path = 'C1/adverse_events.csv'") == [(0,)]
    assert rows(db, "SELECT path, reason FROM unread_files") == [("C1/adverse_events.csv", "read_error")]
    report = check_status(db, stale_days=100_000, today=date(2025, 3, 2))
    assert report.exit_code & EXIT_UNREAD and [u[0] for u in report.unread] == ["C1/adverse_events.csv"]

    # a second run with the file still unreadable tries it again (it is never recorded as seen)
    again = refresh(exports, db)
    assert again.files_unread == 1 and again.files_skipped == 3

    # readable again, its mtime unchanged: the next run loads it and status is green
    monkeypatch.setattr(batch_module, "open", real_open, raising=False)
    fixed = refresh(exports, db)
    assert fixed.status == "succeeded" and fixed.files_unread == 0
    assert rows(db, "SELECT ae_id FROM adverse_events") == [("AE1",)]
    assert rows(db, "SELECT count(*) FROM unread_files") == [(0,)]
    assert check_status(db, stale_days=100_000, today=date(2025, 3, 2)).exit_code == 0


def test_links_out_of_the_folder_dangling_links_and_fifos_are_reported(tmp_path, exports):
    outside = write(
        tmp_path / "elsewhere",
        "adverse_events.csv",
        AES,
        "AE9,P1,C1,S1,2025-03-01T09:30,headache,1,false,none",
    )
    (exports / "C1" / "adverse_events_link.csv").symlink_to(outside)
    (exports / "C1" / "sessions_dangling.csv").symlink_to(tmp_path / "nowhere.csv")
    os.mkfifo(exports / "C1" / "assessments_pipe.csv")
    inside = _serious_ae(exports)
    (exports / "adverse_events_inside_link.csv").symlink_to(inside)
    db = tmp_path / "k.duckdb"
    summary = refresh(exports, db)  # a FIFO would block a read forever: it must not be opened
    assert summary.status == "succeeded" and summary.files_unread == 3
    assert rows(db, "SELECT path, reason FROM unread_files ORDER BY path") == [
        ("C1/adverse_events_link.csv", "outside_exports"),
        ("C1/assessments_pipe.csv", "not_a_file"),
        ("C1/sessions_dangling.csv", "broken_link"),
    ]
    assert rows(db, "SELECT ae_id FROM adverse_events") == [("AE1",)]  # the link inside is read
    rejected = rows(db, "SELECT source_file, reason FROM rejected_rows WHERE row_number IS NULL ORDER BY 1")
    assert ("C1/adverse_events_link.csv", "outside_exports") in rejected
    assert check_status(db, stale_days=100_000, today=date(2025, 3, 2)).exit_code & EXIT_UNREAD

    # the link removed: a run with nothing new still records that it is gone
    (exports / "C1" / "adverse_events_link.csv").unlink()
    (exports / "C1" / "sessions_dangling.csv").unlink()
    (exports / "C1" / "assessments_pipe.csv").unlink()
    refresh(exports, db)
    assert rows(db, "SELECT count(*) FROM unread_files") == [(0,)]


def test_glob_characters_in_the_database_name_leave_no_copies(tmp_path, exports, monkeypatch):
    monkeypatch.setenv("KETAOPS_VERSION_GRACE_SECONDS", "0")  # every replaced version may go at once
    folder = tmp_path / "data"
    db = folder / "ketaops[prod].duckdb"
    refresh(exports, db)
    for day in range(2, 6):
        refresh(exports, db)  # nothing new: leaves a standby copy for the next run
        write(
            exports,
            f"C1/sessions_2025-03-{day:02d}.csv",
            SESSIONS,
            sess(f"S{day}", "P1", "C1", f"2025-03-{day:02d}T09:00"),
        )
        refresh(exports, db)  # publishes (from the standby copy) the next version
    left = sorted(
        p.name for p in folder.iterdir() if p.name != db.name and not p.name.endswith((".lock", ".jsonl"))
    )
    # five publishes (v1 … v5); the last run pruned at its start, keeping the current (v4) and the
    # one before it (v3), then published v5: older versions gone, at most one standby copy
    assert not [n for n in left if n.startswith(f"{db.name}.building-")], left
    assert [n for n in left if ".standby-" not in n] == [f"ketaops[prod].v{n}.duckdb" for n in (3, 4, 5)]
    assert len([n for n in left if ".standby-" in n]) <= 1, left
    assert rows(db, "SELECT count(*) FROM sessions") == [(5,)]


def test_identifier_shaped_keys_are_stored_nowhere(tmp_path, exports):
    write(
        exports,
        "C1/sessions_2025-03-02.csv",
        SESSIONS,
        sess("S2", "jo.doe@mail.example.org", "C1", "2025-03-02T09:00"),
        sess("S3", "555-123-4567", "C1", "2025-03-02T10:00"),
        sess("123.45.6789", "P1", "C1", "2025-03-02T11:00"),
    )
    write(exports, "C1/adverse_events.csv", AES, "AE1,P404,C1,,2025-03-01T09:30,headache,1,false,none")
    db = tmp_path / "k.duckdb"
    assert refresh(exports, db).status == "succeeded"
    con = duckdb.connect(str(db), read_only=True)
    try:
        text_columns = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE data_type = 'VARCHAR' "
            "AND database_name = current_database() AND NOT internal"
        ).fetchall()
        for table, column in text_columns:
            for secret in ("jo.doe@mail.example.org", "555-123-4567", "123.45.6789"):
                [(n,)] = con.execute(
                    f"SELECT count(*) FROM {table} WHERE contains({column}, ?)", [secret]
                ).fetchall()
                assert n == 0, (table, column, secret)
        assert (
            con.execute(
                "SELECT reason FROM rejected_rows WHERE table_name = 'sessions' ORDER BY row_number"
            ).fetchall()
            == [("identifier_in_key",)] * 3
        )
        # an ordinary unknown key is still quoted, so the operator can find the row
        assert con.execute("SELECT value FROM rejected_rows WHERE reason = 'unknown_fk'").fetchall() == [
            ("P404",)
        ]
    finally:
        con.close()
