"""The audit store: append-only, beside the database, surviving a refresh's replacement of it."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
from datetime import UTC, date, datetime

import pytest

from dashboard.access import audit_log
from dashboard.access.audit_cli import cli_audit


def test_rows_survive_the_published_file_being_replaced(tmp_path, demo_like_db):
    db = tmp_path / "ketaops.duckdb"
    shutil.copy(demo_like_db, db)
    log = audit_log.audit_path(db)
    assert log == tmp_path / "ketaops.audit.sqlite"
    # a version file of the database has the same log: the published path's name decides
    assert audit_log.audit_path(tmp_path / "ketaops.v12.duckdb") == log
    audit_log.append(
        log,
        user="q@n.example",
        role="quality",
        scope="region:South",
        event="page_view",
        page="safety",
        detail={"filters": {"clinic_ids": ["C3", "C4"]}},
    )
    # a refresh publishes a new file over the old one (publish.py: write beside, os.replace)
    fresh = tmp_path / "ketaops.duckdb.new"
    shutil.copy(demo_like_db, fresh)
    inode = db.stat().st_ino
    os.replace(fresh, db)
    assert db.stat().st_ino != inode
    audit_log.append(
        log,
        user="q@n.example",
        role="quality",
        scope="region:South",
        event="download",
        page="safety",
        rows=12,
        detail={"file_name": "list.csv"},
    )
    rows = audit_log.read(log)
    assert [(r.user, r.scope, r.event, r.rows) for r in rows] == [
        ("q@n.example", "region:South", "page_view", None),
        ("q@n.example", "region:South", "download", 12),
    ]
    assert rows[0].detail == {"filters": {"clinic_ids": ["C3", "C4"]}}


def test_the_log_refuses_updates_and_deletes(tmp_path):
    log = tmp_path / "k.audit.sqlite"
    audit_log.append(log, user="a@n.example", role="ops", scope="network", event="sign_in")
    with sqlite3.connect(log) as con:
        for sql in ("UPDATE audit SET user = 'b'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)
    assert [r.user for r in audit_log.read(log)] == ["a@n.example"]


def test_unknown_events_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown audit event"):
        audit_log.append(tmp_path / "k.audit.sqlite", user="a", role="ops", scope="network", event="hack")


def test_read_filters_by_user_any_case_and_since(tmp_path):
    log = tmp_path / "k.audit.sqlite"
    for user, day in (("A@n.example", 1), ("b@n.example", 2), ("a@n.example", 3)):
        at = datetime(2026, 3, day, 9, tzinfo=UTC)
        audit_log.append(log, user=user, role="ops", scope="network", event="sign_in", at=at)
    assert [r.at[:10] for r in audit_log.read(log, user="a@N.example")] == ["2026-03-01", "2026-03-03"]
    since = datetime(2026, 3, 2, tzinfo=UTC)
    assert [r.user for r in audit_log.read(log, since=since)] == ["b@n.example", "a@n.example"]
    assert [r.user for r in audit_log.read(log, limit=1)] == ["a@n.example"]


def test_the_audit_command_prints_text_and_json(tmp_path, capsys):
    db = tmp_path / "ketaops.duckdb"
    log = audit_log.audit_path(db)
    audit_log.append(
        log,
        user="a@n.example",
        role="ops",
        scope="network",
        event="sign_in",
        at=datetime(2026, 3, 1, 9, tzinfo=UTC),
    )
    audit_log.append(
        log,
        user="b@n.example",
        role="director",
        scope="clinic:C1",
        event="download",
        page="safety",
        rows=3,
        at=datetime(2026, 3, 4, 9, tzinfo=UTC),
    )
    args = argparse.Namespace(db=db, user=None, since=date(2026, 3, 2), format="json")
    assert cli_audit(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(r["user"], r["scope"], r["rows"]) for r in printed] == [("b@n.example", "clinic:C1", 3)]
    args = argparse.Namespace(db=db, user="A@N.EXAMPLE", since=None, format="text")
    assert cli_audit(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "2026-03-01T09:00:00+00:00  a@n.example  ops  network  sign_in"
    )


def test_the_audit_command_without_a_log_says_so(tmp_path, capsys):
    args = argparse.Namespace(db=tmp_path / "none.duckdb", user=None, since=None, format="text")
    assert cli_audit(args) == 1
    assert "no audit log" in capsys.readouterr().err
