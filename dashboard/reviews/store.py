"""The review store: an SQLite file in WAL mode beside the published database.

The published DuckDB file is replaced by every refresh and read by many processes,
so reviews (written by people, kept for years) live in a file of their own that no
refresh opens: ``<db stem>.reviews.sqlite`` beside the database (``store_path``).
SQLite in WAL mode lets several dashboard processes read while one writes, and
serialises writers with a lock they wait for (``BUSY_TIMEOUT_MS``), so two
Streamlit servers (or a server and ``ketaops reviews``) may share one store.

The schema is created and upgraded by ``MIGRATIONS``, applied in order inside one
transaction; ``schema_version`` records each version applied and when.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipelines import versions

STORE_ENV = "KETAOPS_REVIEWS"
STORE_SUFFIX = ".reviews.sqlite"
BUSY_TIMEOUT_MS = 10_000  # a writer waits this long for another's transaction before giving up

# Version 1: the review items and their append-only history.
_V1 = (
    """CREATE TABLE items (
        item_id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        clinic_id TEXT NOT NULL,
        occurred_on TEXT NOT NULL,
        severity TEXT NOT NULL,
        title TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_review', 'closed')),
        outcome TEXT CHECK (outcome IS NULL
            OR outcome IN ('confirmed', 'not_an_event', 'data_error', 'action_taken')),
        assignee TEXT,
        raised_at TEXT NOT NULL,
        due_on TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        reviewed_fingerprint TEXT,
        source_state TEXT NOT NULL DEFAULT 'flagged'
            CHECK (source_state IN ('flagged', 'not_flagged', 'missing')),
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        UNIQUE (kind, subject),
        CHECK ((status = 'closed') = (outcome IS NOT NULL))
    ) STRICT""",
    """CREATE TABLE history (
        history_id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items (item_id),
        version INTEGER NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        field TEXT,
        old_value TEXT,
        new_value TEXT,
        note TEXT
    ) STRICT""",
    "CREATE INDEX history_item ON history (item_id, history_id)",
    # history is never overwritten: who changed what when stays as written
    """CREATE TRIGGER history_no_update BEFORE UPDATE ON history
       BEGIN SELECT RAISE(ABORT, 'review history is append-only'); END""",
    """CREATE TRIGGER history_no_delete BEFORE DELETE ON history
       BEGIN SELECT RAISE(ABORT, 'review history is append-only'); END""",
)
# Version 2: what the store was last synced from (and the demo seed applied), and the list indexes.
_V2 = (
    "CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
    "CREATE INDEX items_status_due ON items (status, due_on)",
    "CREATE INDEX items_clinic ON items (clinic_id, status)",
    "CREATE INDEX items_assignee ON items (assignee, status)",
)
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _V1), (2, _V2))
SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreTooNew(RuntimeError):
    """The store was written by a newer KetaOps whose schema this one does not know."""


def store_path(db: Path) -> Path:
    """``$KETAOPS_REVIEWS``, else ``<db stem>.reviews.sqlite`` beside the database.

    The stem is the published path's (``ketaops.duckdb``), also when ``db`` names one of its
    version files (``ketaops.v12.duckdb``): one store for every version. The name neither
    starts with the database's file name nor has a version's ``.v<N>``, so none of the
    refresh's clean-ups (``<db name>.*`` leftovers, ``versions.prune``) can match it.
    """
    override = os.environ.get(STORE_ENV)
    if override:
        return Path(override)
    published = versions.pointer_for(db)
    return published.with_name(published.stem + STORE_SUFFIX)


def now_text(now: datetime | None = None) -> str:
    """UTC to the second, ISO 8601 with ``Z``: sortable as text."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """An open, migrated store; created (with its folder) if absent. Closed on exit.

    Autocommit mode: writes go through ``transaction`` so each takes the write lock
    up front (``BEGIN IMMEDIATE``) instead of upgrading a read lock, which SQLite
    cannot wait for.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")  # persistent: a no-op once the file is in WAL
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across crashes of the process
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    """The newest migration applied (0 for an empty file)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(version)


def migrate(conn: sqlite3.Connection, upto: int = SCHEMA_VERSION) -> int:
    """Apply the migrations after the store's version, up to ``upto``; return the version reached.

    Cheap when nothing is due (one read); otherwise one write transaction, so two
    processes opening a new store at once apply each migration exactly once.
    """
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreTooNew(
            f"the review store has schema version {current}; this KetaOps knows up to {SCHEMA_VERSION}"
        )
    if current >= upto:
        return current
    with transaction(conn):
        current = schema_version(conn)  # another process may have migrated while we waited
        if current == 0:
            conn.execute(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT"
            )
        for version, statements in MIGRATIONS:
            if current < version <= upto:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, now_text()))
                current = version
    return current


def get_state(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_state(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Inside the caller's transaction."""
    conn.execute(
        "INSERT INTO sync_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
