"""Browser test fixtures: a small real demo database, the app on a free loopback port, headless Chromium.

Skipped with a reason when Debian's Chromium is absent, unless
``KETAOPS_REQUIRE_BROWSER=1`` (CI), where a missing browser fails instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
NAV = ".st-key-ketaops_nav"  # the sidebar's page links (dashboard/components/sidebar_nav.py)
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)
            if not CHROMIUM.exists() and os.environ.get("KETAOPS_REQUIRE_BROWSER") != "1":
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} not found (apt-get install chromium)"))


@pytest.fixture(scope="session", autouse=True)
def _browser_required() -> None:
    """With KETAOPS_REQUIRE_BROWSER=1 (CI) a missing browser is an error, not a skip."""
    if not CHROMIUM.exists():
        pytest.fail(f"KETAOPS_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright: use Debian's Chromium instead of a downloaded browser."""
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": LAUNCH_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A tall window: Streamlit scrolls inside the page, so a screenshot shows only what the window shows."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 4200}, "accept_downloads": True}


@dataclass(frozen=True)
class Demo:
    db: Path
    manifest: dict[str, Any]

    def role(self, name: str) -> str:
        """The clinic id the demo generator gave a planted role (silent, no_show_shift, ae_outlier)."""
        return next(c["clinic_id"] for c in self.manifest["clinics"] if c["role"] == name)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """A small real demo network (4 clinics, 6 months, bad rows) through the real pipeline, built once."""
    base = tmp_path_factory.mktemp("e2e-demo")
    exports, db = base / "exports", base / "ketaops.duckdb"
    ketaops = [sys.executable, "-m", "pipelines.cli"]
    run = {"cwd": ROOT, "check": True, "capture_output": True, "timeout": 300}
    demo_args = ["demo-data", "--out", str(exports), "--clinics", "4", "--years", "0.5", "--dirty"]
    subprocess.run([*ketaops, *demo_args], **run)
    subprocess.run([*ketaops, "refresh", "--exports", str(exports), "--db", str(db)], **run)
    return Demo(db=db, manifest=json.loads((exports / "MANIFEST.json").read_text()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run dashboard/app.py`` on a free loopback port, stopped (by its pid) at the end."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("e2e-log") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboard" / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env={**os.environ, "KETAOPS_DB": str(demo.db)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log.name)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def wait_idle(page: Any, timeout_ms: int = 90_000) -> None:
    """Wait until the script run finished (Streamlit marks the app root) and no element is still loading."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_load_state("networkidle", timeout=timeout_ms)


def wait_healthy(url: str, proc: subprocess.Popen, log: str) -> None:
    """Until the server answers its health check; fail (naming its log) if it exits or takes > 60 s."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the server did not start (exit {proc.poll()}); see {log}")
        time.sleep(0.3)
