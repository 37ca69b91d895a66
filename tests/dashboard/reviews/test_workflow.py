"""Workflow: transitions, outcomes, history that is never overwritten, versions, roles, scope, due dates."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import pytest

from dashboard.reviews import listing, workflow
from dashboard.reviews.config import ReviewConfig
from dashboard.reviews.workflow import DEMO_ACTOR, Actor, ReviewError, StaleEdit
from tests.dashboard.reviews.conftest import candidate, item_id, version

ALICE = Actor("alice@network.example", "Alice", "quality")
BOB = Actor("bob@network.example", "Bob", "quality")
T1 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 3, 11, 30, tzinfo=UTC)


def history(conn, subject: str) -> list[tuple]:
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT version, at, actor, action, field, old_value, new_value, note FROM history "
            "WHERE item_id = ? ORDER BY history_id",
            (item_id(conn, subject),),
        ).fetchall()
    ]


def test_due_dates_follow_severity(conn) -> None:
    # raised 2026-03-01: serious + 7 days, grade 3 + 14 days
    due = dict(conn.execute("SELECT subject, due_on FROM items").fetchall())
    assert due == {"A1": "2026-03-08", "A2": "2026-03-15", "A3": "2026-03-08"}


def test_open_review_close_with_full_history(conn) -> None:
    i = item_id(conn, "A1")
    v = workflow.transition(conn, i, "in_review", ALICE, 1, note="Looking at the chart.", now=T1)
    assert v == 2
    v = workflow.transition(conn, i, "closed", BOB, v, outcome="action_taken", note="Dose lowered.", now=T2)
    assert v == 3
    row = conn.execute(
        "SELECT status, outcome, assignee, updated_by FROM items WHERE item_id = ?", (i,)
    ).fetchone()
    # starting the review assigned the unassigned item to Alice; Bob closed it
    assert tuple(row) == ("closed", "action_taken", ALICE.user_id, BOB.user_id)
    assert history(conn, "A1") == [
        (1, "2026-03-01T09:00:00Z", "system", "raised", "status", None, "open", None),
        (2, "2026-03-02T10:00:00Z", ALICE.user_id, "change", "status", "open", "in_review", None),
        (2, "2026-03-02T10:00:00Z", ALICE.user_id, "change", "assignee", None, ALICE.user_id, None),
        (2, "2026-03-02T10:00:00Z", ALICE.user_id, "note", None, None, None, "Looking at the chart."),
        (3, "2026-03-03T11:30:00Z", BOB.user_id, "change", "status", "in_review", "closed", None),
        (3, "2026-03-03T11:30:00Z", BOB.user_id, "change", "outcome", None, "action_taken", None),
        (3, "2026-03-03T11:30:00Z", BOB.user_id, "note", None, None, None, "Dose lowered."),
    ]


def test_history_cannot_be_overwritten_or_deleted(conn) -> None:
    workflow.add_note(conn, item_id(conn, "A1"), "first", ALICE, 1, now=T1)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE history SET note = 'rewritten' WHERE note = 'first'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM history")
    assert [h[-1] for h in history(conn, "A1")] == [None, "first"]


@pytest.mark.parametrize(
    ("to", "kw", "message"),
    [
        ("closed", {"outcome": "confirmed"}, "cannot become closed"),  # open -> closed skips review
        ("closed", {}, "needs an outcome"),
        ("in_review", {"outcome": "confirmed"}, "only closing"),
        ("closed", {"outcome": "fine"}, "needs an outcome"),
        ("done", {}, "unknown status"),
    ],
)
def test_refused_transitions_change_nothing(conn, to, kw, message) -> None:
    with pytest.raises(ReviewError, match=message):
        workflow.transition(conn, item_id(conn, "A1"), to, ALICE, 1, **kw)
    assert version(conn, "A1") == 1 and len(history(conn, "A1")) == 1


def test_reopening_needs_a_note(conn) -> None:
    i = item_id(conn, "A1")
    v = workflow.transition(conn, i, "in_review", ALICE, 1)
    v = workflow.transition(conn, i, "closed", ALICE, v, outcome="not_an_event")
    with pytest.raises(ReviewError, match="needs a note"):
        workflow.transition(conn, i, "in_review", ALICE, v)
    v = workflow.transition(conn, i, "in_review", ALICE, v, note="New information from the clinic.")
    row = conn.execute("SELECT status, outcome FROM items WHERE item_id = ?", (i,)).fetchone()
    assert tuple(row) == ("in_review", None)


def test_a_write_based_on_an_old_version_is_refused_with_who_and_when(conn) -> None:
    i = item_id(conn, "A1")
    workflow.assign(conn, i, BOB.user_id, ALICE, 1, now=T1)  # Alice's tab saved first
    with pytest.raises(StaleEdit) as err:  # Bob's tab still shows version 1
        workflow.add_note(conn, i, "my note", BOB, 1, now=T2)
    assert "alice@network.example" in str(err.value) and "2026-03-02T10:00:00Z" in str(err.value)
    assert (err.value.expected, err.value.current) == (1, 2)
    assert [h[3] for h in history(conn, "A1")] == ["raised", "change"]  # Bob's note was not half-saved


def test_only_the_quality_role_writes_and_only_in_scope(conn) -> None:
    director = Actor("d@network.example", "Director", "director")
    with pytest.raises(workflow.NotAllowed):
        workflow.add_note(conn, item_id(conn, "A1"), "x", director, 1)
    north = Actor("q@network.example", "Q", "quality", clinic_ids=("C1",))
    with pytest.raises(workflow.NotFound):
        workflow.add_note(conn, item_id(conn, "A3"), "x", north, 1)  # A3 is at C2
    assert workflow.add_note(conn, item_id(conn, "A1"), "x", north, 1) == 2
    assert workflow.can_review(DEMO_ACTOR)


def test_notes_are_kept_as_plain_text(conn) -> None:
    text = "<script>alert(1)</script> **not markdown**"
    workflow.add_note(conn, item_id(conn, "A1"), f"  {text}\n", ALICE, 1)
    assert history(conn, "A1")[-1][-1] == text
    with pytest.raises(ReviewError, match="empty"):
        workflow.add_note(conn, item_id(conn, "A1"), "   ", ALICE, 2)
    with pytest.raises(ReviewError, match="longer"):
        workflow.add_note(conn, item_id(conn, "A1"), "x" * 10_001, ALICE, 2)


def test_lists_counts_and_overdue(conn) -> None:
    workflow.transition(conn, item_id(conn, "A2"), "in_review", ALICE, 1)
    scope = ("C1", "C2", "C9")
    # on 10 March the serious items (due 8 March) are overdue; A2 (due 15 March) is not
    counts = listing.counts_by_clinic(conn, clinic_ids=scope, today=date(2026, 3, 10))
    assert counts.rows() == [("C1", 1, 1, 1), ("C2", 1, 0, 1), ("C9", 0, 0, 0)]
    overdue = listing.list_items(conn, clinic_ids=scope, today=date(2026, 3, 10), overdue=True)
    assert overdue["subject"].to_list() == ["A1", "A3"]
    mine = listing.list_items(conn, clinic_ids=scope, today=date(2026, 3, 10), assignee=ALICE.user_id)
    assert mine["subject"].to_list() == ["A2"]
    assert listing.list_items(conn, clinic_ids=("C2",), today=date(2026, 3, 1))["subject"].to_list() == ["A3"]
    assert listing.list_items(conn, clinic_ids=(), today=date(2026, 3, 1)).height == 0
    assert listing.status_by_subject(conn, "adverse_event", ("A1", "A2", "A3", "A9"), clinic_ids=("C1",)) == {
        "A1": "open",
        "A2": "in_review",
    }
    item, hist = listing.get_item(conn, item_id(conn, "A2"), clinic_ids=scope, today=date(2026, 3, 20))
    assert (item.status, item.overdue, item.version, len(hist)) == ("in_review", True, 2, 3)
    assert listing.get_item(conn, item_id(conn, "A3"), clinic_ids=("C1",), today=date(2026, 3, 1)) is None


def test_sync_records_source_changes_and_never_deletes(conn) -> None:
    i = item_id(conn, "A1")
    workflow.transition(conn, i, "in_review", ALICE, 1)
    window = (date(2026, 1, 1), date(2026, 3, 31))
    cfg = ReviewConfig()
    # A1 corrected (new fingerprint); A2 now grade 2: still there but no longer flagged; A3's row is gone
    result = workflow.sync(
        conn,
        [candidate("A1", fingerprint="fp-A1-corrected")],
        {("adverse_event", "A2"): "fp-A2-grade2", ("adverse_event", "A3"): None},
        window,
        cfg,
    )
    assert (result.raised, result.changed) == (0, 3)
    rows = conn.execute("SELECT subject, source_state, fingerprint FROM items").fetchall()
    states = {r[0]: tuple(r[1:]) for r in rows}
    assert states == {
        "A1": ("flagged", "fp-A1-corrected"),
        "A2": ("not_flagged", "fp-A2-grade2"),
        "A3": ("missing", "fp-A3"),
    }
    a1 = listing.get_item(conn, i, clinic_ids=("C1",), today=date(2026, 3, 5))
    assert a1 is not None and a1[0].data_changed  # reviewed at fp-A1, the source is now different
    assert a1[1][-1].action == "source_changed" and a1[1][-1].actor == "system"
    # a second sync of the same state records nothing
    again = workflow.sync(
        conn,
        [candidate("A1", fingerprint="fp-A1-corrected")],
        {("adverse_event", "A2"): "fp-A2-grade2", ("adverse_event", "A3"): None},
        window,
        cfg,
    )
    assert (again.raised, again.changed) == (0, 0)


def test_a_severity_change_moves_the_due_date(conn) -> None:
    workflow.sync(
        conn,
        [candidate("A2", severity="serious")],
        {},
        (date(2026, 1, 1), date(2026, 3, 31)),
        ReviewConfig(due_days_serious=3),
    )
    # raised 1 March: + 3 days
    assert conn.execute("SELECT due_on FROM items WHERE subject = 'A2'").fetchone()[0] == "2026-03-04"
