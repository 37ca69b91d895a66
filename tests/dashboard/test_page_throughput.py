"""Throughput page: every figure present, controls in the URL, filters change the figures."""

from __future__ import annotations

from datetime import timedelta

from tests.dashboard.conftest import chart_specs, chart_titles, metric_values, own_title, sql_value, texts

PAGE = "views/throughput.py"
# The figures of each tab (only the open tab runs: ``?throughput_view=``)
TABS = {
    "Sessions over time": (
        "Administered sessions per week",
        "Chair load by weekday and hour",
        "Chair utilisation by clinic",
    ),
    "No-shows and cancellations": ("No-show and cancellation rates by clinic", "No-show rate per week"),
    "New patients and induction": ("New starts per week", "Induction funnel"),
    "Maintenance and mix": ("Maintenance cadence", "Route and modality mix"),
}
NO_SHOWS = {"throughput_view": "No-shows and cancellations"}


def test_every_tab_renders_its_figures_and_only_its_own(app_at, demo_like_db):
    every = {t for figures in TABS.values() for t in figures}
    for tab, figures in TABS.items():
        at = app_at(demo_like_db, page=PAGE, period="Last 12 months", throughput_view=tab)
        assert not at.exception
        titles = chart_titles(at)
        for figure in figures:
            assert any(t.startswith(figure) for t in titles), (tab, figure, titles)
        others = every - set(figures)
        assert not [t for t in titles if any(t.startswith(o) for o in others)], (tab, titles)
        assert {"Scheduled", "Administered", "No-show rate", "Cancelled", "Utilisation", "New starts"} <= set(
            metric_values(at)
        )


def test_the_shifting_clinic_shows_as_a_p_chart_signal(app_at, demo_like_db):
    # Elm Street (C2) has 25% no-shows in its last four months against 5% before
    at = app_at(demo_like_db, page=PAGE, period="Last 12 months", **NO_SHOWS)
    assert at.selectbox(key="pchart_clinic").value == "C2"
    pchart = next(
        s for s in chart_specs(at) if s["layout"]["title"]["text"].startswith("No-show rate per week")
    )
    assert "Elm Street" in pchart["layout"]["title"]["text"]
    assert any(trace.get("name") == "special cause: concern" for trace in pchart["data"])


def test_grain_and_split_are_in_the_url(app_at, demo_like_db):
    at = app_at(demo_like_db, page=PAGE, grain="Month", by="Region")
    assert not at.exception
    assert at.segmented_control(key="grain").value == "month"
    spec = next(
        s for s in chart_specs(at) if s["layout"]["title"]["text"].startswith("Administered sessions")
    )
    assert own_title(spec) == "Administered sessions per month"
    assert sorted(trace["name"] for trace in spec["data"]) == ["North", "South"]


def test_too_many_clinics_split_by_region_with_a_note(app_at, demo_like_db, monkeypatch):
    from dashboard.components import throughput_figures

    # the demo-like network has 4 clinics; a limit of 3 stands in for 200 clinics and 12 lines
    monkeypatch.setattr(throughput_figures, "MAX_CLINIC_LINES", 3)
    at = app_at(demo_like_db, page=PAGE, by="Clinic")
    assert not at.exception
    spec = next(
        s for s in chart_specs(at) if s["layout"]["title"]["text"].startswith("Administered sessions")
    )
    assert sorted(trace["name"] for trace in spec["data"]) == ["North", "South"]
    assert "too many lines to read" in texts(at)


def test_route_filter_changes_the_figures(app_at, demo_like_db):
    all_routes = metric_values(app_at(demo_like_db, page=PAGE, period="Last 12 months"))["Scheduled"]
    at = app_at(demo_like_db, page=PAGE, period="Last 12 months", route=["Intranasal"])
    last = sql_value(demo_like_db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    start = last.replace(year=last.year - 1) + timedelta(days=1)
    expected = sql_value(
        demo_like_db,
        "SELECT count(*) FROM sessions WHERE route = 'intranasal' "
        "AND CAST(scheduled_at AS DATE) BETWEEN ? AND ?",
        [start, last],
    )
    assert metric_values(at)["Scheduled"] == f"{expected:,}" != all_routes


def test_throughput_empty_states(app_at, demo_like_db, empty_db, absent_db):
    nothing = app_at(demo_like_db, page=PAGE, clinics=["Bayside (C4)"])  # a clinic without sessions
    assert not nothing.exception and "No sessions match these filters" in texts(nothing)
    assert "The clinic filter \\(Bayside\\) leaves none" in texts(nothing)
    assert "no sessions yet" in texts(app_at(empty_db, page=PAGE))
    assert "No database yet" in texts(app_at(absent_db, page=PAGE))
