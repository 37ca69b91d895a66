"""Cached reads of the review store for the pages (docs/reviews.md), and the store's location.

The store is written by people in several processes, so an entry is keyed on a stamp of
the store (item count and the sum of item versions: every write and every sync bumps a
version) as well as on the arguments: a write in another tab or server shows on the next
rerun. Writes of this process clear these caches too (``clear``). Reads take the clinic
scope; an empty scope reads nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import streamlit as st

from dashboard.db import db_path, db_version
from dashboard.queries.cache import CACHE_TTL
from dashboard.reviews import items, listing
from dashboard.reviews import store as review_store
from dashboard.reviews.listing import HistoryEntry, Item
from dashboard.reviews.workflow import SyncResult


def store_file() -> Path:
    """The review store of the published database (``$KETAOPS_REVIEWS`` overrides it)."""
    return review_store.store_path(db_path())


def sync() -> SyncResult | None:
    """Raise items from a new published database (one read of the store while it is unchanged)."""
    result = items.sync_if_stale(store_file(), db_path())
    if result is not None and (result.raised or result.changed):
        clear()
    return result


def behind() -> bool:
    """The store has not been synced from the current published file yet (a refresh since)."""
    with review_store.connect(store_file()) as conn:
        return review_store.get_state(conn, items.DB_VERSION_KEY) != db_version(db_path())


def stamp() -> str:
    """What changes whenever any item changes: the key every cached read is taken under."""
    with review_store.connect(store_file()) as conn:
        count, versions = conn.execute("SELECT count(*), coalesce(sum(version), 0) FROM items").fetchone()
    return f"{count}|{versions}"


@st.cache_data(show_spinner=False, max_entries=256, ttl=CACHE_TTL)
def _items(
    path: str,
    stamp: str,
    clinic_ids: tuple[str, ...],
    today: date,
    statuses: tuple[str, ...],
    kinds: tuple[str, ...],
    assignee: str | None,
    overdue: bool,
    data_changed: bool,
) -> pl.DataFrame:
    with review_store.connect(Path(path)) as conn:
        return listing.list_items(
            conn,
            clinic_ids=clinic_ids,
            today=today,
            statuses=statuses,
            kinds=kinds,
            assignee=assignee,
            overdue=overdue,
            data_changed=data_changed,
        )


def review_items(
    clinic_ids: tuple[str, ...],
    today: date,
    *,
    statuses: tuple[str, ...] = (),
    kinds: tuple[str, ...] = (),
    assignee: str | None = None,
    overdue: bool = False,
    data_changed: bool = False,
) -> pl.DataFrame:
    """``listing.list_items`` of the store, cached until the store changes."""
    return _items(
        str(store_file()), stamp(), clinic_ids, today, statuses, kinds, assignee, overdue, data_changed
    )


@st.cache_data(show_spinner=False, max_entries=64, ttl=CACHE_TTL)
def _item(
    path: str, stamp: str, item_id: int, clinic_ids: tuple[str, ...], today: date
) -> tuple[Item, list[HistoryEntry]] | None:
    with review_store.connect(Path(path)) as conn:
        return listing.get_item(conn, item_id, clinic_ids=clinic_ids, today=today)


def review_item(
    item_id: int, clinic_ids: tuple[str, ...], today: date
) -> tuple[Item, list[HistoryEntry]] | None:
    """One item in scope and its whole history (None if absent or out of scope)."""
    return _item(str(store_file()), stamp(), item_id, clinic_ids, today)


@st.cache_data(show_spinner=False, max_entries=64, ttl=CACHE_TTL)
def _counts(path: str, stamp: str, clinic_ids: tuple[str, ...], today: date) -> pl.DataFrame:
    with review_store.connect(Path(path)) as conn:
        return listing.counts_by_clinic(conn, clinic_ids=clinic_ids, today=today)


def review_counts(clinic_ids: tuple[str, ...], today: date) -> pl.DataFrame:
    """Per clinic in scope: open, in review and overdue items (zeros included)."""
    return _counts(str(store_file()), stamp(), clinic_ids, today)


def ae_review_status(clinic_ids: tuple[str, ...], today: date) -> pl.DataFrame:
    """``ae_id``, ``review_status`` and ``review_item`` of every AE that has a review item in scope.

    One read of the (small) item list instead of a look-up per AE: the line list can hold
    a million AEs, while items exist only for serious and grade ≥ 3 AEs of the look-back window.
    """
    frame = review_items(clinic_ids, today, kinds=("adverse_event",))
    return frame.select(
        pl.col("subject").alias("ae_id"),
        pl.col("status").alias("review_status"),
        pl.col("item_id").alias("review_item"),
    )


def clear() -> None:
    """Forget every cached review read (after a write of this process)."""
    _items.clear()
    _item.clear()
    _counts.clear()
