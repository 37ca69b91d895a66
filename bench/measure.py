"""Run a command as a child process and measure wall time and peak RSS."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

WATCH_SECONDS = 0.05  # how often the child's high-water mark is read (cheap: one /proc file)


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stages: str = ""  # a refresh's ``stages`` field (where its time went), when it printed one


def run_measured(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Wall time and peak RSS of a child process.

    The peak is the kernel's high-water mark of the child's own memory (``VmHWM`` in
    ``/proc/<pid>/status``), read on a thread every ``WATCH_SECONDS``: the kernel keeps the
    peak between reads, so reading rarely misses nothing but a peak in the last moment.
    Before, the process tree's current RSS was polled every 20 ms: that took ~15% of a core
    of the 2-core machine from the CPU-bound refresh it was timing, and missed short peaks
    (docs/performance.md). ``os.wait4``'s ``ru_maxrss`` is no substitute: Linux counts in it
    the parent's memory at the fork that started the child.
    """
    with tempfile.TemporaryFile() as out:  # a file, not a pipe: a child never blocks on it
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out)
        peak_kb, exited = [0], threading.Event()

        def watch() -> None:
            while not exited.wait(WATCH_SECONDS):
                peak_kb[0] = max(peak_kb[0], _high_water_kb(proc.pid))

        watcher = threading.Thread(target=watch, name="bench-rss", daemon=True)
        watcher.start()
        proc.wait()
        seconds = time.perf_counter() - start
        exited.set()
        watcher.join()
        out.seek(0)
        stages = re.findall(r"\bstages=(\S+)", out.read().decode(errors="replace"))
    return Run(seconds, peak_kb[0] / 1024, proc.returncode, stages[-1] if stages else "")


def _high_water_kb(pid: int) -> int:
    """``VmHWM`` of a running process in kB; 0 once it has exited (its memory is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]
