"""AppTest of the Reviews page, its item panel, the review counts and the line list's review filter.

Each test gets a review store of its own (``$KETAOPS_REVIEWS``) over the shared demo-like
database. Expected numbers are counted with plain SQL on the database or the store here,
never by the code under test.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.reviews import store, workflow
from tests.dashboard.conftest import frame_with, metric_values, sql_value, texts

PAGE = "views/reviews.py"
LOOKBACK_DAYS = 90  # ReviewConfig's default look-back


pytestmark = pytest.mark.usefixtures("fresh_caches")


@pytest.fixture
def review_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "reviews.sqlite"
    monkeypatch.setenv("KETAOPS_REVIEWS", str(path))
    return path


def _flagged_aes(db: Path) -> int:
    """Serious or grade >= 3 AEs with onset in the look-back window before the data's last date."""
    last = sql_value(db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    return int(
        sql_value(
            db,
            "SELECT count(*) FROM adverse_events WHERE (serious OR severity_grade >= 3) "
            "AND CAST(onset_at AS DATE) BETWEEN ? AND ?",
            [last - timedelta(days=LOOKBACK_DAYS - 1), last],
        )
    )


def _rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _open(app_at: Callable[..., AppTest], db: Path, **query: str) -> AppTest:
    at = app_at(db, **query)
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _pick(at: AppTest, key: str, item_id: int) -> AppTest:
    box = at.selectbox(key=key)
    box.set_value(item_id).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _first_ae_item(path: Path) -> tuple[int, str]:
    ((item_id, subject),) = _rows(
        path, "SELECT item_id, subject FROM items WHERE kind = 'adverse_event' ORDER BY item_id LIMIT 1"
    )
    return item_id, subject


def test_page_lists_every_flagged_ae_as_an_open_item(app_at, demo_like_db: Path, review_store: Path) -> None:
    expected = _flagged_aes(demo_like_db)
    assert expected > 0, "the demo-like database must have serious AEs in the window"
    at = _open(app_at, demo_like_db, reviews_view="All open", rv_kind=["adverse event"])
    assert f"**{expected:,} item(s)**" in texts(at)
    table = frame_with(at, "item_id", "due_on", "status")
    assert len(table) == expected
    assert set(table["status"]) == {"Open"}  # the status as labelled in every table


def test_panel_start_then_close_with_outcome_is_attributed(
    app_at, demo_like_db: Path, review_store: Path
) -> None:
    at = _open(app_at, demo_like_db, reviews_view="All open")
    item_id, _ = _first_ae_item(review_store)
    _pick(at, "rv_item_open", item_id)
    assert [b.label for b in at.button][:2] == ["Start review", "Add note"]
    at.text_area(key=f"rv_open_note_{item_id}").input("Called the clinic; <b>chart</b> pulled")
    _click(at, "Start review")
    assert "Saved: review started" in texts(at)
    assert _rows(review_store, "SELECT status, assignee FROM items WHERE item_id = ?", (item_id,)) == [
        ("in_review", "demo")
    ]
    at.selectbox(key=f"rv_open_outcome_{item_id}").set_value("action_taken")
    _click(at, "Close with outcome")
    assert _rows(review_store, "SELECT status, outcome FROM items WHERE item_id = ?", (item_id,)) == [
        ("closed", "action_taken")
    ]
    actors = _rows(
        review_store, "SELECT DISTINCT actor FROM history WHERE item_id = ? AND version > 1", (item_id,)
    )
    assert actors == [("demo",)]
    # the closed item is in the Closed view, with its note shown as the text that was typed
    at = _pick(_open(app_at, demo_like_db, reviews_view="Closed"), "rv_item_closed", item_id)
    history = frame_with(at, "actor", "action", "note")
    assert "Called the clinic; <b>chart</b> pulled" in set(history["note"])
    # the store keeps codes; the history shows their labels
    assert "status: in review → closed" in set(history["change"])
    assert "outcome: – → action taken" in set(history["change"])


def test_close_without_outcome_is_refused_with_a_message(
    app_at, demo_like_db: Path, review_store: Path
) -> None:
    at = _open(app_at, demo_like_db, reviews_view="All open")
    item_id, _ = _first_ae_item(review_store)
    _pick(at, "rv_item_open", item_id)
    _click(at, "Start review")
    _click(at, "Close with outcome")
    assert "Not saved:" in texts(at) and "closing needs an outcome" in texts(at)
    assert _rows(review_store, "SELECT status FROM items WHERE item_id = ?", (item_id,)) == [("in_review",)]


def test_stale_edit_says_so_keeps_the_note_and_shows_the_fresh_item(
    app_at, demo_like_db: Path, review_store: Path
) -> None:
    at = _open(app_at, demo_like_db, reviews_view="All open")
    item_id, _ = _first_ae_item(review_store)
    _pick(at, "rv_item_open", item_id)
    # another user writes after this page drew the item (version 1 -> 2)
    other = workflow.Actor("rita@example.org", "Rita", "quality")
    with store.connect(review_store) as conn:
        workflow.add_note(conn, item_id, "checked first", other, 1)
    at.text_area(key=f"rv_open_note_{item_id}").input("my note")
    _click(at, "Add note")
    shown = texts(at)
    assert "someone else changed this item first" in shown
    assert "rita" in shown  # who changed it, from StaleEdit's message
    assert "(version 2)" in shown  # the panel shows the fresh item
    assert at.text_area(key=f"rv_open_note_{item_id}").value == "my note"
    notes = _rows(
        review_store, "SELECT actor, note FROM history WHERE item_id = ? AND note IS NOT NULL", (item_id,)
    )
    assert notes == [("rita@example.org", "checked first")]
    # making it again on the fresh item succeeds
    _click(at, "Add note")
    assert "Saved: note added" in texts(at)
    assert (
        len(_rows(review_store, "SELECT 1 FROM history WHERE item_id = ? AND note IS NOT NULL", (item_id,)))
        == 2
    )


def test_my_reviews_and_overdue_views(app_at, demo_like_db: Path, review_store: Path) -> None:
    at = _open(app_at, demo_like_db, reviews_view="My reviews")
    assert "Nothing is assigned to you" in texts(at)
    item_id, _ = _first_ae_item(review_store)
    with store.connect(review_store) as conn:
        workflow.assign(conn, item_id, "demo", workflow.DEMO_ACTOR, 1)
        # due dates count from when the item was raised: move one into the past
        conn.execute(
            "UPDATE items SET due_on = ? WHERE item_id = ?",
            ((date.today() - timedelta(days=1)).isoformat(), item_id),
        )
    st.cache_data.clear()
    at = _open(app_at, demo_like_db, reviews_view="My reviews")
    assert list(frame_with(at, "item_id", "assignee")["item_id"]) == [item_id]
    at = _open(app_at, demo_like_db, reviews_view="Overdue")
    table = frame_with(at, "item_id", "overdue")
    assert list(table["item_id"]) == [item_id]
    assert metric_values(at)["Reviews overdue"] == "1"


def test_reader_without_quality_role_gets_no_forms(
    app_at, demo_like_db: Path, review_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.components import reviewer

    monkeypatch.setattr(
        reviewer, "current_actor", lambda: workflow.Actor("dora@example.org", "Dora", "director")
    )
    at = _open(app_at, demo_like_db, reviews_view="All open")
    item_id, _ = _first_ae_item(review_store)
    _pick(at, "rv_item_open", item_id)
    assert not [b for b in at.button if b.label in ("Start review", "Add note", "Assign")]
    assert "Reviewing needs the quality role" in texts(at)


def test_overview_and_safety_show_open_counts_from_the_store(
    app_at, demo_like_db: Path, review_store: Path
) -> None:
    # Overview reads the store without raising items: before the Reviews page opens, it says so
    at = app_at(demo_like_db, page="views/overview.py")
    assert not at.exception
    assert metric_values(at)["Reviews open"] == "0"
    assert "raised when the Reviews page opens" in texts(at)
    _open(app_at, demo_like_db)  # the Reviews page syncs the store
    at = app_at(demo_like_db, page="views/overview.py")
    assert "raised when the Reviews page opens" not in texts(at)
    (open_items,) = _rows(review_store, "SELECT count(*) FROM items WHERE status = 'open'")[0]
    assert open_items > 0
    assert metric_values(at)["Reviews open"] == f"{open_items:,}"
    item_id, _ = _first_ae_item(review_store)
    with store.connect(review_store) as conn:
        workflow.transition(conn, item_id, "in_review", workflow.DEMO_ACTOR, 1)
    at = app_at(demo_like_db, page="views/safety.py")
    values = metric_values(at)
    assert values["Reviews open"] == f"{open_items - 1:,}"
    assert values["Reviews in review"] == "1"


def test_line_list_shows_and_filters_by_review_status(app_at, demo_like_db: Path, review_store: Path) -> None:
    at = app_at(demo_like_db, page="views/reviews.py")  # sync
    item_id, subject = _first_ae_item(review_store)
    with store.connect(review_store) as conn:
        v = workflow.transition(conn, item_id, "in_review", workflow.DEMO_ACTOR, 1)
        workflow.transition(conn, item_id, "closed", workflow.DEMO_ACTOR, v, outcome="confirmed")
    at = app_at(demo_like_db, page="views/safety.py", safety_view="Line list", period="Last 90 days")
    table = frame_with(at, "ae_id", "review_status")
    assert table.loc[table["ae_id"] == subject, "review_status"].tolist() == ["closed"]
    at.multiselect(key="ae_review").set_value(["closed"]).run()
    assert not at.exception
    assert frame_with(at, "ae_id", "review_status")["ae_id"].tolist() == [subject]
    # the filter is bound to the URL: opening the link a browser shows gives the same list
    again = app_at(
        demo_like_db,
        page="views/safety.py",
        safety_view="Line list",
        period="Last 90 days",
        ae_review="closed",
    )
    assert again.multiselect(key="ae_review").value == ["closed"]
    assert frame_with(again, "ae_id", "review_status")["ae_id"].tolist() == [subject]
    at.multiselect(key="ae_review").set_value(["none"]).run()
    rest = frame_with(at, "ae_id", "review_status")
    assert rest["review_status"].isna().all() and subject not in set(rest["ae_id"])


def test_an_unreadable_store_costs_overview_and_safety_only_the_review_tiles(
    app_at, demo_like_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETAOPS_REVIEWS", str(tmp_path))  # a folder: SQLite cannot open it
    for page in ("views/overview.py", "views/safety.py"):
        at = app_at(demo_like_db, page=page, safety_view="Line list")
        assert not at.exception, [e.value for e in at.exception]
        assert "Review items unavailable" in texts(at)
        assert "Reviews open" not in metric_values(at)
        assert at.metric  # the page's own tiles are there
    at = app_at(demo_like_db, page=PAGE)
    assert not at.exception, [e.value for e in at.exception]
    assert "The review store cannot be opened" in texts(at)


def test_the_writer_is_the_signed_in_viewer() -> None:
    from dashboard.access.scope import Scope
    from dashboard.access.viewer import Viewer
    from dashboard.components.reviewer import actor_for

    quality = Viewer("qa@example.org", "Quinn", "quality", Scope("clinic", ("C1",)), ("C1",))
    assert actor_for(quality) == workflow.Actor("qa@example.org", "Quinn", "quality", ("C1",))
    director = Viewer("dir@example.org", "Dana", "director", Scope("network"), ("C1", "C2"))
    assert actor_for(director) == workflow.Actor("dir@example.org", "Dana", "director", None)
    assert not workflow.can_review(actor_for(director))
    demo = Viewer("demo", "Demo", "demo", Scope("network"), ("C1", "C2"), demo=True)
    assert actor_for(demo) == workflow.Actor("demo", "Demo", "quality", None)
