"""Every chart says what it shows: period, data date and scope under its title, and a file name for
the camera button's image; export text in it is escaped; the board pack's figures go without it."""

from __future__ import annotations

import html
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import chart_specs, own_title, sql_value

EVIL = '<a href="https://evil.example">Harbor</a> & <b>Co</b>'


pytestmark = pytest.mark.usefixtures("fresh_caches")


def _range(db: Path) -> tuple[date, date]:
    last = sql_value(db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    return last - timedelta(days=59), last


def _data_date(db: Path) -> date:
    """What the header calls the data's date: the newest clinic freshness date (operations.data_as_of)."""
    newest = sql_value(db, "SELECT max(newest_data_date) FROM clinic_freshness")
    return newest.date() if hasattr(newest, "date") else newest


def _configs(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.config) if el.proto.config else {} for el in at.get("plotly_chart")]


def test_every_throughput_chart_carries_the_period_scope_and_data_date(app_at, demo_like_db):
    start, end = _range(demo_like_db)
    at = app_at(
        demo_like_db,
        page="views/throughput.py",
        period="Custom range",
        range=[start.isoformat(), end.isoformat()],
        clinics=["Harbor (C1)"],
        condition="PTSD",
    )
    assert not at.exception, at.exception
    when = f"{start:%d %b %Y} – {end:%d %b %Y} · data as of {_data_date(demo_like_db):%d %b %Y}"
    specs = chart_specs(at)
    assert specs
    for spec in specs:
        title = spec["layout"]["title"]
        assert f">{when}</span>" in title["text"]
        assert ">Harbor (C1) · PTSD</span>" in title["text"]
        assert (title["yref"], title["y"], title["yanchor"]) == ("container", 1, "top")  # above the plot
    names = [c["toImageButtonOptions"]["filename"] for c in _configs(at)]
    assert len(names) == len(specs)
    assert all(
        n.startswith("ketaops-") and n.endswith(f"-{start.isoformat()}-{end.isoformat()}") for n in names
    )
    assert len(set(names)) == len(names)  # one per chart (its key)


def test_the_network_scope_is_said_in_short_form(app_at, demo_like_db):
    at = app_at(demo_like_db, page="views/throughput.py")
    assert not at.exception, at.exception
    clinics = sql_value(demo_like_db, "SELECT count(*) FROM clinics")
    assert all(f">network, {clinics} clinics</span>" in s["layout"]["title"]["text"] for s in chart_specs(at))


def test_a_clinic_name_with_markup_is_text_in_the_context_line(app_at, demo_like_db, tmp_path: Path):
    db = tmp_path / "ketaops.duckdb"
    shutil.copy(demo_like_db, db)
    con = duckdb.connect(str(db))
    try:
        con.execute("UPDATE clinics SET clinic_name = ? WHERE clinic_id = 'C1'", [EVIL])
    finally:
        con.close()
    at = app_at(db, page="views/throughput.py", clinics=[f"{EVIL} (C1)"])
    assert not at.exception, at.exception
    escaped = html.escape(EVIL, quote=False)
    titles = [s["layout"]["title"]["text"] for s in chart_specs(at)]
    assert titles
    for title in titles:
        assert f">{escaped} (C1)</span>" in title
        assert "<a " not in title and "<b>" not in title


def test_the_board_packs_figures_carry_no_context_line(demo_like_db, monkeypatch):
    """The pack prints its own period and scope above each figure; its Kaleido images skip the line."""
    from dashboard.boardpack.content import Month, gather
    from dashboard.boardpack.figures import board_figures
    from dashboard.db import connect
    from pipelines.model.config import MetricConfig

    last = sql_value(demo_like_db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    month = Month.of(last).shift(-1)
    with connect(demo_like_db) as con:
        data = gather(con, month, ("C1", "C2", "C3", "C4"), MetricConfig())
    figures = [f for f in board_figures(data).values() if f is not None]
    assert figures
    for fig in figures:
        assert "data as of" not in (fig.layout.title.text or "")
        assert "<span" not in (fig.layout.title.text or "")


def test_a_long_clinic_name_is_cut_in_the_context_line():
    from dashboard.components.figure_context import NAME_CHARS, FigureContext, for_clinic
    from dashboard.metrics.filters import Filters

    long_name = "North Shore Ketamine and Interventional Psychiatry Wellness Center of Excellence"
    assert len(long_name) > NAME_CHARS
    f = Filters(start=date(2026, 9, 1), end=date(2026, 11, 30), clinic_ids=("C1",), conditions=("ptsd",))
    context = for_clinic(FigureContext((f.start, f.end), "", date(2026, 11, 30)), f, "C1", long_name)
    assert context.lines() == [
        "01 Sep 2026 – 30 Nov 2026 · data as of 30 Nov 2026",
        f"{long_name[: NAME_CHARS - 1].rstrip()}… (C1) and the network · PTSD",
    ]


def test_a_chart_of_one_clinic_picked_on_the_page_names_that_clinic(app_at, demo_like_db):
    """The sidebar selects the network; the p-chart's own picker shows one clinic: its context line
    says that clinic, the chart beside it still the network."""
    at = app_at(demo_like_db, page="views/throughput.py", throughput_view="No-shows and cancellations")
    assert not at.exception, at.exception
    picked = at.selectbox(key="pchart_clinic").value
    name = sql_value(demo_like_db, "SELECT clinic_name FROM clinics WHERE clinic_id = ?", [picked])
    clinics = sql_value(demo_like_db, "SELECT count(*) FROM clinics")
    titles = {own_title(s): s["layout"]["title"]["text"] for s in chart_specs(at)}
    pchart = next(t for k, t in titles.items() if k.startswith("No-show rate per week"))
    by_clinic = next(t for k, t in titles.items() if k.startswith("No-show and cancellation rates"))
    assert f">{name} ({picked})</span>" in pchart and "network," not in pchart
    assert f">network, {clinics} clinics</span>" in by_clinic
