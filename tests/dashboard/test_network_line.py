"""The network line on a clinic's control charts: the Safety u-chart and the Clinic page's p-chart.

The expected rates are SQL counts written here (AEs by onset week ÷ administered sessions by
scheduled week, every clinic), never a call to the code under test.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.access.test_gate import AUTH
from tests.dashboard.conftest import APP, chart_specs

SAFETY = "views/safety.py"
TREND = {"safety_view": "Clinics and trend"}
OTHERS = ("Elm Street", "Ridge", "Bayside", "C2", "C3", "C4", "Other clinic")


pytestmark = pytest.mark.usefixtures("fresh_caches")


def _sql(db: Path, query: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def network_weekly_rates(db: Path, first: date, end: date) -> dict[str, float]:
    """AEs per 100 administered sessions of every clinic in each ISO week from ``first`` to ``end``."""
    rows = _sql(
        db,
        """
        WITH n AS (SELECT CAST(date_trunc('week', CAST(scheduled_at AS DATE)) AS DATE) AS wk, count(*) AS n
                   FROM sessions WHERE status IN ('completed', 'stopped_early')
                     AND CAST(scheduled_at AS DATE) BETWEEN ? AND ? GROUP BY 1),
             k AS (SELECT CAST(date_trunc('week', CAST(onset_at AS DATE)) AS DATE) AS wk, count(*) AS k
                   FROM adverse_events WHERE CAST(onset_at AS DATE) BETWEEN ? AND ? GROUP BY 1)
        SELECT n.wk, 100.0 * coalesce(k.k, 0) / n.n FROM n LEFT JOIN k USING (wk) ORDER BY 1""",
        [first, end, first, end],
    )
    return {wk.isoformat(): rate for wk, rate in rows}


def last_date(db: Path) -> date:
    return _sql(db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")[0][0]


def u_chart_spec(at: AppTest) -> dict:
    return next(s for s in chart_specs(at) if "AEs per 100 sessions per week" in s["layout"]["title"]["text"])


def network_trace(spec: dict) -> dict | None:
    return next((t for t in spec["data"] if t.get("name") == "network"), None)


def assert_network_rates(trace: dict, db: Path) -> None:
    weeks = [x[:10] for x in trace["x"]]
    end = last_date(db)
    assert len(weeks) >= 26  # the chart's window: at least 26 weeks
    expected = network_weekly_rates(db, date.fromisoformat(weeks[0]), end)
    assert weeks == list(expected)
    assert trace["y"] == pytest.approx(list(expected.values()))


def _open(at: AppTest, **query: str) -> AppTest:
    at.query_params.update({**TREND, **query})
    at.run()
    at.switch_page(SAFETY).run()
    assert not at.exception, at.exception
    return at


def test_a_clinics_u_chart_carries_the_networks_rate_in_each_week(demo_like_db, monkeypatch):
    monkeypatch.setenv("KETAOPS_DB", str(demo_like_db))
    at = _open(AppTest.from_file(str(APP), default_timeout=60), ae_u_clinic="C1")
    spec = u_chart_spec(at)
    assert "Harbor" in spec["layout"]["title"]["text"]
    trace = network_trace(spec)
    assert trace is not None
    assert_network_rates(trace, demo_like_db)
    # distinct from the limits and the centre line, and named in the legend and the hover
    assert trace["line"]["dash"] == "dash" and trace.get("showlegend", True)
    assert "network AEs per 100 sessions" in trace["hovertemplate"]


def test_the_whole_networks_u_chart_has_no_network_line(demo_like_db, monkeypatch):
    monkeypatch.setenv("KETAOPS_DB", str(demo_like_db))
    at = _open(AppTest.from_file(str(APP), default_timeout=60))
    assert network_trace(u_chart_spec(at)) is None


def test_a_clinic_directors_u_chart_shows_the_network_rate_and_no_other_clinic(
    demo_like_db, tmp_path: Path, monkeypatch
):
    db = tmp_path / "ketaops.duckdb"
    shutil.copy(demo_like_db, db)
    (tmp_path / "access.toml").write_text(
        '[[user]]\nemail = "lead.c1@network.example"\nrole = "director"\nscope = "clinic:C1"\n'
    )
    monkeypatch.setenv("KETAOPS_DB", str(db))
    monkeypatch.delenv("KETAOPS_ACCESS", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "lead.c1@network.example"}
    at = _open(at)
    spec = u_chart_spec(at)
    trace = network_trace(spec)
    assert trace is not None  # the director's "all clinics in scope" is one clinic: not the network
    assert_network_rates(trace, db)  # every clinic's AEs and sessions, not C1's alone
    shown = json.dumps(spec)
    for other in OTHERS:
        assert other not in shown, other


def test_the_clinic_pages_no_show_chart_carries_the_network_chart_beside_it(demo_like_db, monkeypatch):
    monkeypatch.setenv("KETAOPS_DB", str(demo_like_db))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update({"clinic": "Harbor (C1)"})
    at.run()
    at.switch_page("views/clinic.py").run()
    assert not at.exception, at.exception
    specs = {s["layout"]["title"]["text"].split("<br>")[0]: s for s in chart_specs(at)}
    clinic = next(s for t, s in specs.items() if t.startswith("Harbor: no-show rate per week"))
    network = next(s for t, s in specs.items() if t.startswith("Network: no-show rate per week"))
    line = network_trace(clinic)
    assert line is not None
    # the network chart's own points: every marker of its three SPC colours, by week
    points = {
        x: y
        for t in network["data"]
        if t.get("mode") == "markers"
        for x, y in zip(t["x"], t["y"], strict=True)
    }
    assert dict(zip(line["x"], line["y"], strict=True)) == pytest.approx(points)
    assert network_trace(network) is None
    # a network the same size as the week's window: nothing left out
    assert (
        len(line["x"]) >= 26
        and min(line["x"]) <= (last_date(demo_like_db) - timedelta(days=7 * 25)).isoformat()
    )
