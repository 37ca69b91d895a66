"""De-identification of free text: e-mails, phone numbers and SSN-like numbers become markers.

Patterns come from ``contract.REDACTION_PATTERNS`` and run in its order (e-mail
first, so an address full of digits is not half taken for a phone number).
One combined regex finds the rows that hold anything at all; only those rows are
counted and rewritten, so a clean column costs a single scan.
"""

from __future__ import annotations

import polars as pl

from pipelines.contract import REDACTION_PATTERNS

ANY_IDENTIFIER = "|".join(f"(?:{pattern})" for pattern in REDACTION_PATTERNS.values())


def marker(kind: str) -> str:
    return f"[redacted:{kind}]"


def redact_columns(frame: pl.DataFrame, columns: list[str]) -> tuple[pl.DataFrame, int]:
    """Replace every identifier in the String ``columns``; return the frame and how many were replaced."""
    if not columns or frame.height == 0:
        return frame, 0
    hit = frame.select(pl.any_horizontal(pl.col(columns).str.contains(ANY_IDENTIFIER)).fill_null(False))
    positions = hit.to_series().arg_true()
    if len(positions) == 0:
        return frame, 0
    rows = frame[positions].select(columns)
    total = 0
    for kind, pattern in REDACTION_PATTERNS.items():
        counts = rows.select(pl.col(columns).str.count_matches(pattern).sum())
        found = int(sum(v or 0 for v in counts.row(0)))
        if found:
            rows = rows.with_columns(pl.col(columns).str.replace_all(pattern, marker(kind)))
            total += found
    return frame.with_columns(frame[c].scatter(positions, rows[c]) for c in columns), total


def redact_text(text: str) -> tuple[str, int]:
    """The same replacement for one Python string (same regex engine as the frames)."""
    frame, count = redact_columns(pl.DataFrame({"t": [text]}), ["t"])
    return frame["t"][0], count
