"""Run a command as a child process and measure wall time and peak RSS."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stages: str = ""  # a refresh's ``stages`` field (where its time went), when it printed one


def run_measured(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Wall time and peak RSS of a child process (the largest of it and its own children).

    The peak is the kernel's high-water mark, read from the child's resource usage when it
    exits (``os.wait4``), not sampled: a sampler polling the process tree every 20 ms took
    ~15% of a core of the 2-core machine from the CPU-bound refresh it was timing, and
    could miss a short peak (docs/performance.md).
    """
    with tempfile.TemporaryFile() as out:  # a file, not a pipe: a child never blocks on it
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        stages = re.findall(r"\bstages=(\S+)", out.read().decode(errors="replace"))
    # ru_maxrss is in kilobytes on Linux
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, stages[-1] if stages else "")


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]
