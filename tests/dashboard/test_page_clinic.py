"""Clinic page: the clinic comes from the URL, every figure beside the network's."""

from __future__ import annotations

from datetime import timedelta

from tests.dashboard.conftest import chart_titles, metric_values, sql_value, texts

PAGE = "views/clinic.py"


def test_clinic_from_the_url_beside_the_network(app_at, demo_like_db):
    at = app_at(demo_like_db, page=PAGE, clinic="Elm Street (C2)", period="Last 12 months")
    assert not at.exception
    assert at.selectbox(key="clinic").value == "C2"
    assert at.title[0].value == "Elm Street"
    last = sql_value(demo_like_db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    start = last.replace(year=last.year - 1) + timedelta(days=1)
    expected = sql_value(
        demo_like_db,
        "SELECT count(*) FROM sessions WHERE clinic_id = 'C2' AND status IN ('completed','stopped_early') "
        "AND CAST(scheduled_at AS DATE) BETWEEN ? AND ?",
        [start, last],
    )
    assert metric_values(at)["Administered sessions"] == f"{expected:,}"
    titles = chart_titles(at)
    for figure in ("administered sessions", "chair load", "no-show rate per week", "induction funnel"):
        assert any(t.lower().startswith(f"elm street: {figure}") for t in titles), figure
        assert any(t.lower().startswith(f"network: {figure}") for t in titles), figure


def test_default_clinic_is_the_busiest_in_scope(app_at, demo_like_db):
    at = app_at(demo_like_db, page=PAGE)
    last = sql_value(demo_like_db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    busiest = sql_value(
        demo_like_db,
        "SELECT clinic_id FROM sessions WHERE status IN ('completed','stopped_early') "
        "AND CAST(scheduled_at AS DATE) BETWEEN ? AND ? GROUP BY clinic_id ORDER BY count(*) DESC LIMIT 1",
        [last - timedelta(days=89), last],
    )
    assert at.selectbox(key="clinic").value == busiest


def test_the_region_filter_does_not_hide_the_chosen_clinic(app_at, demo_like_db):
    at = app_at(demo_like_db, page=PAGE, clinic="Ridge (C3)", region=["North"])
    assert not at.exception
    assert at.title[0].value == "Ridge"
    assert int(metric_values(at)["Administered sessions"].replace(",", "")) > 0


def test_changing_the_clinic_changes_the_figures(app_at, demo_like_db):
    at = app_at(demo_like_db, page=PAGE, clinic="Harbor (C1)")
    harbor = metric_values(at)["Administered sessions"]
    at.selectbox(key="clinic").set_value("C3").run()
    assert at.title[0].value == "Ridge"
    assert metric_values(at)["Administered sessions"] != harbor


def test_a_clinic_without_sessions_says_so(app_at, demo_like_db, empty_db, absent_db):
    at = app_at(demo_like_db, page=PAGE, clinic="Bayside (C4)")
    assert not at.exception
    assert "Bayside has no sessions in this period" in texts(at)
    assert not at.get("plotly_chart")
    assert "no sessions yet" in texts(app_at(empty_db, page=PAGE))
    assert "No database yet" in texts(app_at(absent_db, page=PAGE))
