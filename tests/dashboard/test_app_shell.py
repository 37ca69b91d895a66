"""App shell: period arithmetic, clinic scope, filters in the URL, empty states, cache refresh."""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from dashboard.components.filters import clinic_label, label, period_bounds, resolve_scope
from dashboard.components.navigation import available_pages
from tests.dashboard.conftest import LAST_DATE, build_demo_like_db, metric_values, sql_value, texts

# --- pure functions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "last", "expected"),
    [
        # 30 days ending 30 Jun inclusive: 1–30 Jun
        ("30d", date(2026, 6, 30), (date(2026, 6, 1), date(2026, 6, 30))),
        # 90 days: 30 (Jun) + 31 (May) + 29 (2–30 Apr) = 90
        ("90d", date(2026, 6, 30), (date(2026, 4, 2), date(2026, 6, 30))),
        ("ytd", date(2026, 6, 30), (date(2026, 1, 1), date(2026, 6, 30))),
        # 12 months: the day after the same date a year earlier
        ("12m", date(2026, 6, 30), (date(2025, 7, 1), date(2026, 6, 30))),
        # leap day: a year earlier has no 29 Feb → 28 Feb 2027 + 1 day
        ("12m", date(2028, 2, 29), (date(2027, 3, 1), date(2028, 2, 29))),
        # an unknown choice (e.g. a hand-edited URL) falls back to the 90-day default
        ("bogus", date(2026, 6, 30), (date(2026, 4, 2), date(2026, 6, 30))),
    ],
)
def test_period_bounds_are_anchored_on_the_data_last_date(period, last, expected):
    assert period_bounds(period, last) == expected


def test_custom_period_sorts_its_ends_and_accepts_a_half_picked_range():
    a, b = date(2026, 3, 1), date(2026, 2, 1)
    assert period_bounds("custom", date(2026, 6, 30), (a, b)) == (b, a)
    assert period_bounds("custom", date(2026, 6, 30), (a,)) == (a, a)


def test_scope_is_allowed_intersect_selection_intersect_region():
    region_of = {"C1": "North", "C2": "North", "C3": "South"}
    allowed = ("C1", "C2", "C3")
    assert resolve_scope(allowed, [], [], region_of) == ("C1", "C2", "C3")
    assert resolve_scope(allowed, ["C3", "C1"], [], region_of) == ("C1", "C3")
    assert resolve_scope(allowed, ["C3", "C1"], ["North"], region_of) == ("C1",)
    assert resolve_scope(allowed, ["C3"], ["North"], region_of) == ()
    # a clinic the viewer may not see stays out even if it is in the URL
    assert resolve_scope(("C1",), ["C1", "C2"], [], region_of) == ("C1",)


def test_labels_in_the_url_are_readable():
    assert label("bipolar_depression") == "Bipolar depression"
    assert label("ptsd") == "PTSD"
    assert label("iv") == "IV"
    assert label("kap") == "KAP"
    assert label("intranasal") == "Intranasal"
    assert clinic_label("C1", "Harbor") == "Harbor (C1)"


# --- empty states ----------------------------------------------------------------------------


def test_absent_database_tells_how_to_create_one(app_at, absent_db):
    at = app_at(absent_db)
    assert not at.exception
    shown = texts(at) + "\n".join(c.value for c in at.code)
    assert "No database yet" in shown
    assert "ketaops demo-data" in shown and "ketaops refresh" in shown
    assert str(absent_db) in shown
    assert not at.sidebar.selectbox  # no filters without data


def test_database_without_sessions_says_so(app_at, empty_db):
    at = app_at(empty_db)
    assert not at.exception
    assert "no sessions yet" in texts(at)


def test_filter_matching_nothing_shows_a_clear_message(app_at, demo_like_db):
    # Bayside (C4) is in the South: selecting it with the North region leaves nothing in scope
    at = app_at(demo_like_db, clinics=["Bayside (C4)"], region=["North"])
    assert not at.exception
    shown = texts(at)
    assert "No sessions match these filters" in shown
    # without the clinic pick the North clinics have sessions; without the region Bayside alone has none
    assert "The clinic filter \\(Bayside\\) leaves none" in shown
    assert "region filter \\(North\\) leaves" not in shown
    assert not at.get("plotly_chart")


# --- filters in the URL ----------------------------------------------------------------------


def test_query_parameters_set_the_filters(app_at, demo_like_db):
    at = app_at(
        demo_like_db,
        period="Last 30 days",
        region=["North"],
        clinics=["Harbor (C1)", "Ridge (C3)"],
        condition=["PTSD"],
        route=["IV"],
        modality=["KAP"],
    )
    assert not at.exception
    assert at.sidebar.selectbox(key="period").value == "30d"
    assert at.sidebar.multiselect(key="region").value == ["North"]
    assert at.sidebar.multiselect(key="clinics").value == ["C1", "C3"]
    assert at.sidebar.multiselect(key="condition").value == ["ptsd"]
    assert at.sidebar.multiselect(key="route").value == ["iv"]
    assert at.sidebar.multiselect(key="modality").value == ["kap"]
    # the bound parameters are still in the URL after the run (they differ from the defaults)
    assert at.query_params["period"] == "Last 30 days"
    assert at.query_params["region"] == "North"
    # Harbor is the only clinic both selected and in the North
    assert "1 clinic(s) in scope" in texts(at)


def test_period_is_relative_to_the_newest_data_not_today(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Last 30 days")
    last = sql_value(demo_like_db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    first = date.fromordinal(last.toordinal() - 29)
    assert f"{first:%d %b %Y} – {last:%d %b %Y}" in texts(at)


def test_custom_range_from_the_url(app_at, demo_like_db):
    start, end = LAST_DATE - timedelta(days=60), LAST_DATE - timedelta(days=31)
    at = app_at(demo_like_db, period="Custom range", range=[start.isoformat(), end.isoformat()])
    assert not at.exception
    assert at.sidebar.text_input(key="range").value == f"{start.isoformat()} – {end.isoformat()}"
    assert f"{start:%d %b %Y} – {end:%d %b %Y}" in texts(at)
    # administered sessions in that range across all clinics, counted directly
    expected = sql_value(
        demo_like_db,
        "SELECT count(*) FROM sessions WHERE status IN ('completed','stopped_early') "
        "AND CAST(scheduled_at AS DATE) BETWEEN ? AND ?",
        [start, end],
    )
    assert metric_values(at)["Administered sessions"] == f"{expected:,}"


def test_filters_survive_a_page_switch(app_at, demo_like_db):
    at = app_at(demo_like_db)
    at.sidebar.multiselect(key="region").select("South").run()
    at.sidebar.selectbox(key="period").set_value("ytd").run()
    at.switch_page("views/throughput.py").run()
    assert not at.exception
    assert at.sidebar.multiselect(key="region").value == ["South"]
    assert at.sidebar.selectbox(key="period").value == "ytd"
    assert "2 clinic(s) in scope" in texts(at)  # Ridge and Bayside


def test_clear_all_filters_resets_them(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Last 30 days", region=["North"])
    at.sidebar.button(key="clear_filters_sidebar").click().run()
    assert at.sidebar.selectbox(key="period").value == "90d"
    assert at.sidebar.multiselect(key="region").value == []


# --- header and refresh ------------------------------------------------------------------------


def test_header_shows_data_date_refresh_failure_and_stale_clinic(app_at, demo_like_db):
    at = app_at(demo_like_db)
    shown = texts(at)
    newest = sql_value(demo_like_db, "SELECT max(newest_data_date) FROM clinic_freshness")
    assert f"Data as of **{newest:%d %b %Y}**" in shown
    assert "last refresh" in shown
    # the fixture's newest run (r3) succeeded, so no failure warning; Ridge (C3) went silent 12 days ago
    warnings = "\n".join(w.value for w in at.warning)
    assert "refresh failed" not in warnings
    assert "Stale data" in warnings and "Ridge (C3)" in warnings and "Harbor" not in warnings


def test_header_warns_when_the_last_refresh_failed(app_at, demo_like_db, tmp_path):
    db = tmp_path / "ketaops.duckdb"
    shutil.copyfile(demo_like_db, db)
    from pipelines.publish import append_side_run

    append_side_run(
        db,
        {
            "run_id": "r9",
            "started_at": "2099-01-01T06:00:00",
            "finished_at": "2099-01-01T06:00:05",
            "status": "failed",
            "message": "exports folder unreadable",
        },
    )
    at = app_at(db)
    warnings = "\n".join(w.value for w in at.warning)
    assert "last refresh failed" in warnings and "exports folder unreadable" in warnings


def test_a_run_recorded_beside_the_database_updates_the_header_but_keeps_the_figures_cached(
    app_at, demo_like_db, tmp_path, monkeypatch
):
    """A refresh that failed or found nothing new leaves the file; only run-reading caches refill."""
    from dashboard import queries
    from dashboard.queries.cache import version_key
    from pipelines.publish import append_side_run

    db = tmp_path / "ketaops.duckdb"
    shutil.copyfile(demo_like_db, db)
    at = app_at(db)
    assert "refresh failed" not in "\n".join(w.value for w in at.warning)
    calls: list[str] = []
    real = queries.data_last_date.metric
    monkeypatch.setattr(queries.data_last_date, "metric", lambda con: calls.append("x") or real(con))
    version, _ = version_key()
    runs_version, _ = version_key(runs=True)
    record = {"run_id": "r9", "started_at": "2099-01-01T06:00:00", "finished_at": "2099-01-01T06:00:05"}
    append_side_run(db, {**record, "status": "failed", "message": "exports folder unreadable"})
    assert version_key()[0] == version and version_key(runs=True)[0] != runs_version
    at.run()
    warnings = "\n".join(w.value for w in at.warning)
    assert "last refresh failed" in warnings and "exports folder unreadable" in warnings
    assert calls == []  # the period's anchor (and every other figure) came from the cache


def test_a_new_publish_shows_without_a_restart(app_at, demo_like_db, tmp_path):
    live = tmp_path / "live.duckdb"
    shutil.copyfile(demo_like_db, live)
    at = app_at(live, period="Last 12 months")
    before = metric_values(at)["Administered sessions"]
    # publish a different database the way the refresh does: build aside, then os.replace
    other = build_demo_like_db(tmp_path / "next.duckdb", seed=99, days=200)
    os.replace(other, live)
    at.run()
    after = metric_values(at)["Administered sessions"]
    last = sql_value(live, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    expected = sql_value(
        live,
        "SELECT count(*) FROM sessions WHERE status IN ('completed','stopped_early') "
        "AND CAST(scheduled_at AS DATE) > ? - INTERVAL 1 YEAR",
        [last],
    )
    assert after == f"{expected:,}"
    assert after != before


def test_optional_pages_are_registered_only_when_their_file_exists(tmp_path: Path):
    for name in ("overview.py", "throughput.py", "clinic.py", "data.py"):
        (tmp_path / name).write_text("")
    titles = [p.title for p in available_pages(tmp_path)]
    assert titles == ["Overview", "Throughput", "Clinic", "Data"]
    (tmp_path / "safety.py").write_text("")
    assert [p.title for p in available_pages(tmp_path)] == [
        "Overview",
        "Throughput",
        "Clinic",
        "Safety",
        "Data",
    ]


def test_every_registered_page_opens_without_error(app_at, demo_like_db):
    at = app_at(demo_like_db)
    for spec in available_pages():
        at.switch_page(f"views/{spec.file}").run()
        assert not at.exception, (spec.file, [e.value for e in at.exception])


def test_stale_banner_counts_clinics_instead_of_listing_a_whole_network(monkeypatch):
    import polars as pl

    from dashboard.components import page

    ids = [f"CLN-{i:03d}" for i in range(1, 201)]
    frame = pl.DataFrame({"clinic_id": ids, "clinic_name": [f"Clinic {i}" for i in range(1, 201)]})
    monkeypatch.setattr(page.queries, "clinics", lambda: frame)
    # markdown source: export values are escaped (a "-" could start a list item)
    assert page._stale_who(ids[:2]) == r"Clinic 1 (CLN\-001), Clinic 2 (CLN\-002)"
    many = page._stale_who(ids[:150])
    assert many.startswith(r"150 of 200 clinics, e.g. Clinic 1 (CLN\-001)")
    assert "Clinic 4 " not in many  # three examples, not 150 names
