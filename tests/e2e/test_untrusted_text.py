"""Export values render as text in the browser: markdown, HTML and Plotly payloads in every text column.

A copy of the e2e demo database gets a link, an image, a heading and raw HTML in every clinic
name and region and in every AE description; the pages that show them are opened in headless
Chromium, which must show no link or image pointing at the payloads' host, fetch nothing from it,
and show the text itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import ROOT, Demo, wait_idle

EVIL = "evil.example"
NAME = f'Evil [click](https://{EVIL}/md) <a href="https://{EVIL}/html">html</a> :red[x] $y$'
REGION = f"<b>R</b> [r](https://{EVIL}/region)"
DESCRIPTION = (
    f"# Heading ![px](https://{EVIL}/pixel.png) [link](https://{EVIL}/l) "
    f'<img src="https://{EVIL}/img.png"> www.{EVIL}'
)


@pytest.fixture(scope="module")
def planted(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("planted") / "ketaops.duckdb"
    shutil.copyfile(demo.db, db)
    con = duckdb.connect(str(db))
    try:
        con.execute(
            "UPDATE clinics SET clinic_name = ? || ' ' || clinic_id, region = ?", [NAME, REGION]
        ).fetchall()
        con.execute("UPDATE adverse_events SET description = ?", [DESCRIPTION]).fetchall()
    finally:
        con.close()
    return db


@pytest.fixture(scope="module")
def planted_url(planted: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path_factory.mktemp("planted-log") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "KETAOPS_DB": str(planted)},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start; see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


def _no_payload_markup(page: Page, requested: list[str]) -> None:
    for selector in (
        f'a[href*="{EVIL}"]',
        f'img[src*="{EVIL}"]',
        "h1:has-text('Heading')",
        "h4:has-text('Heading')",
    ):
        assert page.locator(selector).count() == 0, selector
    assert not [u for u in requested if EVIL in u], requested
    # Plotly draws hover and tick text as SVG: no anchor inside a chart either
    assert page.locator(f'svg a[href*="{EVIL}"]').count() == 0


def _text(locator: Locator) -> str:
    """Text as a reader sees it (word joiners keep bare URLs from becoming links)."""
    return locator.inner_text().replace("\u2060", "")


def _open(page: Page, url: str, artifacts: Path, name: str) -> list[str]:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(url)
    wait_idle(page)
    page.screenshot(path=str(artifacts / f"untrusted-{name}.png"), timeout=90_000)
    return requested


def test_banner_clinic_title_and_data_page_show_names_as_text(
    page: Page, planted_url: str, demo: Demo, artifacts: Path
) -> None:
    requested = _open(page, planted_url, artifacts, "overview")
    _no_payload_markup(page, requested)
    # the stale banner names the silent clinic, its text intact
    assert "Evil [click](https://evil.example/md)" in _text(page.locator('[data-testid="stAlert"]').first)

    silent = demo.role("silent")
    requested = _open(page, f"{planted_url}/clinic?clinic={silent}", artifacts, "clinic")
    _no_payload_markup(page, requested)
    title = _text(page.locator("h1").first)
    assert "[click](https://evil.example/md)" in title and '<a href="https://evil.example/html">' in title
    assert "<b>R</b> [r](https://evil.example/region) region" in _text(page.locator("body"))

    requested = _open(page, f"{planted_url}/data", artifacts, "data")
    _no_payload_markup(page, requested)


def test_ae_description_renders_as_text(page: Page, planted_url: str, artifacts: Path) -> None:
    requested = _open(page, f"{planted_url}/safety?safety_view=Line+list", artifacts, "safety")
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    assert box is not None
    detail = page.locator(".st-key-ae_detail")
    # a click that lands while the grid is still drawing is lost: click again until it takes
    for _ in range(3):
        page.mouse.click(box["x"] + 12, box["y"] + 36 + 18)  # the first row's selection box
        try:
            detail.wait_for(state="visible", timeout=30_000)
            break
        except PlaywrightTimeout:
            wait_idle(page)  # a slow rerun may still bring it: a second click would close it again
            if detail.count():
                break
    wait_idle(page)
    page.screenshot(path=str(artifacts / "untrusted-ae-detail.png"), timeout=90_000)
    assert detail.count() == 1, "the event detail did not open"
    assert "# Heading ![px](https://evil.example/pixel.png)" in _text(detail)
    _no_payload_markup(page, requested)
