"""Review settings: days to the due date by severity, and how far back items are raised.

Defaults below; a deployment overrides them in the ``[reviews]`` table of the same
``ketaops.toml`` that holds ``[metrics]`` (beside the database or at ``$KETAOPS_CONFIG``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

# Severities an item can have, most urgent first; each has its own days to the due date.
SEVERITIES = ("serious", "grade3", "excursion", "deviation", "signal")


@dataclass(frozen=True)
class ReviewConfig:
    due_days_serious: int = 7  # a serious AE
    due_days_grade3: int = 14  # an AE of grade >= 3 that is not serious
    due_days_excursion: int = 14  # a vital-sign excursion without an AE
    due_days_deviation: int = 30  # a protocol deviation
    due_days_signal: int = 30  # a clinic-level funnel or SPC signal
    # items are raised for events of the last this-many days before the data's last date
    lookback_days: int = 90

    def due_days(self, severity: str) -> int:
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}")
        return int(getattr(self, f"due_days_{severity}"))


def load_review_config(path: str | os.PathLike[str] | None = None) -> ReviewConfig:
    """Defaults, overridden by the ``[reviews]`` table of a TOML file if one exists."""
    candidate = path or os.environ.get("KETAOPS_CONFIG") or "ketaops.toml"
    p = Path(candidate)
    if not p.is_file():
        return ReviewConfig()
    with p.open("rb") as fh:
        raw = tomllib.load(fh).get("reviews", {})
    known = {f.name for f in fields(ReviewConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{p}: unknown [reviews] settings: {', '.join(sorted(unknown))}")
    bad = [k for k, v in raw.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1]
    if bad:
        raise ValueError(f"{p}: [reviews] {', '.join(sorted(bad))} must be whole numbers of days >= 1")
    return replace(ReviewConfig(), **raw)
