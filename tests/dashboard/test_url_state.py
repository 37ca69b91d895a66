"""The URL holds the whole view: every control round-trips through it, and Back (the URL set from
outside) puts the controls back. History entries per action are counted in the browser (tests/e2e)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP, sql_value, texts


def _query(at) -> dict[str, list[str]]:
    return {k: list(v) if isinstance(v, list) else [v] for k, v in at.query_params.items()}


def test_sidebar_filters_are_read_from_the_url(app_at, demo_like_db):
    at = app_at(
        demo_like_db,
        period="Last month",
        compare="Same period last year",
        region=["North"],
        condition=["PTSD"],
    )
    assert not at.exception
    assert at.selectbox(key="period").value == "last_month"
    assert at.selectbox(key="compare").value == "last_year"
    assert at.multiselect(key="region").value == ["North"]
    assert at.multiselect(key="condition").value == ["ptsd"]
    assert "vs same period last year" in texts(at)


def test_a_change_is_written_to_the_url_and_defaults_are_left_out(app_at, demo_like_db):
    at = app_at(demo_like_db)
    assert "period" not in at.query_params  # the default
    at.selectbox(key="period").set_value("this_quarter").run()
    at.multiselect(key="clinics").set_value(["C1", "C3"]).run()
    q = _query(at)
    assert q["period"] == ["This quarter"]
    assert q["clinics"] == ["Harbor (C1)", "Ridge (C3)"]


def test_clear_all_filters_empties_the_url_in_one_go(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Last 30 days", region=["South"], route=["IV"])
    at.button(key="clear_filters_sidebar").click().run()
    assert not any(k in at.query_params for k in ("period", "region", "route"))
    assert at.selectbox(key="period").value == "90d"
    assert at.multiselect(key="region").value == []


def test_back_sets_the_controls_from_the_url(app_at, demo_like_db):
    """Back/Forward change the URL outside a run: the URL wins over what the widgets held."""
    at = app_at(demo_like_db, period="Last 30 days")
    at.selectbox(key="period").set_value("ytd").run()
    assert _query(at)["period"] == ["Year to date"]
    at.query_params["period"] = "Last 30 days"  # what the browser's Back restores
    at.run()
    assert at.selectbox(key="period").value == "30d"


def test_an_unknown_url_value_falls_back_to_the_default(app_at, demo_like_db):
    at = app_at(demo_like_db, period="<script>", region=["Atlantis", "North"], clinics=["NOPE (C9)"])
    assert not at.exception
    assert at.selectbox(key="period").value == "90d"
    assert at.multiselect(key="region").value == ["North"]
    # the viewer is told once what was ignored, the values escaped as text
    [toast] = [t.value for t in at.toast]
    assert "period = <script>" in toast.replace("\\", "")
    assert "Atlantis" in toast and "NOPE" in toast and "North" not in toast
    assert "region" in at.query_params and "period" not in at.query_params
    at.run()  # the next run reads nothing bad: no notice again
    assert len(at.toast) == 0


def test_a_link_with_good_values_shows_no_notice(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Last month", region=["North"])
    assert len(at.toast) == 0


def test_custom_range_round_trips(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Custom range", range=["2000-01-01", "2000-01-05"])
    # clamped into the data's dates: both ends before the first session become the first day
    first = sql_value(demo_like_db, "SELECT min(CAST(scheduled_at AS DATE)) FROM sessions")
    assert at.sidebar.text_input(key="range").value == f"{first.isoformat()} – {first.isoformat()}"
    assert _query(at)["range"] == [first.isoformat(), first.isoformat()]


def test_a_typed_custom_range_applies_and_goes_to_the_url(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Custom range")
    last = sql_value(demo_like_db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    start, end = last - timedelta(days=40), last - timedelta(days=10)
    # typed end first, with a plain hyphen: applied in order, and the box shows it tidied
    at.sidebar.text_input(key="range").input(f"{end.isoformat()}-{start.isoformat()}").run()
    assert not at.exception
    assert _query(at)["range"] == [start.isoformat(), end.isoformat()]
    assert at.sidebar.text_input(key="range").value == f"{start.isoformat()} – {end.isoformat()}"
    assert f"{start:%d %b %Y} – {end:%d %b %Y}" in texts(at)


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("last week", "Type the first and last day as YYYY-MM-DD – YYYY-MM-DD."),
        ("2026-02-30", "is not a date"),
    ],
)
def test_a_range_that_does_not_parse_says_what_to_type_and_keeps_the_last_one(
    app_at, demo_like_db, typed, says
):
    last = sql_value(demo_like_db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    start, end = last - timedelta(days=20), last - timedelta(days=5)
    at = app_at(demo_like_db, period="Custom range", range=[start.isoformat(), end.isoformat()])
    at.sidebar.text_input(key="range").input(typed).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.sidebar.error)
    assert says in errors and f"Showing {start.isoformat()} – {end.isoformat()}." in errors
    assert _query(at)["range"] == [start.isoformat(), end.isoformat()]
    assert f"{start:%d %b %Y} – {end:%d %b %Y}" in texts(at)


def test_safety_breakdown_and_u_chart_clinic_survive_a_tab_switch_and_a_reload(app_at, demo_like_db):
    at = app_at(demo_like_db, page="views/safety.py", ae_by="Category")
    assert at.selectbox(key="ae_by").value == "category"
    at.selectbox(key="ae_by").set_value("route").run()
    at.query_params["safety_view"] = "Clinics and trend"  # another tab: the breakdown is not drawn
    at.run()
    at.selectbox(key="ae_u_clinic").set_value("C1").run()
    q = _query(at)
    assert q["ae_by"] == ["Route"]  # kept while its tab is closed
    assert q["ae_u_clinic"] == ["C1"]
    again = app_at(demo_like_db, page="views/safety.py", **q)  # a reload of that URL
    assert again.selectbox(key="ae_u_clinic").value == "C1"
    again.query_params["safety_view"] = "Rates"
    again.run()
    assert again.selectbox(key="ae_by").value == "route"


def test_a_page_switch_keeps_the_filters_the_frontend_drops(app_at, demo_like_db):
    """Streamlit's frontend sends a page switch without the parameters of unbound widgets."""
    at = app_at(demo_like_db, period="Last 30 days", region=["North"])
    at.query_params.clear()
    at.switch_page("views/throughput.py").run()
    assert at.selectbox(key="period").value == "30d"
    assert _query(at)["period"] == ["Last 30 days"] and _query(at)["region"] == ["North"]
    # Back onto the bare entry of the switch: still the same view, not the defaults
    at.query_params.clear()
    at.run()
    assert at.selectbox(key="period").value == "30d"


def test_a_page_without_filters_keeps_them_for_the_next_page(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Last 30 days", route=["IV"])
    at.query_params.clear()  # the frontend's page switch
    at.switch_page("views/data.py").run()
    assert _query(at)["period"] == ["Last 30 days"]  # still in the URL on the Data page
    at.switch_page("views/overview.py").run()
    assert at.selectbox(key="period").value == "30d"
    assert at.multiselect(key="route").value == ["iv"]


def test_filters_of_a_reloaded_page_without_them_reach_the_next_page(monkeypatch, demo_like_db):
    """A session that starts on the Data page (a reload there) never drew the filters."""
    monkeypatch.setenv("KETAOPS_DB", str(demo_like_db))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update({"period": "Year to date"})
    at.switch_page("views/data.py").run()
    assert not at.exception
    assert _query(at)["period"] == ["Year to date"]
    at.query_params.clear()  # the frontend's page switch
    at.switch_page("views/throughput.py").run()
    assert at.selectbox(key="period").value == "ytd"


def test_an_unknown_clinic_in_the_clinic_link_is_named_and_dropped_from_the_url(app_at, demo_like_db):
    """/clinic?clinic=UNKNOWN shows the default clinic under its own URL, and says what it ignored."""
    at = app_at(demo_like_db, page="views/clinic.py")
    at.query_params["clinic"] = "UNKNOWN"
    at.run()
    assert not at.exception
    assert any("clinic = UNKNOWN" in t.value for t in at.toast)
    assert "clinic" not in at.query_params  # the default clinic: no parameter naming another
