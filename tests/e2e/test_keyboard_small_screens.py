"""Keyboard and small screens in Chromium, at a phone's 400 px and a laptop's 1024 px: the
sidebar links' focus ring, the skip link, the open tab in view, key columns first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import NAV, wait_idle

WIDTHS = [400, 1024]
HEIGHT = 900
LINE_LIST = "/safety?safety_view=Line+list"


def _open(page: Page, url: str, width: int) -> None:
    """Open ``url`` at ``width`` px, until the aids' script and the sidebar's links are drawn (both
    arrive a moment after the run ends: Streamlit loads their renderers on first use)."""
    page.set_viewport_size({"width": width, "height": HEIGHT})
    page.goto(url)
    wait_idle(page)
    expect(page.locator("#ketaops-skip")).to_be_attached(timeout=30_000)
    expect(page.locator(f"{NAV} a").first).to_be_attached(timeout=30_000)


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return r, g, b


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2.2 relative luminance."""

    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _active(page: Page, script: str) -> object:
    return page.evaluate(f"(() => {{ const a = document.activeElement; return {script}; }})()")


def _tab_until(page: Page, script: str, limit: int = 25) -> list[str]:
    """Press Tab until ``script`` (about ``a``, the focused element) is true; what Tab passed."""
    passed = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if _active(page, script) is True:
            return passed
        passed.append(str(_active(page, "(a.getAttribute('aria-label') || '') + a.textContent")))
    pytest.fail(f"Tab never reached {script}: {passed}")


IN_NAV = f"a.closest('{NAV}') !== null"


@pytest.mark.parametrize("width", WIDTHS)
def test_tab_reaches_the_sidebar_links_with_a_visible_focus_ring(page: Page, app_url: str, width: int):
    _open(page, app_url, width)
    if width == 400:  # a phone opens with the sidebar closed: Tab skips it, to the button opening it
        passed = _tab_until(page, "a.getAttribute('data-testid') === 'stExpandSidebarButton'")
        assert not any("Throughput" in p or "Help for Period" in p for p in passed), passed
        page.keyboard.press("Enter")  # opening it takes focus to its first page link
        expect(page.locator(f"{NAV} a:focus")).to_have_count(1)
        assert _active(page, IN_NAV) is True
    else:
        _tab_until(page, IN_NAV)
    focused = page.locator(f"{NAV} a:focus")
    expect(focused).to_have_count(1)
    style = focused.evaluate(
        "a => { const s = getComputedStyle(a); "
        "return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor, a.matches(':focus-visible')]; }"
    )
    assert style[0] == "solid" and style[1] >= 2 and style[3] is True
    # what the ring sits on: the first opaque background up the tree (the sidebar's)
    behind = focused.evaluate(
        "a => { for (let e = a.parentElement; e; e = e.parentElement) { "
        "const c = getComputedStyle(e).backgroundColor; "
        "if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; }"
    )
    assert _contrast(_rgb(style[2]), _rgb(behind)) >= 3  # WCAG 1.4.11 non-text contrast
    # in the window, once the sidebar has slid in (not obscured: 2.4.11)
    page.wait_for_function(
        f"() => {{ const a = document.querySelector('{NAV} a:focus'); "
        f"const r = a && a.getBoundingClientRect(); return !!r && r.left >= 0 && r.right <= {width}; }}",
        timeout=5_000,
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_the_skip_link_comes_first_and_moves_focus_to_the_open_tab(page: Page, app_url: str, width: int):
    _open(page, app_url + LINE_LIST, width)
    page.keyboard.press("Tab")
    skip = page.locator("#ketaops-skip")
    expect(skip).to_be_focused()
    expect(skip).to_have_text("Skip to tabs")
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width and 0 <= box["y"] < HEIGHT
    page.keyboard.press("Enter")
    assert _active(page, "a.getAttribute('role')") == "tab"
    assert _active(page, "a.textContent") == "Line list"
    assert _active(page, "a.getAttribute('aria-selected')") == "true"
    assert "#" not in page.url  # moved focus without a fragment (no history entry)


@pytest.mark.parametrize("width", WIDTHS)
def test_on_a_page_without_tabs_the_skip_link_goes_to_the_heading(page: Page, app_url: str, width: int):
    _open(page, app_url, width)
    page.keyboard.press("Tab")
    skip = page.locator("#ketaops-skip")
    expect(skip).to_be_focused()
    expect(skip).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    assert _active(page, "a.tagName") == "H1"
    assert _active(page, "a.textContent") == "Network overview"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_link_to_a_later_tab_shows_that_tab_in_the_strip(page: Page, app_url: str, width: int):
    _open(page, app_url + LINE_LIST, width)
    tab = page.get_by_role("tab", name="Line list")
    expect(tab).to_have_attribute("aria-selected", "true")
    # within the window sideways (the strip scrolls it there once drawn)
    page.wait_for_function(
        "() => { const t = [...document.querySelectorAll('[role=tab][aria-selected=true]')]"
        ".find(e => e.textContent === 'Line list'); const r = t && t.getBoundingClientRect(); "
        f"return !!r && r.width > 0 && r.left >= 0 && r.right <= {width}; }}",
        timeout=5_000,
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_tables_lead_with_their_key_columns(page: Page, app_url: str, artifacts: Path, width: int):
    _open(page, app_url + LINE_LIST, width)
    grid = page.locator('.st-key-ae_table [data-testid="stDataFrame"]')
    grid.scroll_into_view_if_needed()
    headers = page.locator(".st-key-ae_table th")
    expect(headers.first).to_have_text("Onset")
    expect(headers.nth(1)).to_have_text("Clinic")
    box = grid.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width  # the grid scrolls inside, the page does not
    if width == 400:
        page.screenshot(path=str(artifacts / "e2e-400-safety-line-list.png"))
    # the monitoring review list's data starts with the session id: pinning puts when and where first
    _open(page, app_url + "/monitoring?mon_view=Review+lists", width)
    headers = page.locator(".st-key-mon_review_table th")
    expect(headers.first).to_have_text("Session")
    expect(headers.nth(1)).to_have_text("Clinic")


def test_overview_at_400_px(page: Page, app_url: str, artifacts: Path):
    _open(page, app_url, 400)
    grid = page.locator('.st-key-league [data-testid="stDataFrame"]')
    grid.scroll_into_view_if_needed()
    expect(page.locator(".st-key-league th").first).to_have_text("Clinic")
    page.screenshot(path=str(artifacts / "e2e-400-overview.png"))
    box = grid.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 400
