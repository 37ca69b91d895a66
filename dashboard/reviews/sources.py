"""The review store as the board pack's ``ReviewSource`` and the signals' ``OverdueReviews``.

Both read the store without syncing it, like the Overview's tiles: ``ketaops reviews sync``
after each refresh keeps it current. A database without a store file gets no source, so the
pack says "no review store" instead of creating an empty one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dashboard.reviews import listing, store


@dataclass(frozen=True)
class StoreReviews:
    """Counts and overdue items of one review store file, limited to the caller's clinics."""

    path: Path

    def review_counts(self, clinic_ids: tuple[str, ...], as_of: date) -> dict[str, int]:
        """Open (not yet in review), in review and overdue items of the scope on ``as_of``."""
        with store.connect(self.path) as conn:
            frame = listing.counts_by_clinic(conn, clinic_ids=clinic_ids, today=as_of)
        return {key: int(frame[key].sum()) for key in ("open", "in_review", "overdue")}

    def overdue(self, clinic_ids: tuple[str, ...], as_of: date) -> list[tuple[str, str, date]]:
        """(item id, clinic id, due date) of each item in scope not closed and past its due date."""
        with store.connect(self.path) as conn:
            frame = listing.list_items(conn, clinic_ids=clinic_ids, today=as_of, overdue=True)
        return [
            (str(r["item_id"]), r["clinic_id"], date.fromisoformat(r["due_on"]))
            for r in frame.iter_rows(named=True)
        ]


def store_reviews(db: Path) -> StoreReviews | None:
    """The store of the database ``db`` (``$KETAOPS_REVIEWS`` overrides it); None if no file is there."""
    path = store.store_path(db)
    return StoreReviews(path) if path.is_file() else None
