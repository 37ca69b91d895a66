"""Benchmark scales: the demo-data arguments behind each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Scale:
    name: str
    clinics: int
    years: float
    start: date
    end: date  # the incremental run adds end + 1 day


SCALES = {
    # seconds; also the smoke run kept in the test suite
    "tiny": Scale("tiny", clinics=3, years=0.5, start=date(2026, 5, 1), end=date(2026, 10, 28)),
    "small": Scale("small", clinics=12, years=2, start=date(2024, 11, 1), end=date(2026, 10, 28)),
    # the target network: ~200 clinics, five years, ~10 million sessions
    "large": Scale("large", clinics=200, years=5, start=date(2021, 11, 1), end=date(2026, 10, 28)),
}
