"""Two dashboard servers and a publish in between, over Streamlit's own websocket protocol.

Replica A serves the refresh machine's folder; replica B a synced copy of it that lags until the
test syncs it (version files first, then the symlink, as deploy/README.md says). A viewer who saw
version 2 on A and is moved to B must never be shown version 1; once B has synced, every viewer
of either replica reads version 2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench.load import VERSION, publish_copy, view_page
from bench.server import _free_port, _wait_healthy
from pipelines import publish, versions
from tests.dashboard.conftest import build_demo_like_db

ROOT = Path(__file__).resolve().parent.parent


def _serve(db: Path, wait_seconds: float) -> Iterator[int]:
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py")]
    cmd += ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"]
    env = {**os.environ, "KETAOPS_DB": str(db), "KETAOPS_VERSION_WAIT_SECONDS": str(wait_seconds)}
    server = psutil.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(port, timeout=120)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _versions_named(port: int, page: str, query: dict[str, str]) -> tuple[list[int], str, str]:
    text, url_query, _ = view_page(port, page, query, timeout=180)
    return [int(n) for n in VERSION.findall(text)], text, url_query


@pytest.mark.slow
def test_two_replicas_with_a_publish_in_between_never_serve_a_mixed_or_older_version(tmp_path: Path) -> None:
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    folder_a.mkdir()
    db_a, db_b = folder_a / "ketaops.duckdb", folder_b / "ketaops.duckdb"
    build = build_demo_like_db(folder_a / "ketaops.duckdb.building-first")
    publish.publish(build, db_a)
    shutil.copytree(folder_a, folder_b, symlinks=True)  # B synced at version 1
    serve_a, serve_b = _serve(db_a, 0), _serve(db_b, 1)
    port_a, port_b = next(serve_a), next(serve_b)
    try:
        for port in (port_a, port_b):
            named, _, url = _versions_named(port, "overview", {})
            assert named == [1] and "v=1" in url
        publish_copy(db_a, "refresh-between")  # the refresh publishes version 2 on A's folder
        assert versions.current(db_a) == 2 and versions.current(db_b) == 1
        named, _, url = _versions_named(port_a, "throughput", {"v": "1"})
        assert named == [2] and "v=2" in url
        # moved to B (its copy lags): the URL's v=2 is a floor B cannot meet yet: a notice, no data
        named, text, _ = _versions_named(port_b, "clinic", {"v": "2"})
        assert named == [] and "has not received data version 2" in text and "Data as of" not in text
        # the sync: version files first, then the symlink
        v2 = versions.version_path(db_a, 2)
        shutil.copyfile(v2, folder_b / v2.name)
        named, _, _ = _versions_named(port_b, "clinic", {"v": "2"})  # B reads v2 by name already
        assert named == [2]
        versions.point(db_b, folder_b / v2.name)
        for port in (port_a, port_b):  # a new viewer on either replica: the same version
            for page in ("overview", "data"):
                named, _, _ = _versions_named(port, page, {})
                assert named == [2], (port, page)
    finally:
        for serving in (serve_a, serve_b):
            serving.close()
