"""What a refresh prints: one-line log records a monitor can parse, and a progress bar on a terminal.

Every line is ``<UTC time> ketaops-<command> <LEVEL> <event> key=value ...``;
values with blanks or quotes are JSON strings. See docs/operations.md.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    text = str(value)
    if not text or any(ch in text for ch in ' "=\\\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


def logfmt(command: str, level: str, event: str, **fields: object) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pairs = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
    return f"{now} ketaops-{command} {level.upper()} {event}" + (f" {pairs}" if pairs else "")


def log(command: str, level: str, event: str, stream: TextIO | None = None, **fields: object) -> None:
    print(logfmt(command, level, event, **fields), file=stream or sys.stderr, flush=True)


class StageClock:
    """Wall seconds per named stage of a run: the ``stages`` field of ``run_finished`` says
    where a slow refresh spent its time without a profiler."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Add the time since the previous lap to ``stage`` (stages may recur, e.g. per batch)."""
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now

    def __str__(self) -> str:
        return ",".join(f"{stage}:{seconds:.2f}" for stage, seconds in self.seconds.items())


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def write(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar on stderr when asked and stderr is a terminal (never in logs); a no-op otherwise."""
    if enabled and total and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit="file", file=sys.stderr, leave=False)
        bar.write = lambda line: tqdm.write(line, file=sys.stderr)  # log lines above the bar, not through it
        return bar
    return _NoBar()
