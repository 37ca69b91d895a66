"""AppTest of the Safety page: renders, funnel target, line-list filters against direct SQL, downloads, URL.

The database is the shared demo-like one (tests/dashboard/conftest.py) copied and
varied with plain SQL so every line-list filter has something to narrow: actions,
outcomes (some missing), descriptions (one with a literal "%"), AEs without a
session. Every expected count below is a SQL count written here, never a call
to the code under test.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import chart_specs, texts

PAGE = "views/safety.py"
LIST = {"safety_view": "Line list"}


pytestmark = pytest.mark.usefixtures("fresh_caches")


@pytest.fixture(scope="module")
def safety_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo-like database with varied AE attributes (deterministic, by AE order)."""
    from tests.dashboard.conftest import build_demo_like_db

    db = build_demo_like_db(tmp_path_factory.mktemp("safety") / "ketaops.duckdb")
    con = duckdb.connect(str(db))
    try:
        con.execute(
            """
            UPDATE adverse_events a SET
                action_taken = v.action, outcome = v.outcome, description = v.description,
                category = v.new_category
            FROM (
                SELECT ae_id,
                    ['none', 'monitored', 'infusion_paused', 'medication_given',
                     'infusion_stopped'][1 + i % 5] AS action,
                    CASE WHEN i % 7 = 0 THEN NULL
                         ELSE ['resolved', 'resolving', 'unknown', 'not_resolved'][1 + i % 4] END AS outcome,
                    CASE i % 6 WHEN 0 THEN 'BP peaked at 185/112 mmHg'
                               WHEN 1 THEN 'Mild headache after infusion'
                               WHEN 2 THEN 'Dissociation for 50% of the infusion'
                               WHEN 3 THEN NULL
                               ELSE 'Nausea, settled in recovery' END AS description,
                    CASE WHEN i % 9 = 0 THEN 'headache' ELSE old_category END AS new_category
                FROM (SELECT ae_id, category AS old_category, row_number() OVER (ORDER BY ae_id) AS i
                      FROM adverse_events)
            ) v
            WHERE a.ae_id = v.ae_id
            """
        )
        # protocol deviations: every 10th administered iv session 1.2 mg/kg, every 15th 150 minutes long
        con.execute(
            """
            UPDATE sessions s SET
                dose_mg = CASE WHEN v.i % 10 = 0 THEN round(s.weight_kg * 1.2, 1) ELSE s.dose_mg END,
                dose_mg_per_kg = CASE WHEN v.i % 10 = 0
                                      THEN round(round(s.weight_kg * 1.2, 1) / s.weight_kg, 3)
                                      ELSE s.dose_mg_per_kg END,
                duration_min = CASE WHEN v.i % 15 = 0 THEN 150 ELSE s.duration_min END
            FROM (SELECT session_id, row_number() OVER (ORDER BY session_id) AS i FROM sessions
                  WHERE route = 'iv' AND status IN ('completed', 'stopped_early')) v
            WHERE s.session_id = v.session_id
            """
        )
        # three AEs recorded without a session (phone follow-up), one a day for the last three days
        con.execute(
            """
            INSERT INTO adverse_events (ae_id, patient_key, clinic_id, session_id, onset_at, category,
                                        severity_grade, serious, action_taken, outcome, description)
            SELECT 'AE-NS-' || i, patient_key, clinic_id, NULL, scheduled_at + INTERVAL 1 DAY, 'headache', 1,
                   false, 'none', NULL, 'Phone follow-up: headache next day'
            FROM (SELECT *, row_number() OVER (ORDER BY session_id) AS i FROM sessions
                  WHERE status = 'completed' ORDER BY scheduled_at DESC LIMIT 3)
            """
        )
    finally:
        con.close()
    return db


def sql(db: Path, query: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def window(db: Path) -> tuple[date, date]:
    """A 200-day custom period ending on the data's last date."""
    (last,) = sql(db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")[0]
    return last - timedelta(days=199), last


def open_page(app_at: Callable[..., AppTest], db: Path, **query: str | list[str]) -> AppTest:
    start, end = window(db)
    params = {"period": "Custom range", "range": [start.isoformat(), end.isoformat()], **query}
    at = app_at(db, page=PAGE, **params)
    assert not at.exception, at.exception
    return at


def expected_ids(db: Path, where: str = "TRUE", params: list | None = None) -> set[str]:
    """AE ids in the window, with the joins a filter may need, by a direct SQL query."""
    start, end = window(db)
    rows = sql(
        db,
        f"""SELECT a.ae_id FROM adverse_events a
            JOIN clinics c ON c.clinic_id = a.clinic_id
            JOIN patients p ON p.patient_key = a.patient_key
            LEFT JOIN sessions s ON s.session_id = a.session_id
            WHERE CAST(a.onset_at AS DATE) BETWEEN ? AND ? AND ({where})""",
        [start, end, *(params or [])],
    )
    return {r[0] for r in rows}


def shown_count(at: AppTest) -> int:
    """The 'N adverse event(s) match' line of the line list."""
    match = re.search(r"\*\*([\d,]+) adverse event\(s\) match\*\*", texts(at))
    assert match, texts(at)
    return int(match.group(1).replace(",", ""))


def table_ids(at: AppTest) -> set[str]:
    frames = [
        d.value for d in at.dataframe if "ae_id" in d.value.columns and "clinic_name" in d.value.columns
    ]
    assert len(frames) == 1
    return set(frames[0]["ae_id"])


# --- renders ------------------------------------------------------------------------------------

TABS = ("Rates", "Clinics and trend", "Excursions", "Protocol deviations", "Serious AEs", "Line list")


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_renders_on_a_demo_like_database(app_at, safety_db, tab):
    at = open_page(app_at, safety_db, safety_view=tab)
    assert at.title[0].value == "Safety"
    labels = {m.label for m in at.metric}
    assert {"AEs per 100 sessions", "Serious AEs", "Protocol deviations"} <= labels
    if tab in ("Rates", "Clinics and trend"):
        assert chart_specs(at), "a chart is drawn"
    else:
        assert at.dataframe, "a table is shown"


def test_absent_database_shows_how_to_create_one(app_at, absent_db):
    at = app_at(absent_db, page=PAGE)
    assert not at.exception
    assert "No database yet" in texts(at)
    assert not at.get("plotly_chart")


def test_database_without_sessions_says_so(app_at, empty_db):
    at = app_at(empty_db, page=PAGE)
    assert not at.exception
    assert "no sessions yet" in texts(at)
    assert not at.metric


def test_headline_rate_and_serious_count_equal_direct_sql(app_at, safety_db):
    at = open_page(app_at, safety_db)
    start, end = window(safety_db)
    ((aes, serious),) = sql(
        safety_db,
        "SELECT count(*), count(*) FILTER (WHERE serious) FROM adverse_events "
        "WHERE CAST(onset_at AS DATE) BETWEEN ? AND ?",
        [start, end],
    )
    ((sessions,),) = sql(
        safety_db,
        "SELECT count(*) FROM sessions WHERE status IN ('completed', 'stopped_early') "
        "AND CAST(scheduled_at AS DATE) BETWEEN ? AND ?",
        [start, end],
    )
    values = {m.label: m.value for m in at.metric}
    assert values["Adverse events"] == f"{aes:,}"
    assert values["Serious AEs"] == f"{serious:,}"
    assert values["AEs per 100 sessions"] == f"{100 * aes / sessions:.2f}"


def test_funnel_target_is_the_whole_network_even_with_one_clinic_picked(app_at, safety_db):
    at = open_page(app_at, safety_db, safety_view="Clinics and trend", clinics=["Harbor (C1)"])
    start, end = window(safety_db)
    # the network in the viewer's scope: every clinic, not only Harbor
    ((aes,),) = sql(
        safety_db,
        "SELECT count(*) FROM adverse_events WHERE CAST(onset_at AS DATE) BETWEEN ? AND ?",
        [start, end],
    )
    ((sessions,),) = sql(
        safety_db,
        "SELECT count(*) FROM sessions WHERE status IN ('completed', 'stopped_early') "
        "AND CAST(scheduled_at AS DATE) BETWEEN ? AND ?",
        [start, end],
    )
    funnel = next(s for s in chart_specs(at) if "against the network" in s["layout"]["title"]["text"])
    target = [sh["y0"] for sh in funnel["layout"]["shapes"] if sh["y0"] == sh["y1"]]
    assert len(target) == 1
    assert target[0] == pytest.approx(100 * aes / sessions)
    # every clinic with sessions is a point (C4 has none); Harbor, the pick, is also ringed and named
    dots = [t for t in funnel["data"] if t.get("mode") == "markers+text" and t["name"] != "your selection"]
    assert {c[0] for t in dots for c in t["customdata"]} == {"Harbor", "Elm Street", "Ridge"}
    (ring,) = [t for t in funnel["data"] if t["name"] == "your selection"]
    assert ring["text"] == ["Harbor"]


def test_overdispersion_toggle_says_which_limits_are_drawn(app_at, safety_db):
    at = open_page(app_at, safety_db, safety_view="Clinics and trend")
    title = next(t for t in (s["layout"]["title"]["text"] for s in chart_specs(at)) if "against" in t)
    assert "exact Poisson limits, no over-dispersion adjustment" in title
    at.toggle(key="ae_overdispersion").set_value(True).run()
    title = next(t for t in (s["layout"]["title"]["text"] for s in chart_specs(at)) if "against" in t)
    # the small fixture network is not over-dispersed (τ² = 0), and the chart says so
    assert "over-dispersion adjusted limits" in title or "switched on, but τ² = 0" in title


# --- line list: each filter narrows the list as SQL says --------------------------------------

FILTERS: list[tuple[dict[str, str | list[str]], str, list]] = [
    ({"ae_category": ["Headache"]}, "a.category = 'headache'", []),
    ({"ae_grade": ["3 severe"]}, "a.severity_grade = 3", []),
    ({"ae_serious": "Serious only"}, "a.serious", []),
    ({"ae_serious": "Not serious only"}, "NOT a.serious", []),
    (
        {"ae_action": ["Monitored", "Medication given"]},
        "a.action_taken IN ('monitored', 'medication_given')",
        [],
    ),
    ({"ae_outcome": ["Unknown"]}, "a.outcome IS NULL OR a.outcome = 'unknown'", []),
    ({"ae_dose": ["0.50-<0.75"]}, "s.dose_mg_per_kg >= 0.5 AND s.dose_mg_per_kg < 0.75", []),
    ({"ae_dose": ["not weight-based"]}, "s.session_id IS NOT NULL AND s.dose_mg_per_kg IS NULL", []),
    ({"ae_session": ["first three (1-3)"]}, "s.session_number <= 3", []),
    ({"ae_session": ["no session"]}, "a.session_id IS NULL", []),
    ({"ae_q": "185/112"}, "a.description LIKE '%185/112%'", []),
    # "%" is a literal character in the search, not a wildcard
    ({"ae_q": "50%"}, "strpos(a.description, '50%') > 0", []),
    ({"ae_q": "HEADACHE"}, "lower(a.description) LIKE '%headache%'", []),
    ({"clinics": ["Harbor (C1)"]}, "a.clinic_id = 'C1'", []),
    ({"region": ["South"]}, "c.region = 'South'", []),
    ({"condition": ["PTSD"]}, "p.primary_condition = 'ptsd'", []),
    ({"route": ["IV"]}, "s.route = 'iv'", []),
    ({"modality": ["KAP"]}, "s.modality = 'kap'", []),
    (
        {"ae_category": ["Headache"], "ae_q": "headache", "clinics": ["Harbor (C1)", "Ridge (C3)"]},
        "a.category = 'headache' AND lower(a.description) LIKE '%headache%' AND a.clinic_id IN ('C1', 'C3')",
        [],
    ),
]


@pytest.mark.parametrize(("query", "where", "params"), FILTERS, ids=[str(q) for q, _, _ in FILTERS])
def test_each_filter_narrows_the_line_list_as_sql_says(app_at, safety_db, query, where, params):
    everything = expected_ids(safety_db)
    expected = expected_ids(safety_db, where, params)
    assert 0 < len(expected) < len(everything), "the fixture must make this filter narrow the list"
    at = open_page(app_at, safety_db, **LIST, **query)
    assert shown_count(at) == len(expected)
    assert table_ids(at) == expected


def test_whole_scope_is_listed_without_filters(app_at, safety_db):
    at = open_page(app_at, safety_db, **LIST)
    expected = expected_ids(safety_db)
    assert shown_count(at) == len(expected)
    assert table_ids(at) == expected


# --- downloads -----------------------------------------------------------------------------------


def test_csv_download_holds_exactly_the_shown_rows_after_a_header_block(app_at, safety_db, deferred):
    at = open_page(app_at, safety_db, **LIST, ae_category=["Headache"], region=["North"])
    csv_name = next(n for n in deferred if n.endswith(".csv"))
    data = deferred[csv_name]()
    text = data.decode("utf-8")
    header = [line for line in text.splitlines() if line.startswith("# ")]
    assert header[0] == "# KetaOps adverse-event line list"
    start, end = window(safety_db)
    assert f"# period: {start:%Y-%m-%d} to {end:%Y-%m-%d}" in header
    assert "# region: North" in header and "# category: headache" in header
    (newest,) = sql(safety_db, "SELECT max(newest_data_date) FROM clinic_freshness")[0]
    assert f"# data as of: {newest:%Y-%m-%d}" in header
    rows = pl.read_csv(io.BytesIO(data), comment_prefix="#")
    assert f"# rows: {rows.height}" in header
    assert rows.height == shown_count(at)
    assert (
        set(rows["ae_id"])
        == table_ids(at)
        == expected_ids(safety_db, "a.category = 'headache' AND c.region = 'North'")
    )


def test_excel_download_has_the_header_rows_then_every_row(app_at, safety_db, deferred):
    at = open_page(app_at, safety_db, **LIST, ae_serious="Serious only")
    xlsx = deferred[next(n for n in deferred if n.endswith(".xlsx"))]()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    strings = set(re.findall(r"<t[^>]*>([^<]*)</t>", sheet))  # inline strings (constant_memory mode)
    rows = re.findall(r'<row r="(\d+)"', sheet)
    # title + 16 filter lines (the review status last) + 2 rounding lines (mg/kg rounded; dose and
    # weight at full precision) + "rows" line (rows 1–20), a blank row 21, the column names, one row per AE
    expected = expected_ids(safety_db, "a.serious")
    assert shown_count(at) == len(expected)
    assert len(rows) == 20 + 1 + len(expected)
    assert rows[20] == "22"
    assert {
        "KetaOps adverse-event line list",
        "data as of",
        "period",
        "serious",
        "review status",
        "rounded to 3 decimals (mg/kg)",
        "ae_id",
    } <= strings
    assert expected <= strings  # every serious AE's id is in the workbook


def test_download_is_disabled_when_nothing_matches(app_at, safety_db):
    at = open_page(app_at, safety_db, **LIST, ae_q="no such words anywhere")
    assert shown_count(at) == 0
    assert all(b.proto.disabled for b in at.get("download_button"))


# --- URL ---------------------------------------------------------------------------------------


def test_filters_set_in_the_page_go_to_the_url_and_back(app_at, safety_db):
    at = open_page(app_at, safety_db, **LIST)
    at.multiselect(key="ae_category").select("headache").run()
    at.selectbox(key="ae_serious").set_value("not_serious").run()
    at.text_input(key="ae_q").input("headache").run()
    count, ids = shown_count(at), table_ids(at)
    assert count == len(
        expected_ids(
            safety_db, "a.category = 'headache' AND NOT a.serious AND lower(a.description) LIKE '%headache%'"
        )
    )
    # The URL a browser would show for these widget values (AppTest does not write bound widgets into
    # at.query_params; tests/e2e/test_safety.py checks that in Chromium). Opening it gives the same list,
    # and the parameters stay in the URL.
    url = {**LIST, "ae_category": "Headache", "ae_serious": "Not serious only", "ae_q": "headache"}
    start, end = window(safety_db)
    again = app_at(
        safety_db, page=PAGE, period="Custom range", range=[start.isoformat(), end.isoformat()], **url
    )
    assert not again.exception
    assert again.multiselect(key="ae_category").value == ["headache"]
    assert again.selectbox(key="ae_serious").value == "not_serious"
    assert again.text_input(key="ae_q").value == "headache"
    assert shown_count(again) == count and table_ids(again) == ids
    assert {k: again.query_params[k] for k in url} == url


def test_selecting_a_row_shows_the_event_and_the_patients_course(app_at, safety_db):
    at = open_page(app_at, safety_db, **LIST, ae_q="185/112")
    first = next(d for d in at.dataframe if "ae_id" in d.value.columns).value.iloc[0]
    # AppTest cannot click a row: write the selection state the click would send
    at.session_state["ae_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    shown = texts(at)
    # ids are export values: shown as escaped markdown text (a "-" escaped), not as code spans
    assert first["ae_id"].replace("-", "\\-") in shown
    ((session_id, dose, duration, patient),) = sql(
        safety_db,
        "SELECT s.session_id, s.dose_mg, s.duration_min, a.patient_key FROM adverse_events a "
        "JOIN sessions s ON s.session_id = a.session_id WHERE a.ae_id = ?",
        [first["ae_id"]],
    )
    assert session_id.replace("-", "\\-") in shown
    assert f"dose {dose:g} mg" in shown and f"duration {duration} min" in shown
    # the patient's other sessions and events: every one of them, any date (all clinics are visible)
    ((n_sessions,),) = sql(safety_db, "SELECT count(*) FROM sessions WHERE patient_key = ?", [patient])
    ((n_events,),) = sql(safety_db, "SELECT count(*) FROM adverse_events WHERE patient_key = ?", [patient])
    assert f"{n_sessions} session(s), {n_events} adverse event(s)" in shown
    history = [
        d.value for d in at.dataframe if "scheduled_at" in d.value.columns and "ae_count" in d.value.columns
    ]
    assert len(history) == 1 and len(history[0]) == n_sessions
    assert list(history[0].loc[history[0]["this"] == "●", "scheduled_at"].index) != []


def test_a_long_list_shows_the_newest_rows_and_downloads_all_of_them(
    app_at, safety_db, deferred, monkeypatch: pytest.MonkeyPatch
):
    # the real cap is 5,000 rows; a cap of 10 shows the same behaviour on the small fixture
    from dashboard.components import line_list

    monkeypatch.setattr(line_list, "MAX_TABLE_ROWS", 10)
    at = open_page(app_at, safety_db, **LIST)
    everything = expected_ids(safety_db)
    assert len(everything) > 10
    warning = "\n".join(w.value for w in at.warning)
    assert f"{len(everything):,} adverse events match" in warning and "newest 10" in warning
    (frame,) = [d.value for d in at.dataframe if "ae_id" in d.value.columns]
    assert len(frame) == 10
    # the newest ten by onset (ties by id), counted directly
    start, end = window(safety_db)
    newest = sql(
        safety_db,
        "SELECT ae_id FROM adverse_events WHERE CAST(onset_at AS DATE) BETWEEN ? AND ? "
        "ORDER BY onset_at DESC, ae_id LIMIT 10",
        [start, end],
    )
    assert list(frame["ae_id"]) == [r[0] for r in newest]
    csv = deferred[next(n for n in deferred if n.endswith(".csv"))]()
    assert set(pl.read_csv(io.BytesIO(csv), comment_prefix="#")["ae_id"]) == everything


def test_excel_is_offered_only_up_to_its_row_limit(app_at, safety_db, monkeypatch: pytest.MonkeyPatch):
    from dashboard import exports

    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 5)
    at = open_page(app_at, safety_db, **LIST)
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert shown_count(at) > 5
    assert buttons["Download Excel"].disabled and not buttons["Download CSV"].disabled
    with pytest.raises(ValueError, match="use the CSV"):
        exports.to_excel(pl.DataFrame({"a": list(range(6))}), title="t", header=[])


def test_csv_header_values_stay_on_one_comment_line():
    from dashboard import exports

    data = exports.to_csv(
        pl.DataFrame({"a": [1]}), title="T", header=[("description contains", "two\nlines")]
    )
    assert data.decode().splitlines()[:4] == ["# T", "# description contains: two lines", "# rows: 1", "a"]
