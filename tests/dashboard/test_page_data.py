"""Data page: refresh history, freshness (the silent clinic flagged), rejected rows."""

from __future__ import annotations

from tests.dashboard.conftest import frame_with, sql_value, texts

PAGE = "views/data.py"


def test_data_page_shows_runs_freshness_and_rejects(app_at, demo_like_db):
    at = app_at(demo_like_db, page=PAGE)
    assert not at.exception
    runs = frame_with(at, "run_id", "status")
    assert len(runs) == sql_value(demo_like_db, "SELECT count(*) FROM refresh_runs")
    warnings = "\n".join(w.value for w in at.warning)
    # Ridge (C3) went silent 12 days ago; Harbor (C1) sent data yesterday
    assert "Ridge (C3)" in warnings.split("clinic(s) stale")[-1]
    assert "Harbor (C1)" not in warnings
    freshness = frame_with(at, "clinic_id", "state")
    states = dict(zip(freshness["clinic_id"], freshness["state"], strict=True))
    assert states["C3"] == "⚠ stale" and states["C1"] == "fresh"
    reasons = frame_with(at, "reason", "description")
    assert int(reasons["rows"].sum()) == sql_value(demo_like_db, "SELECT count(*) FROM rejected_rows")
    total = sql_value(demo_like_db, "SELECT count(*) FROM rejected_rows")
    assert f"{total:,} rejected row(s) in this download" in texts(at)


def test_download_follows_the_chosen_run(app_at, demo_like_db):
    at = app_at(demo_like_db, page=PAGE)
    at.selectbox(key="reject_run").set_value("r3").run()
    in_run = sql_value(demo_like_db, "SELECT count(*) FROM rejected_rows WHERE run_id = 'r3'")
    assert f"{in_run:,} rejected row(s) in this download" in texts(at)
    assert len(frame_with(at, "raw_record")) == in_run


def test_data_page_on_an_empty_database_still_shows_the_refresh(app_at, empty_db, absent_db):
    at = app_at(empty_db, page=PAGE)
    assert not at.exception
    assert len(frame_with(at, "run_id", "status")) == 1
    assert "No row has been rejected" in texts(at)
    assert "No database yet" in texts(app_at(absent_db, page=PAGE))
