"""Files an older version published beside the database: kept as version 0, or removed."""

from __future__ import annotations

import os
from pathlib import Path

from pipelines import compat, versions
from pipelines.refresh import refresh
from tests.pipelines.export_folders import SESSIONS, rows, sess, write


def test_a_pre_version_file_is_kept_as_version_zero(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    db.write_text("legacy")
    inode = db.stat().st_ino
    v0 = compat.keep_pre_version_file(db)
    assert v0 == versions.version_path(db, 0) and v0.stat().st_ino == inode  # a second name, not a copy
    v1 = versions.version_path(db, 1)
    v1.write_text("version 1")
    versions.point(db, v1)
    assert v0.read_text() == "legacy" and db.read_text() == "version 1"
    assert compat.keep_pre_version_file(db) is None  # the path is a pointer now


def test_files_retired_by_older_publishes_go_and_nothing_else_does(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    names = [
        "k.duckdb.retired-k.duckdb.building-run1",
        "k.v1.duckdb",
        "k.reviews.sqlite",
        "ketaops-signals.sqlite",
        "k.audit.sqlite",
    ]
    for name in names:
        (tmp_path / name).write_text(name)
    compat.remove_retired(db)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


def test_a_refresh_over_a_pre_version_database_publishes_version_one_and_keeps_it_as_zero(
    dirty: Path, tmp_path: Path
) -> None:
    """A folder an older version published: a regular file, and a retired file beside it."""
    db = tmp_path / "k.duckdb"
    refresh(dirty, db)
    # make it look as an older version left it: a regular file at the path, nothing else
    legacy = versions.version_path(db, 1)
    db.unlink()
    os.replace(legacy, db)
    inode = db.stat().st_ino
    retired = tmp_path / "k.duckdb.retired-k.duckdb.building-old"
    retired.write_text("replaced by an older publish")
    write(dirty, "CLN-1/sessions_2025-03-09.csv", SESSIONS, sess("S90", "P1", "C1", "2025-03-09T09:00"))
    result = refresh(dirty, db)
    assert result.status == "succeeded", result.message
    assert os.readlink(db) == "k.v1.duckdb"  # numbered past the pre-version file
    assert versions.version_path(db, 0).stat().st_ino == inode  # the old file, kept for its readers
    assert not retired.exists()
    assert rows(db, "SELECT count(*) FROM refresh_runs")[0][0] == 2
