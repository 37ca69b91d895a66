"""The audit log: an append-only SQLite store beside the database (``ketaops.audit.sqlite``).

Not in the published DuckDB file, which every refresh replaces: this file is never rewritten.
Each sign-in, refused sign-in, page view (with its filters), line-list event opened and download
(rows, filters) is one row with the user, the time (UTC) and the scope. Triggers refuse UPDATE
and DELETE, so the log only grows. WAL mode lets the dashboard append while ``ketaops audit``
or the Data page reads.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines import versions

SUFFIX = ".audit.sqlite"
EVENTS = ("sign_in", "no_access", "sign_out", "page_view", "event_opened", "download")
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,             -- UTC, ISO 8601
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    event TEXT NOT NULL,
    page TEXT NOT NULL DEFAULT '',
    rows INTEGER,                 -- downloads: rows in the file
    detail TEXT NOT NULL DEFAULT '{}'  -- JSON: filters, the event id, the file name
);
CREATE INDEX IF NOT EXISTS audit_user_at ON audit (user, at);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
COLUMNS = ("at", "user", "role", "scope", "event", "page", "rows", "detail")


def audit_path(db: Path) -> Path:
    """``data/ketaops.duckdb`` → ``data/ketaops.audit.sqlite``.

    From the published path's name also when ``db`` is one of its version files
    (``ketaops.v12.duckdb``): one log for every version, which ``versions.prune`` never matches.
    """
    published = versions.pointer_for(db)
    return published.with_name(published.stem + SUFFIX)


@dataclass(frozen=True)
class AuditRecord:
    at: str
    user: str
    role: str
    scope: str
    event: str
    page: str
    rows: int | None
    detail: dict[str, Any]


# Files this process has set up (WAL mode and the schema persist in the file): every page view
# appends a row, and re-running the schema script each time cost more than the insert.
_READY: set[tuple[Path, int]] = set()


@contextmanager
def _open(path: Path) -> Iterator[sqlite3.Connection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=10.0, isolation_level=None)) as con:
        con.execute("PRAGMA busy_timeout=10000")
        key = (path, path.stat().st_ino)  # a file replaced or deleted since is set up again
        if key not in _READY:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
            _READY.add(key)
        yield con


def append(
    path: Path,
    *,
    user: str,
    role: str,
    scope: str,
    event: str,
    page: str = "",
    rows: int | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one row (one transaction: a reader never sees half of it)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r} (events: {', '.join(EVENTS)})")
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    body = json.dumps(dict(detail or {}), sort_keys=True, default=str)
    with _open(path) as con:
        con.execute(
            f"INSERT INTO audit ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})",
            (when, user, role, scope, event, page, rows, body),
        )


def read(
    path: Path, *, user: str | None = None, since: datetime | None = None, limit: int | None = None
) -> list[AuditRecord]:
    """Rows oldest first (the newest ``limit`` of them), of one user (any case) and from ``since`` on."""
    if not path.is_file():
        return []
    where, params = [], []
    if user:
        where.append("lower(user) = lower(?)")
        params.append(user)
    if since is not None:
        where.append("at >= ?")
        params.append(since.astimezone(UTC).isoformat(timespec="seconds"))
    sql = f"SELECT {', '.join(COLUMNS)} FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if limit is not None:  # the newest ``limit`` rows
        sql += " LIMIT ?"
        params.append(limit)
    with _open(path) as con:
        found = con.execute(sql, params).fetchall()
    return [AuditRecord(*r[:7], json.loads(r[7])) for r in reversed(found)]


def detail_text(detail: dict[str, Any]) -> str:
    """The detail as one line of compact JSON (how the Data page and the text output show it)."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"))
