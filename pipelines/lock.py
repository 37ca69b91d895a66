"""One refresh at a time: an advisory lock file next to the database.

``flock`` on ``<db>.lock`` gives mutual exclusion that the kernel releases when
the holder dies, even by SIGKILL, so a lock can never be left "held" by a dead
process. The file also carries the holder's PID and start time for the busy
message; a PID left there by a killed run is reported as a stale lock and
cleared on the next acquisition. The file itself is never deleted: unlinking a
flock'ed file lets two processes lock two different inodes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


class LockBusy(Exception):
    """Another refresh holds the lock longer than we were willing to wait."""

    def __init__(self, path: Path, holder: str, waited: float) -> None:
        self.path, self.holder, self.waited = path, holder, waited
        who = f"held by {holder}" if holder else "held by another process"
        super().__init__(f"another refresh is running ({who}); gave up after {waited:g} s: {path}")


@dataclass(frozen=True)
class LockInfo:
    path: Path
    stale_holder: str | None  # "pid 123 since …" left by a run that died, now cleared


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


def _read_holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 200).decode("utf-8", "replace").strip()


@contextmanager
def refresh_lock(db: Path, wait: float = 0.0, poll: float = 0.1) -> Iterator[LockInfo]:
    """Hold ``<db>.lock`` for the duration; wait up to ``wait`` seconds, then raise ``LockBusy``."""
    path = lock_path(db)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                waited = time.monotonic() - start
                if waited >= wait:
                    raise LockBusy(path, _read_holder(fd), wait) from None
                time.sleep(min(poll, wait - waited))
        # We hold the flock, so whoever wrote a PID here is gone (the kernel
        # released its lock when it died) and did not clean up: a stale lock.
        stale = _read_holder(fd) or None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n".encode(), 0)
        try:
            yield LockInfo(path=path, stale_holder=stale)
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
