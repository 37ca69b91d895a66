"""Every page in headless Chromium on a small real demo network: no exception, key charts, URL-bound filters.

Page loads are expensive (Plotly renders in software), so one journey test walks
Overview → league click → Clinic → filter change → Data → reload, checking each
page on the way. Screenshots land in test-artifacts/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import unquote_plus

import duckdb
import pytest
from playwright.sync_api import Page, expect

from dashboard.components.navigation import available_pages
from tests.e2e.conftest import NAV, Demo, wait_idle

MINE = {"overview", "throughput", "clinic", "data"}  # checked in detail below; other pages: render + a chart
OWN_TEST = {"reviews"}  # no chart; tests/e2e/test_reviews.py walks it


def _sql(db: Path, query: str, params: list[object] | None = None) -> object:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, params or []).fetchone()[0]
    finally:
        con.close()


def _clinic_name(demo: Demo, clinic_id: str) -> str:
    return str(_sql(demo.db, "SELECT clinic_name FROM clinics WHERE clinic_id = ?", [clinic_id]))


def _open(page: Page, url: str) -> None:
    page.goto(url)
    wait_idle(page)


def _check(page: Page, min_charts: int, shot: Path) -> None:
    """No exception element, at least ``min_charts`` Plotly charts, and a full-page screenshot."""
    assert page.locator('[data-testid="stException"]').count() == 0
    expect(page.locator('[data-testid="stPlotlyChart"]').nth(min_charts - 1)).to_be_attached(timeout=60_000)
    page.screenshot(path=str(shot), full_page=True)


def test_deep_link_opened_first_goes_through_the_app_shell(page: Page, app_url: str, demo: Demo, artifacts):
    """Runs first on a fresh server: the page folder must not put Streamlit in its legacy file-list mode."""
    _open(page, f"{app_url}/throughput?period=Last+12+months&throughput_view=No-shows+and+cancellations")
    nav = page.locator(NAV)
    expect(nav).to_contain_text("Overview")
    expect(nav).not_to_contain_text("app")
    expect(page.locator("h1")).to_contain_text("Throughput")
    # the demo's no-show shift clinic is what the p-chart opens on
    shift = _clinic_name(demo, demo.role("no_show_shift"))
    expect(page.get_by_text(f"No-show rate per week: {shift}")).to_be_visible()
    _check(page, 2, artifacts / "e2e-throughput.png")  # only the open tab's charts are drawn


def test_journey_overview_clinic_filters_data(page: Page, app_url: str, demo: Demo, artifacts: Path):
    _open(page, app_url)
    expect(page.locator("h1")).to_contain_text("Network overview")
    _check(page, 4, artifacts / "e2e-overview.png")

    # clicking a league row opens that clinic (the grid is a canvas: click the first row's selection cell)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
    page.wait_for_url(re.compile(r"/clinic\?.*clinic="))
    wait_idle(page)
    # flagged clinics open the table, so the first row is the clinic the URL names
    opened = page.locator("h1").first.inner_text()
    assert opened == _clinic_name(demo, re.search(r"\(([^)]+)\)", unquote_plus(page.url)).group(1))
    _check(page, 16, artifacts / "e2e-clinic.png")

    # a sidebar filter goes into the URL …
    page.get_by_role("combobox", name="Period").click()
    page.get_by_role("option", name="Last 30 days").click()
    page.wait_for_url(re.compile(r"period=Last\+30\+days"))
    wait_idle(page)
    assert "clinic=" in page.url

    # … survives a page switch and a reload
    nav = page.locator(NAV)
    nav.get_by_role("link", name="Throughput", exact=True).click()
    page.wait_for_url(re.compile(r"/throughput\?.*period=Last\+30\+days"))
    wait_idle(page)
    page.reload()
    wait_idle(page)
    assert "period=Last+30+days" in page.url  # the Data page has no filters but keeps them

    # the Data page shows no filters that do not apply to it
    nav.get_by_role("link", name="Data", exact=True).click()
    page.wait_for_url(re.compile(r"/data"))
    wait_idle(page)
    expect(page.get_by_role("heading", name="Data").first).to_be_visible()
    expect(page.get_by_role("combobox", name="Period")).to_have_count(0)

    # the Data page flags the silent clinic and downloads exactly the rejected rows
    silent = demo.role("silent")
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="clinic(s) stale").first).to_contain_text(
        silent
    )
    _check(page, 1, artifacts / "e2e-data.png")
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("Download rejected rows")).click()
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    assert len(rows) == _sql(demo.db, "SELECT count(*) FROM rejected_rows") > 0

    # … and the next page still has them
    page.locator(NAV).get_by_role("link", name="Throughput", exact=True).click()
    page.wait_for_url(re.compile(r"/throughput\?.*period=Last\+30\+days"))
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Period")).to_have_value("Last 30 days")


@pytest.mark.parametrize(
    "spec", [s for s in available_pages() if s.url_path not in MINE | OWN_TEST], ids=lambda s: s.url_path
)
def test_other_pages_render(page: Page, app_url: str, artifacts: Path, spec):
    _open(page, f"{app_url}/{spec.url_path}")
    _check(page, 1, artifacts / f"e2e-{spec.url_path}.png")
