"""Data page: refresh history, freshness (the silent clinic flagged), rejected rows."""

from __future__ import annotations

import shutil

import duckdb

from pipelines.publish import append_side_run
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


def test_runs_that_found_nothing_new_are_listed_only_on_request(app_at, demo_like_db, tmp_path):
    """A quarter-hourly schedule's idle runs would fill the history; the last run still shows."""
    db = tmp_path / "ketaops.duckdb"
    shutil.copyfile(demo_like_db, db)
    published = sql_value(db, "SELECT count(*) FROM refresh_runs")
    for i in range(60):  # 15 hours of a quarter-hourly schedule, newer than every published run
        at = f"2099-01-01T{i // 4:02d}:{i % 4 * 15:02d}"
        record = {"run_id": f"idle{i:02d}", "started_at": f"{at}:00", "finished_at": f"{at}:01"}
        append_side_run(db, {**record, "status": "succeeded", "files_read": 0, "message": "nothing new"})
    at = app_at(db, page=PAGE)
    assert not at.exception
    assert len(frame_with(at, "run_id", "status")) == published  # all published runs, no idle one
    last = next(m for m in at.metric if m.label == "Last refresh")
    assert last.value == "succeeded" and last.help == "nothing new"  # the newest run, idle or not
    at.toggle(key="show_idle").set_value(True).run()
    shown = frame_with(at, "run_id", "status")
    assert len(shown) == 50 and shown["run_id"][0] == "idle59"  # the page's 50 newest runs


def test_data_page_on_an_empty_database_still_shows_the_refresh(app_at, empty_db, absent_db):
    at = app_at(empty_db, page=PAGE)
    assert not at.exception
    # its one run read no file (an empty exports folder): listed on request
    assert "switch on the toggle" in texts(at)
    at.toggle(key="show_idle").set_value(True).run()
    assert len(frame_with(at, "run_id", "status")) == 1
    assert "No row has been rejected" in texts(at)
    assert "No database yet" in texts(app_at(absent_db, page=PAGE))


def test_data_page_shows_no_sidebar_filters_and_the_other_pages_keep_them(app_at, demo_like_db):
    overview = app_at(demo_like_db)
    assert len(overview.sidebar.selectbox) > 0
    at = app_at(demo_like_db, page=PAGE)
    assert not at.exception
    assert len(at.sidebar.selectbox) == 0 and len(at.sidebar.multiselect) == 0


def test_a_run_that_rejected_a_file_is_not_shown_as_plain_success(app_at, demo_like_db, tmp_path):
    db = tmp_path / "k.duckdb"
    shutil.copy(demo_like_db, db)
    with duckdb.connect(str(db)) as con:
        newest = con.execute("SELECT run_id FROM refresh_runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        con.execute(
            "INSERT INTO source_files (path, content_hash, status, run_id) "
            "VALUES ('C1/bad.csv', 'x', 'rejected', ?)",
            [newest],
        )
    at = app_at(db, page=PAGE)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Last refresh"] == "succeeded with rejects"
    assert tiles["Files rejected (shown)"] == "1"
    runs = frame_with(at, "run_id", "files_rejected")
    assert dict(zip(runs["run_id"], runs["files_rejected"], strict=True))[newest] == 1
    assert dict(zip(runs["run_id"], runs["status"], strict=True))[newest] == "⚠ succeeded with rejects"
