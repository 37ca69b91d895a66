"""Reviews: the quality review lists (mine, overdue, all open, closed) and one item's panel (layout only).

The view, the filters and the picked item are bound to the URL (``?reviews_view=Overdue&
rv_kind=adverse_event&rv_item_overdue=12``), so a list or an item can be shared. Items are
synced from the published database when the page opens (``queries.reviews.sync``).
"""

from __future__ import annotations

import sqlite3
from datetime import date
from functools import partial

import polars as pl
import streamlit as st

from dashboard.components import labels, review_counts, review_panel, tables, url_state
from dashboard.components.page import context, require_sessions
from dashboard.components.reviewer import current_actor
from dashboard.components.safe_text import md
from dashboard.queries import reviews
from dashboard.reviews.items import KIND_LABELS, KINDS
from dashboard.reviews.workflow import OUTCOME_LABELS, STATUS_LABELS

ctx = context()
f = require_sessions(ctx)
names = ctx.state.clinic_names
actor = current_actor()
today = date.today()
try:
    reviews.sync()
except sqlite3.Error as exc:  # a read-only folder, a damaged or newer store: say so, not a traceback
    st.title("Reviews")
    st.error(
        f"**The review store cannot be opened:** {md(exc)}. It is {md(reviews.store_file())}; "
        'see docs/reviews.md, "The store".',
        icon=":material/error:",
    )
    st.stop()

st.title("Reviews")
st.caption(
    f"Review items of the {len(f.clinic_ids)} clinic(s) in the sidebar's scope; the period does not apply. "
    f"You act as **{md(actor.name)}** ({md(actor.user_id)}, {md(actor.role)} role); every change is "
    "recorded in the item's history under that name."
)
review_counts.render(f.clinic_ids, names, key="rv")

# view -> (URL value of its picked item, list_items arguments, what an empty list means)
VIEWS: dict[str, tuple[str, dict[str, object], str]] = {
    "My reviews": (
        "mine",
        {"assignee": actor.user_id, "statuses": ("open", "in_review")},
        "Nothing is assigned to you. Pick an item in All open and start its review.",
    ),
    "Overdue": ("overdue", {"overdue": True}, "No item is past its due date."),
    "All open": ("open", {"statuses": ("open", "in_review")}, "No open items: every item is closed."),
    "Closed": ("closed", {"statuses": ("closed",)}, "No item has been closed yet."),
}

k1, k2, _ = st.columns([2, 2, 1])
kinds = k1.multiselect(
    "Kind",
    KINDS,
    format_func=KIND_LABELS.__getitem__,
    key=url_state.choices("rv_kind", KINDS, KIND_LABELS.__getitem__),
    placeholder="All kinds",
)
changed_only = k2.toggle(
    "Data changed since review",
    key=url_state.flag("rv_changed"),
    help="Only items whose source a refresh corrected after the last reviewer action.",
)
tabs = st.tabs(
    list(VIEWS), key=url_state.choice("reviews_view", list(VIEWS), next(iter(VIEWS))), on_change="rerun"
)


def _open_row(suffix: str, ids: list[int]) -> None:
    """A row selected in the table opens that item (through the URL-bound picker)."""
    rows = st.session_state[f"rv_table_{suffix}"].selection.rows
    if rows and rows[0] < len(ids):
        st.session_state[f"rv_item_{suffix}"] = ids[rows[0]]


def _list(view: str, suffix: str, args: dict[str, object], nothing: str) -> None:
    review_panel.show_message(f"rv_{suffix}")
    frame = reviews.review_items(
        f.clinic_ids,
        today,
        kinds=tuple(kinds),
        data_changed=bool(changed_only),
        **args,  # type: ignore[arg-type]
    )
    if frame.is_empty():
        st.info(nothing if not kinds and not changed_only else "No item matches these filters.")
        return
    overdue = int(frame["overdue"].sum())
    st.markdown(
        f"**{frame.height:,} item(s)**"
        + (f", {overdue:,} overdue" if overdue else "")
        + ", most urgent first."
    )
    shown = frame.with_columns(
        pl.col("kind").replace_strict(KIND_LABELS, default=pl.col("kind")),
        pl.col("clinic_id").replace_strict(names, default=pl.col("clinic_id")).alias("clinic"),
        pl.col("status").replace_strict(STATUS_LABELS, default=pl.col("status")),
        pl.col("outcome").replace_strict(OUTCOME_LABELS, default=pl.col("outcome")),
        pl.col("title").map_elements(labels.in_text, return_dtype=pl.String),
    ).select(
        "item_id",
        "due_on",
        "overdue",
        "status",
        "kind",
        "clinic",
        "title",
        "occurred_on",
        "assignee",
        "outcome",
        "data_changed",
    )
    ids = frame["item_id"].to_list()
    tables.grid(
        shown,
        key=f"rv_table_{suffix}",
        on_select=partial(_open_row, suffix, ids),
        selection_mode="single-row",
        height=min(36 * (shown.height + 1) + 3, 400),
        column_config={
            "item_id": st.column_config.NumberColumn("Item", format="%d", width="small"),
            "due_on": "Due",
            "overdue": st.column_config.CheckboxColumn("Overdue"),
            "status": "Status",
            "kind": "Kind",
            "clinic": "Clinic",
            "occurred_on": "On",
            "title": st.column_config.TextColumn("What", width="large"),
            "assignee": "Assignee",
            "outcome": "Outcome",
            "data_changed": st.column_config.CheckboxColumn("Data changed"),
        },
    )
    picked = st.selectbox(
        "Review item",
        ids,
        format_func=lambda i: f"Item {i}",
        key=url_state.choice(f"rv_item_{suffix}", ids, None, lambda i: f"Item {i}"),
        placeholder="Select a row above, or pick an item here",
    )
    if picked is not None:
        review_panel.render(int(picked), f.clinic_ids, names, actor, prefix=f"rv_{suffix}", today=today)


for (view, (suffix, args, nothing)), tab in zip(VIEWS.items(), tabs, strict=True):
    if tab.open is not False:
        with tab:
            _list(view, suffix, args, nothing)
