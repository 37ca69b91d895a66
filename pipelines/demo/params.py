"""Arguments of one demo run and the calendar arithmetic every module shares.

Days are ``int`` days since 1970-01-01 (numpy-friendly); timestamps are
``int`` minutes since the epoch. Planted signals are anchored to the
*nominal* end (start + years), never to ``--end``: an incremental run with a
later ``--end`` then only appends data and leaves earlier files untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

EPOCH = date(1970, 1, 1)
DAYS_PER_YEAR = 365.25
# Days of history simulated before --start so maintenance patients exist on day one.
WARMUP_DAYS = 180
# Planted signals, relative to the nominal end.
SHIFT_DAYS = 91  # no-show shift over the last ~13 weeks
SILENT_DAYS = 14  # one clinic's last export is this many days before the end


def to_day(d: date) -> int:
    return (d - EPOCH).days


def from_day(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


@dataclass(frozen=True)
class DemoSpec:
    out: Path
    n_clinics: int
    years: float
    start: date
    end: date
    seed: int
    fmt: str  # "csv" | "parquet"
    dirty: bool

    @classmethod
    def build(
        cls,
        out: Path,
        n_clinics: int = 12,
        years: float = 2.0,
        end: date | None = None,
        start: date | None = None,
        seed: int = 7,
        fmt: str = "csv",
        dirty: bool = False,
    ) -> DemoSpec:
        end = end or date.today()
        span = timedelta(days=round(years * DAYS_PER_YEAR))
        return cls(out, n_clinics, years, start or end - span, end, seed, fmt, dirty)

    @property
    def nominal_end(self) -> date:
        return self.start + timedelta(days=round(self.years * DAYS_PER_YEAR))

    @property
    def span_days(self) -> int:
        return (self.nominal_end - self.start).days

    @property
    def shift_from(self) -> date:
        return self.nominal_end - timedelta(days=SHIFT_DAYS)

    @property
    def silent_after(self) -> date:
        """The silent clinic's last day of data (a Mon–Sat so it has sessions)."""
        d = self.nominal_end - timedelta(days=SILENT_DAYS)
        return d - timedelta(days=1) if d.weekday() == 6 else d

    @property
    def daily_from(self) -> date:
        """First day written as daily files: the first of the month containing --end."""
        return self.end.replace(day=1)
