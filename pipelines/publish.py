"""Atomic publish: build a copy of the database, then publish it as a new immutable version.

DuckDB allows one read-write process *or* many read-only ones per file. Readers
(the dashboard, analysts' SQL clients) therefore never share a file with the
writer: the refresh copies the published file to ``<db>.building-<run id>`` in
the same directory, changes only that copy, checkpoints and closes it, fsyncs
it, names it as the next version and swaps the published path (a symlink) to
it in one rename (``pipelines/versions.py``). A reader opens either the whole
old version or the whole new one; a failed or killed build leaves the published
file untouched and only a ``.building-*`` leftover, removed by the next run
(which holds the lock, so every leftover is stale). A run with nothing to do
prepares the next run's copy in advance (``prepare_standby``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from pipelines import versions
from pipelines.compat import keep_pre_version_file, legacy_side_runs_path

BUILD_MARK = ".building-"


def build_path(db: Path, run_id: str) -> Path:
    return db.with_name(f"{db.name}{BUILD_MARK}{run_id}")


def leftover_builds(db: Path) -> list[Path]:
    """Build files, their WALs and DuckDB spill folders left by earlier runs."""
    return sorted(db.parent.glob(f"{glob.escape(db.name)}{BUILD_MARK}*"))


def remove_leftovers(db: Path) -> list[Path]:
    """Delete every leftover build; call only while holding the refresh lock."""
    removed = leftover_builds(db)
    for path in removed:
        _remove(path)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def building_copy(db: Path, run_id: str) -> Iterator[Path]:
    """A private copy of the published database (or no file yet, for a first run).

    The standby copy an idle run prepared (``prepare_standby``) if it is a copy of
    the file published now: renamed, it costs nothing. Otherwise a fresh copy:
    ~1 s per GB from the page cache (copy_file_range), and as much again to write
    it to disk at publish (an fsync started at once in the background only moved
    that wait; measured). The copy is removed, with its WAL and spill folder, if
    the block raises; otherwise the caller must ``publish`` it.
    """
    build = build_path(db, run_id)
    try:
        standby = standby_path(db) if db.exists() else None
        if standby is not None and standby.exists():
            os.replace(standby, build)
        else:
            remove_standbys(db)  # copies of a file no longer published
            if db.exists():
                shutil.copyfile(db, build)
                shutil.copymode(db, build)
        yield build
    except BaseException:
        for path in build.parent.glob(
            f"{glob.escape(build.name)}*"
        ):  # the file, its .wal and .tmp spill folder
            _remove(path)
        raise


# --- Standby copy ------------------------------------------------------------------------
# Writing a fresh copy of the published file (copy + fsync, ~3 s per GB) was most of a day's
# refresh at network scale. A run that finds nothing new (most runs of a quarter-hourly
# schedule) has time to spare: it leaves a copy of the published file, already on disk, that
# the next run that has work renames into place instead of copying. The copy's name holds the
# published file's identity (inode, mtime ns, size), so a copy of any other file (a later
# publish, a restored backup) is never used, only removed.

STANDBY_MARK = ".standby-"


def standby_path(db: Path) -> Path:
    """Where the standby copy of the file published now is kept (``db`` must exist)."""
    st = db.stat()
    return db.with_name(f"{db.name}{STANDBY_MARK}{st.st_ino}-{st.st_mtime_ns}-{st.st_size}")


def remove_standbys(db: Path, keep: Path | None = None) -> None:
    for path in db.parent.glob(f"{glob.escape(db.name)}{STANDBY_MARK}*"):
        if path != keep:
            _remove(path)


def prepare_standby(db: Path, run_id: str) -> bool:
    """Leave a durable copy of the published file for the next run; False if one is there already.

    Call while holding the refresh lock (nothing publishes meanwhile). Written under a
    build name first, so a run killed half-way leaves only a leftover the next run removes.
    """
    target = standby_path(db)
    remove_standbys(db, keep=target)
    if target.exists():
        return False
    partial = build_path(db, f"{run_id}-standby")
    try:
        shutil.copyfile(db, partial)
        shutil.copymode(db, partial)
        _fsync_path(partial)
        os.replace(partial, target)
        _fsync_path(db.parent, directory=True)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return True


def finish(con: duckdb.DuckDBPyConnection) -> None:
    """Fold the WAL into the file and close, so the file alone is the database."""
    con.execute("CHECKPOINT").fetchall()
    con.close()


def publish(build: Path, db: Path, before_pointer: Callable[[], None] | None = None) -> Path:
    """Make ``build`` the published database: name it as the next version, then swap the pointer.

    Returns the version file. The build becomes ``<stem>.v<N><suffix>`` (immutable from then
    on) and ``db``, a symlink, is renamed over to name it (``pipelines/versions.py``); both
    steps are durable across a crash. ``before_pointer`` runs between them (a test hook: a
    run killed there has published nothing). The previous version keeps its name until
    ``versions.prune`` removes it: dropping the last name of a 0.9 GB file frees its cached
    pages and blocks, ~0.6 s that kept the new data from the dashboard for no reason.
    """
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{wal} still exists: the build was not checkpointed and closed")
    _fsync_path(build)
    keep_pre_version_file(db)
    target = versions.version_path(db, versions.next_number(db))
    os.replace(build, target)
    _fsync_path(db.parent, directory=True)
    if before_pointer is not None:
        before_pointer()
    versions.point(db, target)
    return target


# --- Runs recorded beside the database -----------------------------------------------------
# A run that publishes nothing leaves the published file byte for byte as it was: a failed
# run, and a run that found nothing new (most runs of a quarter-hourly schedule; republishing
# an unchanged 0.9 GB file would cost seconds of I/O and empty every dashboard cache). Its
# ``refresh_runs`` record goes to a small JSON-lines file beside the database instead.
# ``ketaops status`` and the dashboard read both; the next publishing run moves the records
# into ``refresh_runs`` and deletes the file. A run that cannot write beside the database
# (its folder is missing or read-only) writes to the same log in a state folder of the user's
# instead (``fallback_side_runs_path``), read and folded the same way.

SIDE_RUNS_SUFFIX = ".unpublished-runs.jsonl"
# A publishing run renames the log to ``<log>.folding-<run id>`` before reading it, so a run
# recorded meanwhile (one that found the lock busy) starts a new log instead of being deleted
# with the folded ones. A run that fails after the rename leaves that file: it is read like the
# log and folded by the next publishing run.
FOLDING_MARK = ".folding-"
STATE_DIR_ENV = "KETAOPS_STATE_DIR"


def side_runs_path(db: Path) -> Path:
    return db.with_name(db.name + SIDE_RUNS_SUFFIX)


def fallback_side_runs_path(db: Path) -> Path:
    """Where runs are recorded when the database's folder cannot be written: one log per database path."""
    base = os.environ.get(STATE_DIR_ENV) or os.environ.get("XDG_STATE_HOME")
    folder = Path(base) if base else Path.home() / ".local" / "state"
    if not os.environ.get(STATE_DIR_ENV):
        folder = folder / "ketaops"
    digest = hashlib.sha256(os.fsencode(db.absolute())).hexdigest()[:16]
    return folder / f"{digest}-{db.name}{SIDE_RUNS_SUFFIX}"


def _logs(db: Path) -> list[Path]:
    return [side_runs_path(db), fallback_side_runs_path(db)]


def _side_files(db: Path) -> list[Path]:
    logs = _logs(db)
    folding = [p for log in logs for p in sorted(log.parent.glob(f"{glob.escape(log.name)}{FOLDING_MARK}*"))]
    return [legacy_side_runs_path(db), *folding, *logs]


def append_side_run(db: Path, record: dict[str, object]) -> Path:
    """Append ``record`` to the side log beside ``db``, or to the fallback log; returns the file written."""
    try:
        _append(side_runs_path(db), record)
        return side_runs_path(db)
    except OSError:
        fallback = fallback_side_runs_path(db)
        fallback.parent.mkdir(parents=True, exist_ok=True)
        _append(fallback, record)
        return fallback


def _append(path: Path, record: dict[str, object]) -> None:
    with path.open("a+b") as fh:
        fh.seek(0, os.SEEK_END)
        torn = fh.tell() > 0 and (fh.seek(-1, os.SEEK_END), fh.read(1))[1] != b"\n"
        # a line torn by a killed run stays a line of its own: the new record is not glued to it
        fh.write((("\n" if torn else "") + json.dumps(record, default=str) + "\n").encode())
        fh.flush()
        os.fsync(fh.fileno())


def read_side_runs(db: Path) -> list[dict[str, object]]:
    """Records of runs not yet folded into the database, oldest first (a torn last line is ignored)."""
    return _read(_side_files(db))


def _read(files: list[Path]) -> list[dict[str, object]]:
    records = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:  # absent (the usual case), or folded and removed since the listing
            continue
        for line in text.splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def take_side_runs(db: Path, run_id: str) -> tuple[list[dict[str, object]], list[Path]]:
    """The records a publishing run folds into ``refresh_runs``, and the files to clear once published.

    Each log is renamed aside first (``FOLDING_MARK``): a record appended after that goes to a
    new log, which this run neither folds nor deletes.
    """
    for log in _logs(db):
        with suppress(OSError):  # no log (the usual case) or an unwritable folder: nothing to move
            os.replace(log, log.with_name(f"{log.name}{FOLDING_MARK}{run_id}"))
    files = [p for p in _side_files(db) if p not in _logs(db) and p.exists()]
    return _read(files), files


def clear_side_runs(db: Path, files: list[Path] | None = None) -> None:
    """After a publish that folded the records of ``files`` (default: every side file) into the database."""
    for path in _side_files(db) if files is None else files:
        with suppress(OSError):
            path.unlink(missing_ok=True)
