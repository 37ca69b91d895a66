"""``ketaops status`` exit codes, run as a real process against hand-written databases."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines import publish
from pipelines.status import EXIT_LAST_RUN_FAILED, EXIT_NO_DATABASE, EXIT_STALE

TODAY = date.today()


def _status(db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pipelines.cli", "status", "--db", str(db), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _run(run_id: str, status: str, hours_ago: int) -> dict[str, Any]:
    at = datetime.now() - timedelta(hours=hours_ago)
    counts = {"files_read": 1, "files_skipped": 0, "rows_loaded": 1, "rows_rejected": 0, "redactions": 0}
    return {
        "run_id": run_id,
        "started_at": at,
        "finished_at": at,
        "status": status,
        "message": status,
        **counts,
    }


def _network(newest_c1_days_ago: int, last_status: str = "succeeded") -> dict[str, list[dict[str, Any]]]:
    def clinic(cid: str, closed_on: date | None) -> dict[str, Any]:
        return {"clinic_id": cid, "clinic_name": cid, "region": "R", "opened_on": date(2024, 1, 1),
                "closed_on": closed_on, "chairs": 4}  # fmt: skip

    def fresh(cid: str, days_ago: int) -> dict[str, Any]:
        return {"clinic_id": cid, "newest_data_date": TODAY - timedelta(days=days_ago),
                "last_file_at": datetime.now(), "last_file": f"{cid}/sessions.csv"}  # fmt: skip

    return {
        "clinics": [clinic("C1", None), clinic("C2", TODAY - timedelta(days=300)), clinic("C3", None)],
        # C2 closed long ago: its old data never alerts; C3 is always fresh
        "clinic_freshness": [fresh("C1", newest_c1_days_ago), fresh("C2", 400), fresh("C3", 0)],
        "refresh_runs": [_run("r1", "succeeded", 5), _run("r2", last_status, 1)],
    }


@pytest.mark.slow
def test_all_fresh_exits_zero(make_db: Callable[..., Path]) -> None:
    # C1's newest data is exactly 3 days old: "older than 3 days" means > 3, so still fresh
    result = _status(make_db(_network(newest_c1_days_ago=3)), "--stale-days", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "STALE" not in result.stdout
    assert result.stdout.splitlines()[-1].endswith("exit_code=0")


@pytest.mark.slow
def test_one_stale_open_clinic_exits_with_the_stale_code(make_db: Callable[..., Path]) -> None:
    db = make_db(_network(newest_c1_days_ago=4))
    result = _status(db, "--stale-days", "3")
    assert result.returncode == EXIT_STALE == 8
    assert "stale_clinics=C1 " in result.stdout
    assert _status(db, "--stale-days", "4").returncode == 0  # the threshold is the option


@pytest.mark.slow
def test_clinic_closing_in_the_future_is_still_open(make_db: Callable[..., Path]) -> None:
    rows = _network(newest_c1_days_ago=0)
    rows["clinics"][1]["closed_on"] = TODAY + timedelta(days=10)  # C2, newest data 400 days ago
    assert _status(make_db(rows)).returncode == EXIT_STALE


@pytest.mark.slow
def test_last_run_failed_exits_with_the_failed_code(make_db: Callable[..., Path]) -> None:
    result = _status(make_db(_network(newest_c1_days_ago=0, last_status="failed")))
    assert result.returncode == EXIT_LAST_RUN_FAILED == 4
    assert "last_run=failed last_run_id=r2 " in result.stdout


@pytest.mark.slow
def test_failure_recorded_beside_the_database_counts_and_flags_combine(make_db: Callable[..., Path]) -> None:
    db = make_db(_network(newest_c1_days_ago=10))
    publish.append_side_run(db, {**_run("r3", "failed", 0), "message": "disk full"})
    result = _status(db)
    assert result.returncode == EXIT_LAST_RUN_FAILED | EXIT_STALE == 12
    assert "disk full" in result.stdout


@pytest.mark.slow
def test_no_database_exits_66_with_one_clear_line(tmp_path: Path) -> None:
    result = _status(tmp_path / "missing.duckdb")
    assert result.returncode == EXIT_NO_DATABASE == 66
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith("cannot read the database")


@pytest.mark.slow
def test_a_run_that_rejected_files_is_not_a_plain_success(make_db: Callable[..., Path]) -> None:
    rows = _network(newest_c1_days_ago=0)
    rows["refresh_runs"][1]["rows_rejected"] = 0  # r2, the newest: rejected two files whole, no row
    rows["source_files"] = [
        {"path": p, "content_hash": "h", "table_name": "sessions", "status": st, "run_id": run}
        for p, st, run in [("a.csv", "rejected", "r2"), ("b.csv", "rejected", "r2"),
                           ("c.csv", "loaded", "r2"), ("d.csv", "rejected", "r1")]
    ]  # fmt: skip
    result = _status(make_db(rows))
    assert result.returncode == 0  # rejects are not a failure of the run
    newest = result.stdout.splitlines()[1]
    assert "succeeded with rejects" in newest and "skipped 0, rejected 2;" in newest and "[r2]" in newest
    last = result.stdout.splitlines()[-1]
    assert ' INFO status last_run="succeeded with rejects" ' in last and " files_rejected=2 " in last


@pytest.mark.slow
def test_stale_data_is_a_warning_with_its_reason(make_db: Callable[..., Path]) -> None:
    result = _status(make_db(_network(newest_c1_days_ago=4)), "--stale-days", "3")
    last = result.stdout.splitlines()[-1]
    assert " WARNING status " in last and " ERROR " not in last
    assert 'reason="1 open clinic(s) with no data newer than 3 days: C1" exit_code=8' in last


@pytest.mark.slow
def test_a_clinic_line_leads_with_its_newest_data_date_and_names_the_load_time(
    make_db: Callable[..., Path],
) -> None:
    rows = _network(newest_c1_days_ago=4)
    rows["clinic_freshness"][0]["last_file_at"] = datetime(2026, 12, 2, 10, 30)
    result = _status(make_db(rows), "--stale-days", "3")
    (line,) = [x for x in result.stdout.splitlines() if " C1 " in x]
    newest = TODAY - timedelta(days=4)
    assert line.split() == ["STALE", "C1", "newest", "data", str(newest), "(4", "days", "old);", "last",
                            "file", "C1/sessions.csv,", "loaded", "2026-12-02", "10:30"]  # fmt: skip
