"""Data-operations figures on a hand-written database (expected values worked out in comments)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dashboard.db import connect
from dashboard.metrics import operations as ops
from pipelines.model.freshness import clinic_freshness
from pipelines.publish import side_runs_path
from pipelines.status import check_status

TODAY = date(2026, 7, 10)


def clinic(cid: str, opened: str = "2026-01-01", closed: str | None = None) -> dict[str, Any]:
    return {
        "clinic_id": cid,
        "clinic_name": f"Clinic {cid}",
        "region": "North",
        "opened_on": date.fromisoformat(opened),
        "closed_on": date.fromisoformat(closed) if closed else None,
        "chairs": 2,
        "hours_per_day": 10.0,
    }


def fresh(cid: str, newest: str) -> dict[str, Any]:
    return {
        "clinic_id": cid,
        "newest_data_date": date.fromisoformat(newest),
        "last_file_at": datetime.fromisoformat(f"{newest} 23:00"),
        "last_file": f"{cid}/sessions.csv",
    }


def run(run_id: str, started: str, finished: str, status: str = "succeeded") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "started_at": datetime.fromisoformat(started),
        "finished_at": datetime.fromisoformat(finished),
        "status": status,
        "files_read": 3,
        "files_skipped": 1,
        "rows_loaded": 10,
        "rows_rejected": 2,
        "redactions": 0,
        "message": "ok",
    }


def reject(run_id: str, file: str, table: str | None, row: int | None, reason: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "table_name": table,
        "source_file": file,
        "row_number": row,
        "reason": reason,
        "column_name": "x",
        "value": None,
        "raw_record": None,
        "message": reason,
    }


def source(path: str, seen: str, rows_read: int, rows_loaded: int) -> dict[str, Any]:
    return {
        "path": path,
        "content_hash": seen,
        "table_name": "sessions",
        "rows_read": rows_read,
        "rows_loaded": rows_loaded,
        "rows_rejected": rows_read - rows_loaded,
        "run_id": "r1",
        "seen_at": datetime.fromisoformat(seen),
    }


ROWS = {
    "clinics": [
        clinic("A"),
        clinic("B"),
        clinic("C"),
        clinic("D", closed="2026-06-01"),
        clinic("E", opened="2026-07-09"),
        clinic("F"),
    ],
    "clinic_freshness": [
        fresh("A", "2026-07-09"),  # 1 day old: fresh
        fresh("B", "2026-07-07"),  # 3 days old: not more than 3 -> fresh
        fresh("C", "2026-07-06"),  # 4 days old -> stale
        fresh("D", "2026-05-31"),  # old, but D closed on 1 June -> never stale
        # E opened yesterday without data: not stale yet; F open since January, no data -> stale
    ],
    "refresh_runs": [
        run("r1", "2026-07-08 06:00:00", "2026-07-08 06:05:00"),
        run("r2", "2026-07-09 06:00:00", "2026-07-09 06:02:00"),
    ],
    "rejected_rows": [
        reject("r1", "A/sessions.csv", "sessions", 4, "out_of_range"),
        reject("r1", "A/sessions.csv", "sessions", 9, "invalid_enum"),
        reject("r1", "A/sessions.csv", "sessions", 12, "out_of_range"),
        reject("r2", "B/patients.csv", "patients", 2, "unknown_fk"),
        reject("r2", "B/notes.csv", None, None, "identifier_column"),
    ],
    "source_files": [
        source("A/sessions.csv", "2026-07-08 06:01:00", 100, 97),
        source("A/sessions.csv", "2026-07-09 06:01:00", 50, 47),  # re-sent: the latest record counts
        source("B/patients.csv", "2026-07-09 06:01:00", 20, 19),
    ],
}
FAILED = {  # a failed run leaves the file untouched and is recorded beside it
    "run_id": "r3",
    "started_at": "2026-07-10 06:00:00",
    "finished_at": "2026-07-10 06:00:30",
    "status": "failed",
    "files_read": 0,
    "files_skipped": 0,
    "rows_loaded": 0,
    "rows_rejected": 0,
    "redactions": 0,
    "message": "exports folder unreadable",
}


@pytest.fixture
def db(make_db: Callable[[dict], Path]) -> Path:
    path = make_db(ROWS)
    side_runs_path(path).write_text(json.dumps(FAILED) + "\n{torn line", encoding="utf-8")
    return path


def test_refresh_history_merges_failed_runs(db: Path) -> None:
    with connect(db) as con:
        runs = ops.refresh_history(con)
        assert ops.published_path(con) == db
    assert runs["run_id"].to_list() == ["r3", "r2", "r1"]  # newest first
    assert runs["status"].to_list() == ["failed", "succeeded", "succeeded"]
    assert runs["duration_s"].to_list() == [30.0, 120.0, 300.0]
    assert runs["message"][0] == "exports folder unreadable"
    with connect(db) as con:
        assert ops.refresh_history(con, limit=1)["run_id"].to_list() == ["r3"]


def test_refresh_history_can_leave_out_runs_that_read_no_file_before_the_limit(db: Path) -> None:
    times = {"started_at": "2026-07-10 06:15:00", "finished_at": "2026-07-10 06:15:01"}
    idle = {**FAILED, **times, "run_id": "r4", "status": "succeeded", "message": "nothing new"}
    with side_runs_path(db).open("a", encoding="utf-8") as fh:
        fh.write("\n" + json.dumps(idle) + "\n")
    with connect(db) as con:
        every = ops.refresh_history(con, limit=100)
        busy = ops.refresh_history(con, limit=100, include_idle=False)
        newest_busy = ops.refresh_history(con, limit=1, include_idle=False)
    assert every["run_id"].to_list() == ["r4", "r3", "r2", "r1"]
    assert busy["run_id"].to_list() == ["r3", "r2", "r1"]  # a failed run that read no file stays
    assert newest_busy["run_id"].to_list() == ["r3"]  # left out before the limit, not after


def test_clinic_freshness(db: Path) -> None:
    with connect(db) as con:
        df = clinic_freshness(con, TODAY, stale_days=3)
    rows = {r["clinic_id"]: r for r in df.iter_rows(named=True)}
    assert {c for c, r in rows.items() if r["stale"]} == {"C", "F"}
    assert df["clinic_id"][:2].to_list() == ["C", "F"]  # stale clinics first
    assert rows["A"]["days_since_data"] == 1 and rows["C"]["days_since_data"] == 4
    assert rows["D"]["is_open"] is False and rows["D"]["stale"] is False
    assert rows["F"]["newest_data_date"] is None and rows["F"]["days_since_data"] is None
    assert rows["C"]["last_file"] == "C/sessions.csv"
    with connect(db) as con:  # a looser threshold: C (4 days) is fine with 4
        assert clinic_freshness(con, TODAY, stale_days=4).filter("stale")["clinic_id"].to_list() == ["F"]


def test_stale_rule_matches_ketaops_status(db: Path) -> None:
    report = check_status(db, 3, TODAY)
    with connect(db) as con:
        ours = clinic_freshness(con, TODAY, 3).filter("stale")["clinic_id"].sort().to_list()
    assert ours == sorted(c.clinic_id for c in report.stale)


def test_rejected_summary_by_reason(db: Path) -> None:
    with connect(db) as con:
        df = ops.rejected_summary(con, "reason")
    assert df.select("reason", "rows", "files").rows() == [
        ("out_of_range", 2, 1),
        ("identifier_column", 1, 1),
        ("invalid_enum", 1, 1),
        ("unknown_fk", 1, 1),
    ]
    assert df["description"][0] == "value outside the contract's hard limits"


def test_rejected_summary_by_file(db: Path) -> None:
    with connect(db) as con:
        df = ops.rejected_summary(con, "file")
    assert df.select("source_file", "rows", "reasons", "rows_read", "rows_loaded").rows() == [
        ("A/sessions.csv", 3, "invalid_enum, out_of_range", 50, 47),
        ("B/notes.csv", 1, "identifier_column", None, None),
        ("B/patients.csv", 1, "unknown_fk", 20, 19),
    ]
    with connect(db) as con, pytest.raises(ValueError):
        ops.rejected_summary(con, "clinic")  # type: ignore[arg-type]


def test_rejected_rows(db: Path) -> None:
    with connect(db) as con:
        everything = ops.rejected_rows(con)
        r2 = ops.rejected_rows(con, "r2")
    assert everything.height == 5
    assert everything.select("source_file", "row_number").rows()[:3] == [
        ("A/sessions.csv", 4),
        ("A/sessions.csv", 9),
        ("A/sessions.csv", 12),
    ]
    assert r2.select("source_file", "reason").rows() == [
        ("B/notes.csv", "identifier_column"),
        ("B/patients.csv", "unknown_fk"),
    ]


def test_data_as_of(db: Path) -> None:
    with connect(db) as con:
        info = ops.data_as_of(con, TODAY, stale_days=3)
    assert info == {
        "newest_data_date": date(2026, 7, 9),  # A's
        "last_refresh_at": datetime(2026, 7, 10, 6, 0, 30),  # the failed run r3
        "last_refresh_status": "failed",
        "last_refresh_outcome": "failed",
        "last_refresh_files_rejected": None,  # a side record of an older version: no count
        "last_refresh_rows_rejected": 0,
        "last_refresh_message": "exports folder unreadable",
        "last_success_at": datetime(2026, 7, 9, 6, 2),
        "stale_clinics": 2,
        "stale_clinic_ids": ["C", "F"],
    }


def test_data_as_of_empty_database(make_db: Callable[[dict], Path]) -> None:
    path = make_db({})
    with duckdb.connect(str(path), read_only=True) as con:
        info = ops.data_as_of(con, TODAY)
        assert ops.rejected_summary(con).height == 0 and ops.rejected_rows(con).height == 0
    assert info["newest_data_date"] is None and info["stale_clinics"] == 0
    assert info["last_refresh_status"] == "succeeded"  # the fixture's own run record


def test_files_rejected_whole_are_counted_per_run_and_name_the_outcome(
    make_db: Callable[[dict], Path],
) -> None:
    clean = {**run("r2", "2026-07-09 06:00:00", "2026-07-09 06:02:00"), "rows_rejected": 0}
    rejected_file = {**source("B/bad.csv", "2026-07-09 06:01:00", 0, 0), "status": "rejected", "run_id": "r2"}
    path = make_db(
        {
            **ROWS,
            "refresh_runs": [run("r1", "2026-07-08 06:00:00", "2026-07-08 06:05:00"), clean],
            "source_files": [*ROWS["source_files"], rejected_file],
        }
    )
    side_runs_path(path).write_text(json.dumps(FAILED) + "\n", encoding="utf-8")  # an older record: no count
    with connect(path) as con:
        runs = ops.refresh_history(con)
        as_of = ops.data_as_of(con, date(2026, 7, 10))
    # r3 failed; r2 loaded every row but rejected one file whole; r1 rejected 2 rows (the fixture's run)
    assert runs.select("run_id", "files_rejected", "outcome").rows() == [
        ("r3", None, "failed"),
        ("r2", 1, "succeeded with rejects"),
        ("r1", 0, "succeeded with rejects"),
    ]
    assert (as_of["last_refresh_status"], as_of["last_refresh_outcome"]) == ("failed", "failed")
