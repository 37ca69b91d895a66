"""The Safety line list in headless Chromium: filters go into the URL, a reload keeps the rows, CSV matches.

Uses the e2e fixtures of tests/e2e/conftest.py (a small real demo network and the app on a free port).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Demo, wait_idle

MATCH = re.compile(r"([\d,]+) adverse event\(s\) match")


def _expected_count(db: Path) -> int:
    """Headache AEs of grade 1 in the last 12 months of data, counted directly."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        (last,) = con.execute("SELECT max(CAST(scheduled_at AS DATE)) FROM sessions").fetchone()
        start = _year_before(last) + timedelta(days=1)
        (n,) = con.execute(
            "SELECT count(*) FROM adverse_events WHERE category = 'headache' AND severity_grade = 1 "
            "AND CAST(onset_at AS DATE) BETWEEN ? AND ?",
            [start, last],
        ).fetchone()
    finally:
        con.close()
    return n


def _year_before(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


def _shown(page: Page) -> int:
    text = page.get_by_text(MATCH).inner_text()
    match = MATCH.search(text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def _download_csv(page: Page) -> pl.DataFrame:
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    return pl.read_csv(Path(info.value.path()), comment_prefix="#", infer_schema=False)


def _pick(page: Page, box: str, option: str, url_part: str) -> None:
    page.get_by_role("combobox", name=box).click()
    page.get_by_role("option", name=option).click()
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(url_part))
    wait_idle(page)


def test_line_list_filters_survive_a_reload_and_the_csv_has_the_shown_rows(
    page: Page, app_url: str, demo: Demo, artifacts: Path
):
    page.goto(f"{app_url}/safety?safety_view=Line+list&period=Last+12+months")
    wait_idle(page)
    expect(page.locator("h1")).to_contain_text("Safety")
    everything = _shown(page)

    # two line-list filters, applied in the page, each written into the URL
    _pick(page, "Category", "Headache", r"ae_category=Headache")
    _pick(page, "Severity grade", "1 mild", r"ae_grade=1\+mild")
    expected = _expected_count(demo.db)
    # the URL changes before the rerun it starts has finished (under load, wait_idle can see the
    # run not yet started): wait for the page to show the count, failing if it never does
    expect(page.get_by_text(MATCH)).to_contain_text(f"{expected:,} adverse event(s) match", timeout=60_000)
    count = _shown(page)
    assert 0 < count < everything and count == expected
    before = _download_csv(page)
    page.screenshot(path=str(artifacts / "e2e-safety-line-list.png"), full_page=True)

    # the same URL after a reload: same filters, same count, same rows
    url = page.url
    page.reload()
    wait_idle(page)
    assert page.url == url
    assert _shown(page) == count
    after = _download_csv(page)
    assert after.height == count
    assert set(after["ae_id"]) == set(before["ae_id"])
    assert set(after["category"]) == {"headache"} and set(after["severity_grade"]) == {"1"}

    # the header block names the filters
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    header = [line for line in Path(info.value.path()).read_text().splitlines() if line.startswith("# ")]
    assert "# category: headache" in header and "# severity grade: 1" in header
    assert f"# rows: {count}" in header
