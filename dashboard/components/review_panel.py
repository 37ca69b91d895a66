"""One review item: what it is about, its state, the forms that move it, and its whole history.

Every form's buttons carry the item version the page showed (callback arguments bound when
the form was drawn), so a write based on what the reviewer saw is refused with
``StaleEdit`` when someone (another tab, user or a sync) changed the item since; the
message says so, and the panel shows the fresh item with the reviewer's typed note kept.
Titles, subjects, assignees and notes are untrusted text: markdown goes through ``md``,
tables show values as plain cells.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import streamlit as st

from dashboard.components import labels, tables
from dashboard.components.labels import label as words
from dashboard.components.safe_text import md
from dashboard.queries import reviews
from dashboard.reviews import store as review_store
from dashboard.reviews import workflow
from dashboard.reviews.items import KIND_LABELS
from dashboard.reviews.listing import HistoryEntry, Item
from dashboard.reviews.workflow import OUTCOME_LABELS, OUTCOMES, STATUS_LABELS, Actor, ReviewError, StaleEdit

SOURCE_STATES = {
    "flagged": "still flagged by the current data",
    "not_flagged": "no longer flagged by the current data",
    "missing": "its source row is no longer in the data",
}
# The words of a history entry's old and new values, per field (the store keeps the codes).
FIELD_VALUE_LABELS = {
    "status": STATUS_LABELS,
    "outcome": OUTCOME_LABELS,
    "source_state": {"flagged": "flagged", "not_flagged": "not flagged", "missing": "missing"},
}


def _message_key(prefix: str) -> str:
    return f"{prefix}_message"


def _act(prefix: str, item_id: int, version: int, action: str, actor: Actor) -> None:
    """A form's submit: one attributed write based on ``version``; the outcome kept for the next run."""
    state = st.session_state
    note_key = f"{prefix}_note_{item_id}"
    note = (state.get(note_key) or "").strip() or None
    try:
        with review_store.connect(reviews.store_file()) as conn:
            if action == "start":
                workflow.transition(conn, item_id, "in_review", actor, version, note=note)
            elif action == "close":
                outcome = state.get(f"{prefix}_outcome_{item_id}")
                workflow.transition(conn, item_id, "closed", actor, version, outcome=outcome, note=note)
            elif action == "hand_back":
                workflow.transition(conn, item_id, "open", actor, version, note=note)
            elif action == "reopen":
                workflow.transition(conn, item_id, "in_review", actor, version, note=note)
            elif action == "note":
                workflow.add_note(conn, item_id, note or "", actor, version)
            elif action == "assign":
                who = (state.get(f"{prefix}_assignee_{item_id}") or "").strip()
                workflow.assign(conn, item_id, who or None, actor, version)
            elif action == "assign_me":
                workflow.assign(conn, item_id, actor.user_id, actor, version)
            else:
                raise ReviewError(f"unknown action {action!r}")
    except StaleEdit as exc:
        state[_message_key(prefix)] = ("stale", str(exc))
    except ReviewError as exc:
        state[_message_key(prefix)] = ("error", str(exc))
    else:
        state[_message_key(prefix)] = ("saved", f"Saved: {ACTION_WORDS[action]} (item {item_id}).")
        if action not in ("assign", "assign_me"):
            state[note_key] = ""
    finally:
        reviews.clear()


ACTION_WORDS = {
    "start": "review started",
    "close": "closed",
    "hand_back": "handed back to open",
    "reopen": "reopened",
    "note": "note added",
    "assign": "assignee changed",
    "assign_me": "assigned to you",
}


def show_message(prefix: str) -> None:
    """The outcome of the last form submitted under ``prefix`` (shown once, above the list)."""
    found = st.session_state.pop(_message_key(prefix), None)
    if found is None:
        return
    kind, text = found
    if kind == "stale":
        st.error(
            f"**Not saved: someone else changed this item first.** {md(text)} "
            "The item below is the current one; your note is still in the form.",
            icon=":material/sync_problem:",
        )
    elif kind == "error":
        st.error(f"**Not saved:** {md(text)}", icon=":material/error:")
    else:
        st.success(text, icon=":material/check_circle:")  # our own words and an item number


def render(
    item_id: int,
    clinic_ids: tuple[str, ...],
    names: dict[str, str],
    actor: Actor,
    *,
    prefix: str,
    today: date | None = None,
) -> Item | None:
    """The panel of one item in scope (None, after saying so, when it is absent or out of scope)."""
    day = today or date.today()
    found = reviews.review_item(item_id, clinic_ids, day)
    if found is None:
        st.info(f"There is no review item {item_id} in the clinics in scope.")
        return None
    item, history = found
    with st.container(border=True, key=f"{prefix}_panel"):
        st.markdown(f"#### Item {item.item_id} · {md(labels.in_text(item.title))}")
        clinic = names.get(item.clinic_id, item.clinic_id)
        st.markdown(
            f"{KIND_LABELS.get(item.kind, md(item.kind))} **{md(item.subject)}** at **{md(clinic)}** "
            f"({md(item.clinic_id)}) on {md(item.occurred_on)} · severity {md(item.severity)} · "
            f"{SOURCE_STATES.get(item.source_state, md(item.source_state))}"
        )
        c1, c2, c3, c4 = st.columns(4)
        outcome = f" ({md(OUTCOME_LABELS.get(item.outcome, item.outcome))})" if item.outcome else ""
        c1.markdown(f"**Status**  \n{STATUS_LABELS.get(item.status, md(item.status))}{outcome}")
        c2.markdown(f"**Assignee**  \n{md(item.assignee or 'nobody')}")
        late = " · **overdue**" if item.overdue else ""
        c3.markdown(f"**Due**  \n{md(item.due_on)}{late}")
        c4.markdown(
            f"**Last change**  \n{md(item.updated_by)}, {md(item.updated_at)} (version {item.version})"
        )
        if item.data_changed:
            st.warning(
                "**Data changed since review:** a refresh corrected this item's source after the last "
                "reviewer action. Check the change in the history below; any action of yours marks it seen.",
                icon=":material/difference:",
            )
        if workflow.can_review(actor):
            _forms(item, actor, prefix)
        else:
            st.caption(
                f"Reviewing needs the quality role; {md(actor.name)} can read the item and its history."
            )
        _history(history)
    return item


def _forms(item: Item, actor: Actor, prefix: str) -> None:
    i, v = item.item_id, item.version
    left, right = st.columns([3, 2])
    with left, st.form(f"{prefix}_status_form_{i}", border=True):
        st.text_area(
            "Note (plain text)",
            key=f"{prefix}_note_{i}",
            max_chars=workflow.NOTE_MAX_CHARS,
            height=90,
            help="Saved with the action, in the history. Reopening a closed item needs one.",
        )
        buttons: list[tuple[str, str, str]] = []  # (label, action, type)
        if item.status == "open":
            buttons.append(("Start review", "start", "primary"))
        elif item.status == "in_review":
            st.selectbox(
                "Outcome",
                OUTCOMES,
                format_func=OUTCOME_LABELS.__getitem__,
                key=f"{prefix}_outcome_{i}",
                index=None,
                placeholder="Pick an outcome to close",
            )
            buttons += [
                ("Close with outcome", "close", "primary"),
                ("Hand back to open", "hand_back", "secondary"),
            ]
        else:
            buttons.append(("Reopen", "reopen", "primary"))
        buttons.append(("Add note", "note", "secondary"))
        cols = st.columns(len(buttons))
        for col, (label, action, kind) in zip(cols, buttons, strict=True):
            with col:
                st.form_submit_button(
                    label, type=kind, on_click=_act, args=(prefix, i, v, action, actor), width="stretch"
                )
    with right, st.form(f"{prefix}_assign_form_{i}", border=True):
        st.text_input(
            "Assign to",
            key=f"{prefix}_assignee_{i}",
            value=item.assignee or "",
            max_chars=workflow.NAME_MAX_CHARS,
            placeholder="user id, e.g. an e-mail; empty = nobody",
        )
        a1, a2 = st.columns(2)
        with a1:
            st.form_submit_button(
                "Assign", on_click=_act, args=(prefix, i, v, "assign", actor), width="stretch"
            )
        with a2:
            st.form_submit_button(
                "Assign to me", on_click=_act, args=(prefix, i, v, "assign_me", actor), width="stretch"
            )


def _history(history: list[HistoryEntry]) -> None:
    rows: list[dict[str, Any]] = [
        {
            "version": h.version,
            "at": h.at,
            "actor": h.actor,
            "action": words(h.action),
            "change": _change(h),
            "note": h.note or "",
        }
        for h in history
    ]
    st.markdown(f"**History** ({len(rows)} entries, oldest first; never overwritten)")
    tables.grid(
        pl.DataFrame(
            rows,
            schema=dict.fromkeys(("at", "actor", "action", "change", "note"), pl.String)
            | {"version": pl.Int64},
        ),
        column_order=("version", "at", "actor", "action", "change", "note"),
        column_config={
            "version": st.column_config.NumberColumn("Version", format="%d", width="small"),
            "at": "When (UTC)",
            "actor": "Who",
            "action": "Action",
            "change": st.column_config.TextColumn("What changed", width="medium"),
            "note": st.column_config.TextColumn("Note", width="large"),
        },
    )


def _change(h: HistoryEntry) -> str:
    if h.field is None:
        return ""
    words_of = FIELD_VALUE_LABELS.get(h.field, {})
    old = labels.MISSING if h.old_value is None else words_of.get(h.old_value, h.old_value)
    new = labels.MISSING if h.new_value is None else words_of.get(h.new_value, h.new_value)
    return f"{h.field.replace('_', ' ')}: {old} → {new}"
