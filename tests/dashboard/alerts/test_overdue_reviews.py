"""``ketaops signals`` with a review store: an overdue review item is signalled once, then never again."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dashboard.reviews import store
from pipelines.cli import main

pytestmark = pytest.mark.slow
TODAY = date.today()


def _item(conn: sqlite3.Connection, subject: str, status: str, due: date) -> None:
    conn.execute(
        "INSERT INTO items (kind, subject, clinic_id, occurred_on, severity, title, status, outcome, "
        "raised_at, due_on, fingerprint, updated_at, updated_by) "
        "VALUES ('adverse_event', ?, 'C1', '2026-01-01', 'serious', 'AE', ?, ?, '2026-01-01T00:00:00Z', ?, "
        "'x', '2026-01-01T00:00:00Z', 'test')",
        [subject, status, "confirmed" if status == "closed" else None, due.isoformat()],
    )


def _run(db: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    args = ["signals", "--db", str(db), "--config", str(config), "--notify", "--format", "json"]
    assert main([*args, "--today", TODAY.isoformat()]) == 0
    (recipient,) = json.loads(capsys.readouterr().out)["recipients"]
    return [s for s in recipient["new"] if s["kind"] == "overdue_review"]


def test_an_overdue_review_is_signalled_once(
    demo_like_db, tmp_path, monkeypatch, httpserver: HTTPServer, capsys
):
    path = tmp_path / "reviews.sqlite"
    monkeypatch.setenv("KETAOPS_REVIEWS", str(path))
    with store.connect(path) as conn:
        _item(conn, "AE-overdue", "in_review", TODAY - timedelta(days=3))
        _item(conn, "AE-due-later", "open", TODAY + timedelta(days=3))
        _item(conn, "AE-closed", "closed", TODAY - timedelta(days=3))
    with sqlite3.connect(path) as raw:
        (overdue_id,) = raw.execute("SELECT item_id FROM items WHERE subject = 'AE-overdue'").fetchone()
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    config = tmp_path / "signals.toml"
    config.write_text(
        f'[signals]\nstate = "{tmp_path / "state.sqlite"}"\n\n'
        f'[[recipient]]\nname = "lead"\nscope = "network"\nwebhook = "{httpserver.url_for("/hook")}"\n'
    )
    first = _run(demo_like_db, config, capsys)
    assert [s["key"] for s in first] == [f"overdue_review:{overdue_id}"]
    assert first[0]["clinic_id"] == "C1"
    assert (TODAY - timedelta(days=3)).isoformat() in first[0]["text"]
    assert _run(demo_like_db, config, capsys) == []
