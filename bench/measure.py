"""Run a command as a child process and measure wall time and peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int


def run_measured(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Wall time and peak RSS of the process tree (sampled every 20 ms)."""
    start = time.perf_counter()
    proc = psutil.Popen(args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    return Run(seconds, peak / 2**20, proc.returncode)


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]
