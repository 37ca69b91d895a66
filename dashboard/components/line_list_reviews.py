"""The line list's review column and filter: each AE's review status from the review store.

Only serious and grade ≥ 3 AEs of the review look-back get an item, so most rows have
none ("no item"). Like the review counts, the line list reads the store without syncing
it (the Reviews page raises items from a new database). The filter is a widget bound to
the URL (``ae_review``) like the line list's other filters.
"""

from __future__ import annotations

import sqlite3
from datetime import date

import polars as pl
import streamlit as st

from dashboard.components import review_counts
from dashboard.queries import reviews

PARAM = "ae_review"
CHOICES = {"none": "no review item", "open": "open", "in_review": "in review", "closed": "closed"}


def review_filter() -> tuple[str, ...]:
    """The review statuses picked (empty = all rows)."""
    column, _ = st.columns([1, 3])
    picked = column.multiselect(
        "Review status",
        list(CHOICES),
        format_func=CHOICES.__getitem__,
        key=PARAM,
        bind="query-params",
        placeholder="Any review status",
        help="Serious and grade ≥ 3 AEs get a review item (see the Reviews page); other AEs have none.",
    )
    return tuple(picked)


def with_review_status(
    rows: pl.DataFrame, clinic_ids: tuple[str, ...], wanted: tuple[str, ...]
) -> pl.DataFrame:
    """``rows`` with a ``review_status`` column (label, null without an item), narrowed to ``wanted``."""
    try:
        status = reviews.ae_review_status(clinic_ids, date.today()).select("ae_id", "review_status")
    except sqlite3.Error as exc:
        review_counts.unavailable(exc)
        status = pl.DataFrame(schema={"ae_id": pl.String, "review_status": pl.String})
    out = rows.join(status, on="ae_id", how="left", maintain_order="left")
    if wanted:
        keep = pl.col("review_status").is_in([w for w in wanted if w != "none"])
        if "none" in wanted:
            keep = keep | pl.col("review_status").is_null()
        out = out.filter(keep)
    return out.with_columns(pl.col("review_status").replace_strict(CHOICES, default=None))


def header(wanted: tuple[str, ...]) -> list[tuple[str, str]]:
    """The review filter in a download's header block."""
    return [("review status", ", ".join(CHOICES[w] for w in wanted) or "all")]
