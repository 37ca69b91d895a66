"""Published versions: immutable files, one pointer swapped in a rename, pruning after a grace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines import signal_state, versions


def _version(db: Path, n: int, age: float = 0.0, now: float = 1_000_000.0) -> Path:
    """Version ``n`` as a file whose build finished ``age`` seconds before ``now``."""
    path = versions.version_path(db, n)
    path.write_text(f"version {n}")
    os.utime(path, (now - age, now - age))
    return path


def test_names_parse_back_and_belong_to_their_database(tmp_path: Path) -> None:
    db = tmp_path / "ketaops.duckdb"
    v12 = versions.version_path(db, 12)
    assert v12.name == "ketaops.v12.duckdb"
    assert versions.number_of(v12, db) == 12 and versions.pointer_for(v12) == db
    assert versions.number_of(tmp_path / "other.v3.duckdb", db) is None  # another database's
    assert versions.number_of(tmp_path / "ketaops.v3.db", db) is None  # another suffix
    assert versions.pointer_for(db) == db and versions.number_of(db) is None


def test_the_pointer_names_the_current_version_and_plain_tools_read_through_it(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    assert versions.current(db) is None and versions.next_number(db) == 1
    versions.point(db, _version(db, 1))
    versions.point(db, _version(db, 2))
    assert db.is_symlink() and os.readlink(db) == "k.v2.duckdb"  # relative: the folder can move
    assert versions.current(db) == 2 and db.read_text() == "version 2"
    assert versions.next_number(db) == 3
    _version(db, 5)  # a killed run's unpointed file: never given to another build
    assert versions.next_number(db) == 6


def test_a_swap_that_fails_before_its_rename_leaves_the_pointer_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "k.duckdb"
    versions.point(db, _version(db, 1))
    new = _version(db, 2)

    def killed(src: object, dst: object) -> None:
        raise KeyboardInterrupt  # stands in for a kill at the last moment before the rename

    monkeypatch.setattr(versions.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        versions.point(db, new)
    monkeypatch.undo()
    assert os.readlink(db) == "k.v1.duckdb" and db.read_text() == "version 1"
    # the half-made link is removed by the next run's prune, the version it named is kept
    versions.prune(db, grace_seconds=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.duckdb", "k.v1.duckdb", "k.v2.duckdb"]


def test_prune_keeps_current_previous_recent_and_unpublished_versions(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    now = 1_000_000.0
    # v1 replaced by v2 an hour ago, v2 by v3 30 min ago, v3 by v4 5 min ago, v4 by v5 1 min ago
    for n, age in ((1, 7200), (2, 3600), (3, 1800), (4, 300), (5, 60)):
        _version(db, n, age, now)
    _version(db, 6, 10, now)  # named by a killed run, never pointed to
    versions.point(db, versions.version_path(db, 5))
    removed = versions.prune(db, grace_seconds=600, now=now)
    # v1 (successor 3600 s ago), v2 (1800 s) go; v3 (successor v4 published 300 s ago) stays in
    # its grace; v4 is the previous; v5 current; v6 above current, kept
    assert sorted(p.name for p in removed) == ["k.v1.duckdb", "k.v2.duckdb"]
    assert list(versions.on_disk(db)) == [3, 4, 5, 6]
    assert versions.prune(db, grace_seconds=0, now=now) == [versions.version_path(db, 3)]
    assert list(versions.on_disk(db)) == [4, 5, 6]  # the previous is kept whatever the grace


def test_prune_touches_nothing_without_a_pointer(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    db.write_text("a database published before versions")
    _version(db, 1, age=10_000)
    assert versions.prune(db, grace_seconds=0) == []
    assert db.exists() and versions.version_path(db, 1).exists()


def test_prune_never_touches_the_stores_and_records_beside_the_database(tmp_path: Path) -> None:
    """Reviews, audit and signal stores, the runs log and the lock live beside the versions."""
    db = tmp_path / "ketaops.duckdb"
    beside = [
        "ketaops.reviews.sqlite",
        "ketaops.audit.sqlite",
        signal_state.STATE_FILE,
        "ketaops.duckdb.unpublished-runs.jsonl",
        "ketaops.duckdb.lock",
    ]
    for name in beside:
        (tmp_path / name).write_text(name)
        os.utime(tmp_path / name, (0, 0))  # older than any grace
    for n in (1, 2, 3):
        _version(db, n, age=10_000)
    versions.point(db, versions.version_path(db, 3))
    assert versions.prune(db, grace_seconds=0) == [versions.version_path(db, 1)]
    assert all((tmp_path / name).read_text() == name for name in beside)
    # the signal state's default path is the same for the pointer and a version file
    assert signal_state.default_path(versions.version_path(db, 3)) == signal_state.default_path(db)
