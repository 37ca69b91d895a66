"""Open, in-review and overdue review items per clinic: tiles and a table, with a link to the Reviews page.

Shown on Overview and Safety. The counts come from the review store
(``queries.reviews.review_counts``) for the clinics in the sidebar's scope; the period
does not apply (an item stays open until someone closes it). These pages do not sync
the store (raising items runs the safety metrics over the look-back: seconds on a large
network, too slow for a landing page); the Reviews page and ``ketaops reviews sync`` do,
and a note says when the store is behind the database.
"""

from __future__ import annotations

import sqlite3
from datetime import date

import polars as pl
import streamlit as st

from dashboard.components import tables
from dashboard.components.safe_text import md
from dashboard.queries import reviews


def render(clinic_ids: tuple[str, ...], names: dict[str, str], *, key: str) -> pl.DataFrame | None:
    """Tiles of the totals, the per-clinic table in an expander; returns the counts shown.

    A store that cannot be opened (a read-only folder, a damaged file) costs the page these
    tiles only: a caption says why and the rest of the page renders.
    """
    try:
        counts = reviews.review_counts(clinic_ids, date.today())
        behind = reviews.behind()
    except sqlite3.Error as exc:
        unavailable(exc)
        return None
    totals = {c: int(counts[c].sum()) for c in ("open", "in_review", "overdue")}
    with st.container(border=True, key=f"{key}_reviews"):
        # three equal tiles, the link and the per-clinic table below: beside a fourth column the
        # labels were cut at 1024 px
        c1, c2, c3 = st.columns(3)
        c1.metric("Reviews open", f"{totals['open']:,}", help="Raised, nobody has started the review yet.")
        c2.metric("Reviews in review", f"{totals['in_review']:,}")
        c3.metric(
            "Reviews overdue",
            f"{totals['overdue']:,}",
            help="Open or in review and past the due date (serious AEs: 7 days after being raised).",
        )
        with st.container():
            st.page_link(
                "views/reviews.py",
                label="Open the review lists",
                icon=":material/fact_check:",
                query_params={"reviews_view": "Overdue"} if totals["overdue"] else None,
            )
            if behind:
                st.caption("Items from the newest data are raised when the Reviews page opens.")
            busy = counts.filter((pl.col("open") + pl.col("in_review")) > 0)
            with st.expander(f"Per clinic ({busy.height} with open items)"):
                if busy.is_empty():
                    st.caption("No open review items in these clinics.")
                else:
                    tables.grid(
                        busy.with_columns(
                            pl.col("clinic_id")
                            .replace_strict(names, default=pl.col("clinic_id"))
                            .alias("clinic")
                        ).select("clinic", "open", "in_review", "overdue"),
                        key=f"{key}_reviews_by_clinic",
                        column_config={
                            "clinic": st.column_config.TextColumn("Clinic", pinned=True),
                            "open": st.column_config.NumberColumn("Open", format="%d"),
                            "in_review": st.column_config.NumberColumn("In review", format="%d"),
                            "overdue": st.column_config.NumberColumn("Overdue", format="%d"),
                        },
                    )
    return counts


def unavailable(exc: sqlite3.Error) -> None:
    st.caption(
        f"Review items unavailable: the review store {md(reviews.store_file())} cannot be read ({md(exc)})."
    )
