"""One refresh at a time: the lock file, tested across real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.lock import LockBusy, lock_path, refresh_lock

HOLD = """
import sys, time
from pathlib import Path
from pipelines.lock import refresh_lock
with refresh_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(db: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.slow
def test_second_holder_gives_up_after_wait_naming_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    proc = _holder(db, 30)
    try:
        start = time.monotonic()
        with pytest.raises(LockBusy) as busy, refresh_lock(db, wait=0.5):
            pass
        assert 0.5 <= time.monotonic() - start < 5
        assert f"pid {proc.pid}" in str(busy.value)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_waiter_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    proc = _holder(db, 0.5)
    try:
        with refresh_lock(db, wait=10) as info:
            assert info.stale_holder is None  # the holder released it cleanly
            assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()


@pytest.mark.slow
def test_lock_of_a_killed_holder_is_stale_and_cleared(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    proc = _holder(db, 30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert f"pid {proc.pid}" in lock_path(db).read_text()  # the dead holder's mark is still there
    with refresh_lock(db, wait=0) as info:
        assert info.stale_holder is not None and f"pid {proc.pid}" in info.stale_holder
        assert lock_path(db).read_text().startswith(f"pid {os.getpid()} ")
    assert lock_path(db).read_text() == ""  # released cleanly: nothing stale for the next run


def test_stale_lock_file_with_a_dead_pid_is_recovered(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    lock_path(db).write_text(f"pid {dead.stdout.strip()} since 2026-01-01T00:00:00Z\n")
    with refresh_lock(db, wait=0) as info:
        assert info.stale_holder == f"pid {dead.stdout.strip()} since 2026-01-01T00:00:00Z"
