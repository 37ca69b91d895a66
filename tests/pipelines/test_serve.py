"""``ketaops serve`` stops with its PID: a SIGTERM leaves no server behind and frees the port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _port_free(port: int) -> bool:
    """Whether a new server could listen there (connections in TIME_WAIT do not hold a port)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_with_its_pid_and_frees_the_port(tmp_path: Path, sig: signal.Signals) -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "pipelines.cli", "serve", "--db", str(tmp_path / "none.duckdb"),
           "--port", str(port)]  # fmt: skip
    # its own session, so a leftover is found (and cleaned up) by group whatever happens
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            assert proc.poll() is None, f"serve exited with {proc.returncode} before serving"
            assert time.monotonic() < deadline, "serve did not answer within 60 s"
            time.sleep(0.3)
        group = [p for p in psutil.process_iter(["pid"]) if _in_group(p, proc.pid)]
        assert group, "no process in serve's group"
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        _, alive = psutil.wait_procs(group, timeout=10)
        assert alive == [], f"left running: {[p.pid for p in alive]}"
        assert _port_free(port)
    finally:  # whatever is left in serve's group (a child that outlived it) goes too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _in_group(p: psutil.Process, pgid: int) -> bool:
    try:
        return os.getpgid(p.pid) == pgid
    except OSError:
        return False
