"""The Monitoring review list in headless Chromium: picking a failing session opens its vitals timeline.

Uses the e2e fixtures of tests/e2e/conftest.py (a small real demo network and the app on a free port).
The row is picked by clicking the grid's row marker (the table is a canvas); the session then goes
into the URL, so the timeline can be shared.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import duckdb
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Demo, wait_idle


def _has_vitals(demo: Demo, session_id: str) -> bool:
    con = duckdb.connect(str(demo.db), read_only=True)
    try:
        tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "vitals" not in tables:
            return False
        return bool(
            con.execute("SELECT count(*) FROM vitals WHERE session_id = ?", [session_id]).fetchone()[0]
        )
    finally:
        con.close()


def test_picking_a_failing_session_opens_its_vitals_timeline(page: Page, app_url: str, demo: Demo) -> None:
    rule = "Vitals complete: vitals incomplete"
    page.goto(f"{app_url}/monitoring?mon_view=Review+lists&mon_rule={rule.replace(' ', '+')}")
    wait_idle(page)
    expect(page.get_by_text(re.compile(r"session\(s\)\s+fail this rule"))).to_be_visible()
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 18)  # the first row's marker, below the header
    page.wait_for_url(re.compile(r"mon_session="), timeout=60_000)
    wait_idle(page)
    session_id = parse_qs(urlparse(page.url).query)["mon_session"][0]
    assert page.get_by_role("textbox", name="Vitals timeline of session").input_value() == session_id
    if _has_vitals(demo, session_id):
        expect(page.locator(".gtitle", has_text=f"Vitals of session {session_id}")).to_be_visible()
    else:  # a demo without contract v2 rows: the session's own columns are described instead
        expect(page.get_by_text("This session has no vitals rows")).to_be_visible()
