"""Run a command as a child process and measure wall time and peak RSS."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stages: str = ""  # a refresh's ``stages`` field (where its time went), when it printed one


def run_measured(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Wall time and peak RSS of the process tree (sampled every 20 ms)."""
    with tempfile.TemporaryFile() as out:  # a file, not a pipe: a child never blocks on it
        start = time.perf_counter()
        proc = psutil.Popen(args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out)
        peak = 0
        while proc.poll() is None:
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        out.seek(0)
        stages = re.findall(r"\bstages=(\S+)", out.read().decode(errors="replace"))
    return Run(seconds, peak / 2**20, proc.returncode, stages[-1] if stages else "")


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]
