"""What a user waits for in Chromium: a new tab until the page is usable, and a filter change.

Timed in the browser, not by Playwright's polling: a script added to every page watches the DOM
and stamps ``performance.now()`` when

- **usable**: the page's headline (its first tile, table or chart, ``HEADLINE``) is drawn by the
  current script run (not stale), with the header and the sidebar filters above it;
- **complete**: the script run has finished (``stApp``'s ``data-test-script-state``).

A *new tab* is a new tab of a browser that has opened the app before (its HTTP cache holds
Streamlit's scripts), so a new Streamlit session; a *first visit* is a fresh browser profile
(nothing cached). Their times count from the navigation's start. A *filter change* picks another period in the
sidebar of an open session; its times count from the click on the option. Every page is opened
once first (server imports, caches of the demo's default view), as users find a running server.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.pages import PAGES
from bench.server import CHROMIUM, CHROMIUM_ARGS, _free_port, _wait_healthy

FILTERED_PAGES = ("overview", "throughput", "clinic", "safety", "outcomes")  # Data has no filters
HEADLINE = '[data-testid="stMetric"], [data-testid="stDataFrame"], [data-testid="stTable"], .stPlotlyChart'
# Period options the filter-change rounds cycle through (labels of ``filters.PERIODS``).
PERIOD_CYCLE = ("Last 30 days", "Last 12 months", "Year to date", "Last 90 days")

_OBSERVER = """
(() => {
  const k = window.__kp = {t0: 0, ran: false, usable: null, complete: null, armed: false};
  k.reset = (t0) => { k.t0 = t0; k.ran = false; k.usable = null; k.complete = null; };
  const check = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute('data-test-script-state');
    if (state && state !== 'notRunning') k.ran = true;
    if (!k.ran) return;
    const now = performance.now();
    if (k.usable === null) {
      const head = document.querySelector(HEADLINE);
      if (head && !head.closest('[data-stale="true"]')) k.usable = now - k.t0;
    }
    if (k.complete === null && state === 'notRunning') k.complete = now - k.t0;
  };
  const start = () => { if (k.armed) { k.armed = false; k.reset(performance.now()); } };
  document.addEventListener('click', start, true);
  new MutationObserver(check).observe(document, {subtree: true, childList: true, attributes: true,
    attributeFilter: ['data-stale', 'data-test-script-state']});
})();
""".replace("HEADLINE", repr(HEADLINE))


@dataclass
class PaintFigures:
    page: str
    new_tab_usable: list[float] = field(default_factory=list)
    new_tab_complete: list[float] = field(default_factory=list)
    first_visit_usable: list[float] = field(default_factory=list)
    filter_first_usable: list[float] = field(default_factory=list)  # a period not yet seen: queries run
    filter_usable: list[float] = field(default_factory=list)  # a period seen before: cached
    filter_complete: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | None]:
        return {name: p95(getattr(self, name)) for name in self.__dataclass_fields__ if name != "page"}


def page_url(base: str, name: str) -> str:
    """The page's address: the default page (Overview) is the app's root; its own path is "not found"."""
    return f"{base}/" if name == "overview" else f"{base}/{name}"


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _wait_timed(page: Any, timeout: float = 120) -> tuple[float, float]:
    page.wait_for_function("window.__kp && window.__kp.complete !== null", timeout=timeout * 1000)
    usable, complete = page.evaluate("[window.__kp.usable, window.__kp.complete]")
    return (usable if usable is not None else complete) / 1000, complete / 1000


def _new_tab(context: Any, url: str) -> tuple[float, float]:
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit", timeout=120_000)
        return _wait_timed(page)
    finally:
        page.close()


def _first_visit(browser: Any, url: str) -> tuple[float, float]:
    context = _context(browser)
    try:
        return _new_tab(context, url)
    finally:
        context.close()


def _context(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(_OBSERVER)
    return context


def _pick_period(page: Any, option: str) -> tuple[float, float]:
    box = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first
    box.click(timeout=120_000)
    choice = page.get_by_role("option", name=option, exact=True)
    choice.wait_for(timeout=120_000)
    page.evaluate("window.__kp.armed = true")
    choice.click(timeout=120_000)
    return _wait_timed(page)


def _start_server(db: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", *extra]  # fmt: skip
    server = subprocess.Popen(
        cmd,
        env={**os.environ, "KETAOPS_DB": str(db)},
        cwd=app.parent.parent,  # the repository's .streamlit/config.toml applies, as under `ketaops serve`
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_healthy(port)
    return server, f"http://127.0.0.1:{port}"


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def compare_new_tab(
    db: Path, variants: dict[str, list[str]], rounds: int = 6, pages: tuple[str, ...] = PAGES
) -> dict[str, dict[str, float]]:
    """New-tab p95 (usable, complete) per page of servers differing only in Streamlit options.

    The servers run side by side and their tabs alternate, so both see the same load: on a
    shared machine only figures taken this way tell a change from the machine's swings.
    ``cpu per tab`` is the server's own CPU seconds per measured tab, which load does not inflate.
    """
    import psutil
    from playwright.sync_api import sync_playwright

    servers = {name: _start_server(db, extra) for name, extra in variants.items()}
    times: dict[str, dict[str, list[float]]] = {name: {} for name in variants}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            tabs = {name: _context(browser) for name in variants}
            for name, (_, base) in servers.items():
                for page in pages:
                    _new_tab(tabs[name], page_url(base, page))
            cpu = {name: psutil.Process(server.pid).cpu_times() for name, (server, _) in servers.items()}
            for page in pages:
                for _ in range(rounds):
                    for name, (_, base) in servers.items():
                        usable, complete = _new_tab(tabs[name], page_url(base, page))
                        times[name].setdefault(f"{page} usable", []).append(usable)
                        times[name].setdefault(f"{page} complete", []).append(complete)
            tabs_measured = rounds * len(pages)
            for name, (server, _) in servers.items():
                now, then = psutil.Process(server.pid).cpu_times(), cpu[name]
                spent = (now.user - then.user) + (now.system - then.system)
                times[name]["cpu per tab"] = [spent / tabs_measured]
            browser.close()
    finally:
        for server, _ in servers.values():
            _stop(server)
    return {name: {k: p95(v) or 0.0 for k, v in t.items()} for name, t in times.items()}


def measure_first_paint(
    db: Path, rounds: int = 10, filter_rounds: int = 3, pages: tuple[str, ...] = PAGES
) -> list[PaintFigures]:
    """Per page: ``rounds`` new tabs, then ``filter_rounds`` cycles of period changes in one tab."""
    from playwright.sync_api import sync_playwright

    server, base = _start_server(db, [])
    out: list[PaintFigures] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            tabs = _context(browser)  # the user's browser: scripts cached after the first page
            for name in PAGES:  # a running server: imports done, the default view cached
                _new_tab(tabs, page_url(base, name))
            for name in pages:
                fig = PaintFigures(name)
                for _ in range(rounds):
                    usable, complete = _new_tab(tabs, page_url(base, name))
                    fig.new_tab_usable.append(usable)
                    fig.new_tab_complete.append(complete)
                fig.first_visit_usable.append(_first_visit(browser, page_url(base, name))[0])
                if name in FILTERED_PAGES:
                    page = tabs.new_page()
                    page.goto(page_url(base, name), wait_until="commit")
                    _wait_timed(page)
                    for r in range(filter_rounds):
                        for option in PERIOD_CYCLE:
                            usable, complete = _pick_period(page, option)
                            (fig.filter_first_usable if r == 0 else fig.filter_usable).append(usable)
                            fig.filter_complete.append(complete)
                    page.close()
                out.append(fig)
            tabs.close()
            browser.close()
    finally:
        _stop(server)
    return out


def main() -> None:
    """``python -m bench.first_paint DB [ROUNDS] [--watcher]``: the figures, or the file-watcher A/B."""
    db = Path(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 10
    start = time.perf_counter()
    if "--watcher" in sys.argv:
        variants = {"watcher": ["--server.fileWatcherType", "auto"], "no watcher": []}
        pages = tuple(a for a in sys.argv[3:] if a in PAGES) or PAGES
        for name, figures in compare_new_tab(db, variants, rounds, pages).items():
            print(f"{name:<11} new tab p95 s: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    else:
        for fig in measure_first_paint(db, rounds):
            cells = ", ".join(f"{k} {v:.2f}" for k, v in fig.summary().items() if v is not None)
            print(f"{fig.page:<11} p95 s: {cells}", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
