"""The store file: WAL mode, versioned migrations (a version-1 store upgrades), its place beside the DB."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dashboard.reviews import store


def test_a_new_store_is_in_wal_mode_at_the_newest_version(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with store.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [1, 2]


def test_a_version_1_store_upgrades_and_keeps_its_items(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    raw = sqlite3.connect(path, isolation_level=None)
    assert store.migrate(raw, upto=1) == 1
    raw.execute(
        "INSERT INTO items (kind, subject, clinic_id, occurred_on, severity, title, raised_at, due_on, "
        "fingerprint, updated_at, updated_by) VALUES ('adverse_event', 'A1', 'C1', '2026-01-01', 'serious', "
        "'t', '2026-01-02T00:00:00Z', '2026-01-09', 'fp', '2026-01-02T00:00:00Z', 'system')"
    )
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "sync_state" not in tables
    raw.close()
    with store.connect(path) as conn:
        assert store.schema_version(conn) == 2
        assert [tuple(r) for r in conn.execute("SELECT subject, due_on FROM items")] == [("A1", "2026-01-09")]
        with store.transaction(conn):
            store.set_state(conn, "k", "v")
        assert store.get_state(conn, "k") == "v"


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with store.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
    with pytest.raises(store.StoreTooNew, match="99"), store.connect(path):
        pass


def test_the_store_sits_beside_the_database_under_a_name_the_refresh_never_cleans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(store.STORE_ENV, raising=False)
    db = tmp_path / "data" / "ketaops.duckdb"
    assert store.store_path(db) == tmp_path / "data" / "ketaops.reviews.sqlite"
    # the refresh removes leftovers named "<db name>*" (ketaops.duckdb.building-…, …retired-…)
    assert not store.store_path(db).name.startswith(db.name)
    # a version file of the database has the same store: the published path's name decides
    assert store.store_path(tmp_path / "data" / "ketaops.v12.duckdb") == store.store_path(db)
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path / "elsewhere.sqlite"))
    assert store.store_path(db) == tmp_path / "elsewhere.sqlite"
