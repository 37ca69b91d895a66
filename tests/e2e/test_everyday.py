"""Everyday use in the browser: one history entry per user action (a page switch too), Back
restores the view, the default page answers on its own path, presets apply, the region picker
takes the typed region."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import duckdb
from playwright.sync_api import Page, expect

from tests.e2e.conftest import NAV, wait_idle


def _history(page: Page) -> int:
    return int(page.evaluate("window.history.length"))


def _pick(page: Page, box: str, option: str) -> None:
    page.get_by_role("combobox", name=box).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def test_each_action_is_one_history_entry_and_back_restores_it(page: Page, app_url: str, artifacts: Path):
    page.goto(app_url)
    wait_idle(page)
    start = _history(page)
    _pick(page, "Period", "Last month")
    page.wait_for_url(re.compile(r"period=Last\+month"))
    assert _history(page) == start + 1
    _pick(page, "Compare with", "Same period last year")
    page.wait_for_url(re.compile(r"compare="))
    assert _history(page) == start + 2
    expect(page.get_by_text("vs last year").first).to_be_visible()
    page.get_by_role("button", name="Clear all filters").first.click()
    page.wait_for_url(lambda url: "period=" not in url)
    wait_idle(page)
    assert _history(page) == start + 3  # one entry for the whole reset
    assert "period=" not in page.url and "compare=" not in page.url
    page.go_back()
    page.wait_for_url(re.compile(r"compare="))
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Period")).to_have_value("Last month")
    expect(page.get_by_role("combobox", name="Compare with")).to_have_value("Same period last year")
    page.go_back()
    page.wait_for_url(lambda url: "compare=" not in url)
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Compare with")).to_have_value("Previous period")
    expect(page.get_by_role("combobox", name="Period")).to_have_value("Last month")


def _switch(page: Page, title: str, path: str) -> None:
    page.locator(NAV).get_by_role("link", name=title, exact=True).click()
    page.wait_for_url(re.compile(rf"/{path}\?"))
    wait_idle(page)


def _showing(page: Page, heading: str, period: str) -> None:
    expect(page.locator("h1").first).to_contain_text(heading)
    expect(page.get_by_role("combobox", name="Period")).to_have_value(period)


def test_a_page_switch_is_one_history_entry_and_back_returns_with_its_filters(page: Page, app_url: str):
    page.goto(app_url)
    wait_idle(page)
    _pick(page, "Period", "Last month")
    page.wait_for_url(re.compile(r"period=Last\+month"))
    start = _history(page)
    # the links carry the view: a link opened in a new tab keeps it too
    href = page.locator(NAV).get_by_role("link", name="Safety", exact=True).get_attribute("href")
    assert href is not None and "period=Last+month" in href
    _switch(page, "Safety", "safety")
    assert "period=Last+month" in page.url
    assert _history(page) == start + 1
    _pick(page, "Period", "Last 30 days")
    page.wait_for_url(re.compile(r"period=Last\+30\+days"))
    assert _history(page) == start + 2
    _switch(page, "Throughput", "throughput")
    assert "period=Last+30+days" in page.url
    assert _history(page) == start + 3
    _showing(page, "Throughput", "Last 30 days")

    page.go_back()
    page.wait_for_url(re.compile(r"/safety\?.*period=Last\+30\+days"))
    wait_idle(page)
    _showing(page, "Safety", "Last 30 days")
    page.go_back()
    page.wait_for_url(re.compile(r"/safety\?.*period=Last\+month"))
    wait_idle(page)
    _showing(page, "Safety", "Last month")
    page.go_back()
    page.wait_for_url(lambda url: "/safety" not in url and "period=Last+month" in url)
    wait_idle(page)
    _showing(page, "Network overview", "Last month")
    assert _history(page) == start + 3  # Back moved through the entries, added none


def test_default_page_answers_on_its_own_path(page: Page, app_url: str):
    page.goto(f"{app_url}/overview?period=This+quarter")
    wait_idle(page)
    expect(page.locator("h1")).to_contain_text("Network overview")
    assert page.get_by_text("Page not found").count() == 0
    expect(page.get_by_role("combobox", name="Period")).to_have_value("This quarter")


def test_typing_a_region_and_enter_picks_that_region_only(page: Page, app_url: str, demo):
    page.goto(app_url)
    wait_idle(page)
    con = duckdb.connect(str(demo.db), read_only=True)
    try:
        regions = [
            r for (r,) in con.execute("SELECT DISTINCT region FROM clinics ORDER BY region").fetchall()
        ]
    finally:
        con.close()
    # the shortest name: the one most likely to be part of others (West in Midwest and Southwest)
    region = min(regions, key=len)
    page.locator('[data-testid="stMultiSelect"]').filter(has_text="Region").click()
    page.keyboard.type(region)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"region="))
    wait_idle(page)
    assert page.url.count("region=") == 1
    assert f"region={region.replace(' ', '+')}" in page.url


def test_a_typed_custom_range_applies_on_enter(page: Page, app_url: str, demo, artifacts: Path):
    con = duckdb.connect(str(demo.db), read_only=True)
    try:
        (last,) = con.execute("SELECT max(CAST(scheduled_at AS DATE)) FROM sessions").fetchone()
    finally:
        con.close()
    start, end = last - timedelta(days=45), last - timedelta(days=15)
    page.goto(f"{app_url}/throughput?period=Custom+range")
    wait_idle(page)
    before = _history(page)
    box = page.get_by_role("textbox", name="Date range")
    box.fill(f"{start.isoformat()} – {end.isoformat()}")
    box.press("Enter")  # no click elsewhere: Enter alone applies it
    page.wait_for_url(re.compile(rf"range={start.isoformat()}&range={end.isoformat()}"))
    wait_idle(page)
    assert _history(page) == before + 1  # one entry for the one action
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text(f"{start:%d %b %Y} – {end:%d %b %Y}.")).to_be_visible()
    expect(page.locator("h1")).to_contain_text("Throughput")
    expect(box).to_have_value(f"{start.isoformat()} – {end.isoformat()}")
    page.screenshot(path=str(artifacts / "custom-range-on-enter.png"))
    # the URL round-trip: a reload of that link shows the same range
    page.reload()
    wait_idle(page)
    typed = f"{start.isoformat()} – {end.isoformat()}"
    expect(page.get_by_role("textbox", name="Date range")).to_have_value(typed)
