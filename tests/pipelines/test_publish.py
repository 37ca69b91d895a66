"""Atomic publish: builds are private copies; only a complete, checkpointed file replaces the published."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from pipelines import publish


def _db(path: Path, value: int) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT ? AS x", [value]).fetchall()
    con.close()
    return path


def _value(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT x FROM t").fetchone()[0]
    finally:
        con.close()


def test_build_changes_only_the_copy_until_published(tmp_path: Path) -> None:
    db = _db(tmp_path / "k.duckdb", 1)
    with publish.building_copy(db, "run1") as build:
        assert build.parent == db.parent and build.name == "k.duckdb.building-run1"
        con = duckdb.connect(str(build))
        con.execute("UPDATE t SET x = 2").fetchall()
        publish.finish(con)
        assert _value(db) == 1  # readers still see the old file
        publish.publish(build, db)
    assert _value(db) == 2
    assert publish.leftover_builds(db) == []


def test_failed_build_is_removed_and_published_file_untouched(tmp_path: Path) -> None:
    db = _db(tmp_path / "k.duckdb", 1)
    before = db.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), publish.building_copy(db, "run1") as build:
        con = duckdb.connect(str(build))
        con.execute("UPDATE t SET x = 2").fetchall()  # leaves a WAL beside the build
        con.close()
        raise RuntimeError("boom")
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.duckdb"]


def test_publish_refuses_a_build_whose_wal_was_not_checkpointed(tmp_path: Path) -> None:
    db = _db(tmp_path / "k.duckdb", 1)
    build = _db(tmp_path / "k.duckdb.building-x", 2)
    (tmp_path / "k.duckdb.building-x.wal").write_bytes(b"not folded in")
    with pytest.raises(RuntimeError, match="checkpoint"):
        publish.publish(build, db)
    assert _value(db) == 1


def test_first_build_starts_from_no_file(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    with publish.building_copy(db, "r") as build:
        assert not build.exists()
        _db(build, 5)
        publish.publish(build, db)
    assert _value(db) == 5


def test_leftovers_of_killed_runs_are_removed_but_nothing_else(tmp_path: Path) -> None:
    db = _db(tmp_path / "k.duckdb", 1)
    (tmp_path / "k.duckdb.building-a").write_bytes(b"x")
    (tmp_path / "k.duckdb.building-a.wal").write_bytes(b"x")
    (tmp_path / "k.duckdb.building-b.tmp").mkdir()
    (tmp_path / "k.duckdb.building-b.tmp" / "spill").write_bytes(b"x")
    (tmp_path / "other.duckdb.building-c").write_bytes(b"keep: another database's build")
    removed = publish.remove_leftovers(db)
    assert len(removed) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.duckdb", "other.duckdb.building-c"]


def test_a_standby_copy_of_the_published_file_is_taken_instead_of_a_copy(tmp_path: Path) -> None:
    db = _db(tmp_path / "k.duckdb", 1)
    assert publish.prepare_standby(db, "idle1") is True
    assert publish.prepare_standby(db, "idle2") is False  # one is there already: not copied again
    standby = publish.standby_path(db)
    assert standby.read_bytes() == db.read_bytes() and publish.leftover_builds(db) == []
    inode = standby.stat().st_ino
    with publish.building_copy(db, "run1") as build:
        assert build.stat().st_ino == inode and not standby.exists()  # renamed, not copied
        con = duckdb.connect(str(build))
        con.execute("UPDATE t SET x = 2").fetchall()
        publish.finish(con)
        publish.publish(build, db)
    assert _value(db) == 2
    # the pre-version file kept as version 0, the build published as version 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.duckdb", "k.v0.duckdb", "k.v1.duckdb"]
    assert db.stat().st_ino == inode  # the standby copy became the published version


def test_a_standby_copy_of_another_file_is_never_used_and_is_removed(tmp_path: Path) -> None:
    db = _db(tmp_path / "k.duckdb", 1)
    publish.prepare_standby(db, "idle")
    old_standby = publish.standby_path(db)
    db.unlink()
    _db(db, 7)  # another file published meanwhile (e.g. a backup restored by hand)
    assert not publish.standby_path(db).exists() and old_standby.exists()
    with publish.building_copy(db, "run1") as build:
        assert _value(build) == 7  # a copy of the file published now
        assert not old_standby.exists()
    # a standby left behind by a database since deleted is removed by the next (first) build
    publish.prepare_standby(db, "idle")
    orphan = publish.standby_path(db)
    db.unlink()
    with publish.building_copy(db, "run2") as build:
        assert not build.exists() and not orphan.exists()


def test_a_standby_copy_is_written_under_a_leftover_name_until_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed half-way, the partial copy is a ``.building-*`` leftover the next run removes."""
    db = _db(tmp_path / "k.duckdb", 1)
    synced: list[Path] = []
    monkeypatch.setattr(publish, "_fsync_path", lambda path, directory=False: synced.append(path))
    publish.prepare_standby(db, "idle")
    partial = synced[0]  # the copy, made durable before it gets its standby name
    assert partial.parent == tmp_path and partial.name.startswith(f"k.duckdb{publish.BUILD_MARK}")
    partial.write_bytes(b"torn")
    assert publish.remove_leftovers(db) == [partial]


def test_the_replaced_version_keeps_its_name_and_content(tmp_path: Path) -> None:
    """Dropping a 0.9 GB file's last name costs ~0.6 s: not while the new data waits to be published."""
    db = _db(tmp_path / "k.duckdb", 1)
    old_inode = db.stat().st_ino
    for value in (2, 3):
        with publish.building_copy(db, f"run{value}") as build:
            con = duckdb.connect(str(build))
            con.execute("UPDATE t SET x = ?", [value]).fetchall()
            publish.finish(con)
            published = publish.publish(build, db)
        assert published.name == f"k.v{value - 1}.duckdb"
    assert db.is_symlink() and os.readlink(db) == "k.v2.duckdb"
    old, first, second = (tmp_path / f"k.v{n}.duckdb" for n in range(3))
    assert old.stat().st_ino == old_inode and _value(old) == 1  # the pre-version file, same inode
    assert (_value(first), _value(second), _value(db)) == (2, 3, 3)


def test_failed_runs_side_file_round_trip_ignores_a_torn_line(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    publish.append_side_run(db, {"run_id": "r1", "status": "failed"})
    publish.append_side_run(db, {"run_id": "r2", "status": "failed"})
    with publish.side_runs_path(db).open("a") as fh:
        fh.write('{"run_id": "r3", "sta')  # killed mid-write
    assert [r["run_id"] for r in publish.read_side_runs(db)] == ["r1", "r2"]
    assert not db.exists()  # recording a failure never creates or touches the database
    publish.append_side_run(db, {"run_id": "r4", "status": "succeeded"})  # after the torn line
    assert [r["run_id"] for r in publish.read_side_runs(db)] == ["r1", "r2", "r4"]


def test_side_runs_of_an_older_version_are_read_first_and_cleared_with_the_new_ones(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    legacy = tmp_path / "k.duckdb.failed-runs.jsonl"  # where versions before December 2026 wrote them
    legacy.write_text('{"run_id": "old", "status": "failed"}\n', encoding="utf-8")
    publish.append_side_run(db, {"run_id": "new", "status": "succeeded"})
    assert [r["run_id"] for r in publish.read_side_runs(db)] == ["old", "new"]
    publish.clear_side_runs(db)
    assert publish.read_side_runs(db) == [] and sorted(tmp_path.iterdir()) == []


def test_reader_connection_sees_a_new_publish_while_an_old_one_is_still_open(tmp_path: Path) -> None:
    """dashboard.db.connect must not reuse the process's cached instance of the replaced file."""
    from dashboard.db import connect

    db = _db(tmp_path / "k.duckdb", 1)
    with connect(db) as old:
        assert old.execute("SELECT x FROM t").fetchone() == (1,)
        with publish.building_copy(db, "r") as build:
            con = duckdb.connect(str(build))
            con.execute("UPDATE t SET x = 2").fetchall()
            publish.finish(con)
            publish.publish(build, db)
        with connect(db) as new:
            assert new.execute("SELECT x FROM t").fetchone() == (2,)
        assert old.execute("SELECT x FROM t").fetchone() == (1,)  # a running query finishes on its file


def test_a_run_recorded_while_another_folds_the_log_is_kept(tmp_path: Path) -> None:
    """A run that finds the lock busy appends while the holder builds: the holder's clear keeps it."""
    db = tmp_path / "k.duckdb"
    publish.append_side_run(db, {"run_id": "a"})
    records, files = publish.take_side_runs(db, "holder")
    assert [r["run_id"] for r in records] == ["a"]
    publish.append_side_run(db, {"run_id": "b"})  # recorded after the holder read the log
    assert [r["run_id"] for r in publish.read_side_runs(db)] == ["a", "b"]  # both shown meanwhile
    publish.clear_side_runs(db, files)  # the holder published "a"
    assert [r["run_id"] for r in publish.read_side_runs(db)] == ["b"]


def test_a_log_taken_by_a_run_that_then_failed_is_folded_by_the_next(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    publish.append_side_run(db, {"run_id": "a"})
    publish.take_side_runs(db, "failed-run")  # the run fails before publishing: nothing cleared
    publish.append_side_run(db, {"run_id": "b"})
    records, files = publish.take_side_runs(db, "next-run")
    assert sorted(str(r["run_id"]) for r in records) == ["a", "b"]
    publish.clear_side_runs(db, files)
    assert publish.read_side_runs(db) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []
