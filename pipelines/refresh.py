"""``ketaops refresh``: validate new export files, load them into a copy of the database, publish it.

Order of work (docs/operations.md explains the why):
lock → remove leftovers of killed runs and expired versions → if nothing is new: record the run
beside the file, leave a standby copy for the next run, stop → take the standby
copy or copy the published file → skip files already loaded unchanged →
validate and load table by table (``contract.TABLES`` order, files by path) →
session readings from their vitals rows → bookkeeping → checkpoint → name the next version →
swap the pointer to it.
A failure anywhere leaves the published file as it was; the failed run is
recorded beside it (``publish.append_side_run``), and so is a run that never
started (no exports folder, lock busy, unwritable database folder) or was stopped
by a signal. A run that finds nothing new publishes nothing: its record goes
beside the file too.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import duckdb

from pipelines import marts, publish, versions
from pipelines.compat import per_patient_tables_complete, published_files_to_check, remove_retired
from pipelines.contract import TABLES, TABLES_BY_NAME, UNREAD_REASONS, table_for_file
from pipelines.load import (
    FileLoad,
    TableLoader,
    derive_session_vitals,
    ensure_schema,
    files_to_check,
    record_files,
    record_unread,
    same_unread,
    touch_mtimes,
    update_freshness,
)
from pipelines.lock import LockBusy, refresh_lock
from pipelines.progress import StageClock, log, logfmt, progress_bar
from pipelines.runs import RUN_COLUMNS as _RUN_COLUMNS
from pipelines.runs import SUCCEEDED, SUCCEEDED_WITH_REJECTS, outcome

if TYPE_CHECKING:
    from pipelines.validate import Batch

# Exit codes (sysexits.h names), documented in docs/operations.md.
EXIT_OK = 0
EXIT_NO_EXPORTS = 66  # EX_NOINPUT: the exports folder does not exist
EXIT_FAILED = 70  # EX_SOFTWARE: the run failed; published database unchanged, failure recorded
EXIT_CANT_WRITE = 73  # EX_CANTCREAT: the database path cannot be written
EXIT_LOCKED = 75  # EX_TEMPFAIL: another refresh holds the lock; try again later
EXIT_INTERRUPTED = 128 + signal.SIGINT  # Ctrl-C, as a shell reports it

# DuckDB's memory while building (beyond it, spills to <build>.tmp). With the validator's frames
# beside it, 2750MB peaked at 3.7 GB of RSS in a full refresh at network scale, under the 4 GB
# budget; 2GB spilled up to 1.4 GB of staged sessions to disk and took 10-15 s longer, 3GB
# peaked at 3.9 GB (docs/performance.md).
MEMORY_ENV, DEFAULT_MEMORY = "KETAOPS_DUCKDB_MEMORY", "2750MB"
# Files are validated in batches of about this many bytes: large enough that the rules'
# fixed cost per call vanishes, small enough to bound the frames in memory.
BATCH_BYTES = 96 << 20
# Chunks validated ahead of the one being loaded (each holds up to BATCH_BYTES of rows): 3 was
# no faster than 2 at network scale and held ~250 MB more.
VALIDATE_AHEAD = 2
# Threads validating those chunks: validation is Python per file and Polars, and leaves most of
# a second core idle while the loader only stages its chunks.
VALIDATE_WORKERS = 2

# Test hooks: sleep (so a kill lands there) or fail at a named stage of a run.
PAUSE_ENV, PAUSE_SECONDS_ENV, FAIL_ENV = (
    "KETAOPS_TEST_PAUSE_AT",
    "KETAOPS_TEST_PAUSE_SECONDS",
    "KETAOPS_TEST_FAIL_AT",
)
STAGES = ("locked", "copied", "mid_load", "before_publish", "before_pointer")


class FatalError(Exception):
    """A precondition failed before any work: one line, one exit code, the run recorded as failed."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class RunSummary:
    run_id: str
    status: str  # succeeded | failed
    started_at: datetime
    finished_at: datetime
    files_read: int = 0
    files_skipped: int = 0
    files_ignored: int = 0
    files_rejected: int = 0
    files_unread: int = 0  # entries not read (``unread_files``): retried by every run
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    duplicates_collapsed: int = 0
    redactions: int = 0
    message: str = ""
    clock: StageClock = field(default_factory=StageClock, repr=False, compare=False)

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def _now() -> datetime:
    """UTC, naive: how every timestamp of the bookkeeping tables is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


def _test_hook(stage: str) -> None:
    if os.environ.get(PAUSE_ENV) == stage:
        print(f"paused at {stage}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get(PAUSE_SECONDS_ENV, "60")))
    if os.environ.get(FAIL_ENV) == stage:
        raise RuntimeError(f"failure injected at {stage} by {FAIL_ENV}")


Found = list[tuple[str, str, int, int]]  # (relative '/' path, path, mtime in ns, size)
Unread = list[tuple[str, str, str]]  # (relative path, reason, message) of entries not read


def discover(exports: Path) -> tuple[Found, Unread]:
    """Every export file under ``exports``, by path, and the entries that cannot be read as one.

    Names starting with a dot (files or folders) are skipped: uploads in progress (rsync,
    scp) and OS litter, never exports. A symlink is followed only to a file inside the
    folder; one leading outside it (``outside_exports``), a dangling one (``broken_link``),
    a link to a folder and special files such as FIFOs (``not_a_file``) are reported, never
    skipped silently: a clinic's rows behind them would be lost unseen. ``os.scandir`` and
    plain strings and integers: a network's ~60,000 files took 5 s through ``pathlib``
    objects, and 0.3 s more to make a datetime of each mtime. The size (of the same ``stat``)
    cuts the validation chunks: a second ``stat`` per file cost 0.5 s before the first chunk.
    """
    found: Found = []
    unread: Unread = []
    root = os.path.realpath(exports)
    folders = [("", os.fspath(exports))]
    while folders:
        prefix, folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # vanished or unreadable folder: as os.walk, skip it
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append((f"{rel}/", entry.path))
                    continue
                if entry.is_symlink():
                    problem = _link_problem(entry.path, root)
                    if problem:
                        unread.append((rel, problem[0], f"{rel}: {problem[1]}"))
                        continue
                if entry.is_file():
                    stat = entry.stat()
                    found.append((rel, entry.path, stat.st_mtime_ns, stat.st_size))
                else:
                    unread.append((rel, "not_a_file", f"{rel}: not a regular file (FIFO, socket or device)"))
            except OSError:  # removed since the listing
                continue
    found.sort()
    unread.sort()
    return found, unread


def _link_problem(path: str, root: str) -> tuple[str, str] | None:
    """Why a symlink is not read (reason, message), or None for a link to a file inside ``root``."""
    target = os.path.realpath(path)
    if not os.path.exists(target):
        return "broken_link", "symlink to a file that does not exist"
    if os.path.commonpath([root, target]) != root:
        return "outside_exports", "symlink to a file outside the exports folder; not read"
    if os.path.isdir(target):
        return "not_a_file", "symlink to a folder; links to folders are not followed"
    return None


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mtime(mtime_ns: int) -> datetime:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC).replace(tzinfo=None)


def _check_paths(exports: Path, db: Path) -> None:
    if not exports.is_dir():
        raise FatalError(EXIT_NO_EXPORTS, f"exports folder not found: {exports}")
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FatalError(EXIT_CANT_WRITE, f"cannot create the database folder {db.parent}: {exc}") from exc
    if db.is_dir():
        raise FatalError(EXIT_CANT_WRITE, f"database path is a folder: {db}")
    if not os.access(db.parent, os.W_OK | os.X_OK):
        raise FatalError(EXIT_CANT_WRITE, f"database folder is not writable: {db.parent}")


def refresh(exports: Path, db: Path, wait: float = 0.0, progress: bool = False) -> RunSummary:
    """One refresh run; raises ``FatalError`` only for the preconditions (folder, path, lock).

    Every run is recorded, however it ends: one that fails a precondition too, as a failed run
    beside the database (or in the fallback log when its folder cannot be written).
    """
    started = _now()
    try:
        _check_paths(exports, db)
        try:
            with refresh_lock(db, wait) as info:
                return _run_locked(exports, db, info.stale_holder, progress)
        except LockBusy as exc:
            raise FatalError(EXIT_LOCKED, str(exc)) from exc
        except OSError as exc:  # _run_locked turns its own errors into a failed run
            raise FatalError(EXIT_CANT_WRITE, f"cannot use the lock file next to {db}: {exc}") from exc
    except FatalError as exc:
        _record_preflight_failure(db, started, exc)
        raise


def _run_id(started: datetime) -> str:
    return f"{started:%Y%m%dT%H%M%S%f}Z-{os.getpid()}"


def _record_preflight_failure(db: Path, started: datetime, exc: FatalError) -> None:
    """A run that never started, as a failed run with its exit code in the message."""
    summary = RunSummary(_run_id(started), "failed", started, _now(), message=f"exit {exc.exit_code}: {exc}")
    try:
        publish.append_side_run(db, _run_record(summary))
    except OSError as side_exc:
        exc.args = (f"{exc} (could not record the run: {side_exc})",)


def _run_locked(exports: Path, db: Path, stale_holder: str | None, progress: bool) -> RunSummary:
    started = _now()
    summary = RunSummary(_run_id(started), "succeeded", started, started)
    notes = []
    if stale_holder:
        notes.append(f"cleared stale lock ({stale_holder})")
        log("refresh", "warning", "stale_lock_cleared", holder=stale_holder)
    try:
        _test_hook("locked")
        remove_retired(db)
        versions.prune(db, _version_grace())
        removed = publish.remove_leftovers(db)
        if removed:
            notes.append(f"removed {len(removed)} leftover build file(s)")
            log("refresh", "warning", "leftovers_removed", files=",".join(p.name for p in removed))
        _build_and_publish(exports, db, summary, notes, progress)
    except BaseException as exc:  # any failure is a failed run, never a half publish
        summary.status = "failed"
        summary.finished_at = _now()
        summary.message = _failure_message(exc)
        try:
            publish.append_side_run(db, _run_record(summary))
        except OSError as side_exc:
            summary.message += f" (could not record the failure: {side_exc})"
        if not isinstance(exc, Exception):  # a signal (SystemExit) or Ctrl-C: recorded, and it still stops
            raise
    return summary


def _version_grace() -> float:
    """How long a replaced version stays on disk (``$KETAOPS_VERSION_GRACE_SECONDS``)."""
    text = os.environ.get("KETAOPS_VERSION_GRACE_SECONDS")
    return float(text) if text else versions.DEFAULT_GRACE_SECONDS


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, SystemExit) and isinstance(exc.code, int) and exc.code > 128:
        return f"stopped by signal {signal.Signals(exc.code - 128).name}"
    if isinstance(exc, KeyboardInterrupt):
        return "stopped by Ctrl-C (SIGINT)"
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def _run_record(s: RunSummary) -> dict[str, object]:
    return {
        "run_id": s.run_id,
        "started_at": s.started_at.isoformat(),
        "finished_at": s.finished_at.isoformat(),
        "status": s.status,
        "files_read": s.files_read,
        "files_skipped": s.files_skipped,
        "files_rejected": s.files_rejected,
        "rows_loaded": s.rows_loaded,
        "rows_rejected": s.rows_rejected,
        "redactions": s.redactions,
        "message": s.message,
    }


def _build_and_publish(
    exports: Path, db: Path, summary: RunSummary, notes: list[str], progress: bool
) -> None:
    clock = summary.clock
    found, unread = discover(exports)
    clock.lap("discover")
    changed = _changed_since_published(db, found, unread)
    clock.lap("check")
    if changed == []:
        summary.files_skipped = len(found)
        summary.message = f"nothing new: {len(found)} files unchanged; the database was not republished"
        try:
            if publish.prepare_standby(db, summary.run_id):
                summary.message += "; copied it for the next run"
        except OSError as exc:  # e.g. a full disk: the next run copies as it goes
            summary.message += f"; could not copy it for the next run: {exc}"
            log("refresh", "warning", "standby_failed", message=str(exc))
        clock.lap("standby")
        summary.finished_at = _now()
        publish.append_side_run(db, _run_record(summary))
        return
    pending_runs, pending_files = publish.take_side_runs(db, summary.run_id)
    with publish.building_copy(db, summary.run_id) as build:
        clock.lap("copy")
        _test_hook("copied")
        # Bounded memory: DuckDB spills to <build>.tmp (removed with the build) beyond this limit.
        limit = os.environ.get(MEMORY_ENV, DEFAULT_MEMORY)
        con = duckdb.connect(str(build), config={"memory_limit": limit, "temp_directory": f"{build}.tmp"})
        try:
            con.execute("SET enable_progress_bar = false").fetchall()  # no terminal bars in refresh logs
            ensure_schema(con)
            for rec in pending_runs:
                con.execute(
                    "INSERT OR IGNORE INTO refresh_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [rec.get(k) for k in _RUN_COLUMNS],
                ).fetchall()
            if changed is None:  # new paths and new mtimes only
                changed = files_to_check(con, found)
            track_patients = per_patient_tables_complete(con)  # else all are rebuilt
            summary.files_skipped = len(found) - len(changed)
            by_table: dict[str, list[FileLoad]] = {t.name: [] for t in TABLES}
            # plain strings, not pathlib objects (1 s for a network's 60,000 files before any
            # validation could start); the validator reads these paths, ``_chunks`` uses the sizes
            paths: dict[str, str] = {}
            sizes = {rel: size for rel, _, _, size in found}
            ignored: list[FileLoad] = []
            touched: list[tuple[str, str, datetime]] = []
            listed = _now()  # the validator stamps each file it reads again (``_validated``)
            for rel, path, mtime_ns, previous in changed:
                mtime = _mtime(mtime_ns)
                digest = ""  # a new path is hashed once, by the validator that reads it
                if previous is not None:
                    try:
                        digest = file_sha256(path)
                    except OSError:  # the validator reports it as an unreadable file
                        digest = "unreadable"
                    if previous == digest:
                        summary.files_skipped += 1
                        touched.append((rel, digest, mtime))
                        continue
                table = table_for_file(rel)
                load = FileLoad(rel, table.name if table else None, digest, listed, mtime)
                if table is None:
                    ignored.append(load)
                else:
                    by_table[table.name].append(load)
                    paths[rel] = path
            touch_mtimes(con, touched)
            summary.files_ignored = len(ignored)
            clock.lap("open")
            bar = progress_bar(len(paths), "refresh", progress)
            loaded: list[FileLoad] = []
            try:
                loader: TableLoader | None = None
                chunks = _jobs(by_table, sizes)
                jobs = _validated(chunks, paths)
                with closing(jobs):  # a failure below also stops the validation threads
                    for i, (chunk, batch) in enumerate(jobs):
                        clock.lap("validate")
                        if loader is None:
                            loader = TableLoader(
                                con, TABLES_BY_NAME[chunk[0].table], summary.run_id, track_patients
                            )
                        bar.set_postfix_str(chunk[-1].rel_path[-40:])
                        for load, result in zip(chunk, batch.files, strict=True):
                            load.content_hash = result.content_hash  # what was actually read
                            if result.file_error:
                                line = logfmt(
                                    "refresh",
                                    "warning",
                                    "file_rejected",
                                    file=load.rel_path,
                                    reason=result.file_error,
                                )
                                bar.write(line)
                        loader.stage_batch(chunk, batch.files, batch.accepted)
                        clock.lap("load")
                        bar.update(len(chunk))
                        if i + 1 == len(chunks) or chunks[i + 1][0].table != chunk[0].table:
                            # the table's last chunk: applied now, while the next table's first
                            # chunks are still being validated (waiting for them cost 1-6 s a table)
                            _apply(loader, loaded, clock)
                            loader = None
            finally:
                bar.close()
            derive_session_vitals(con)  # every table loaded: the sessions' readings from their vitals
            not_read = [f for f in loaded if f.file_error in UNREAD_REASONS]
            record_files(con, summary.run_id, [f for f in loaded + ignored if f not in not_read])
            unread += [(f.rel_path, "read_error", _file_message(f)) for f in not_read]
            record_unread(con, summary.run_id, unread, _now())
            summary.files_unread = len(unread)
            update_freshness(con)
            clock.lap("bookkeeping")
            marts.maintain(con)  # read-side tables (time order, per-patient tables), docs/performance.md
            clock.lap("optimise")
            _summarise(summary, loaded, notes)
            summary.finished_at = _now()
            con.execute(
                "INSERT INTO refresh_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_run_record(summary)[k] for k in _RUN_COLUMNS],
            ).fetchall()
            publish.finish(con)
            clock.lap("checkpoint")
        finally:
            con.close()
        _test_hook("before_publish")
        publish.publish(build, db, before_pointer=lambda: _test_hook("before_pointer"))
        clock.lap("publish")
    publish.clear_side_runs(db, pending_files)  # now recorded in refresh_runs


def _changed_since_published(
    db: Path, found: Found, unread: Unread
) -> list[tuple[str, str, int, str | None]] | None:
    """``files_to_check`` asked of the published file, read-only (readers keep reading it).

    None when there is no published file or an older version wrote it
    (``compat.published_files_to_check``): then the run publishes whatever it finds. An
    empty list means nothing to publish: ~0.1 s instead of the copy, checkpoint and
    publish of the whole file (~3 s at network scale), and the dashboard keeps its caches,
    keyed on the published file.
    """
    if not db.exists():
        return None
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:  # unreadable: the full path reports it as a failed run
        return None
    try:
        changed = published_files_to_check(con, found)
        if changed == [] and not same_unread(con, unread):
            return None
        return changed
    finally:
        con.close()


def _apply(loader: TableLoader | None, loaded: list[FileLoad], clock: StageClock) -> None:
    """Apply a table's staged files (tables load in ``contract.TABLES`` order: FKs point back)."""
    if loader is None:
        return
    loader.apply()
    clock.lap("load")
    loaded.extend(loader.files)
    _test_hook("mid_load")


def _jobs(by_table: dict[str, list[FileLoad]], sizes: dict[str, int]) -> list[list[FileLoad]]:
    """Every table's files in chunks, tables in load order, files in ``staging_order``."""
    return [chunk for table in TABLES for chunk in _chunks(staging_order(by_table[table.name]), sizes)]


def staging_order(files: list[FileLoad]) -> list[FileLoad]:
    """By file name, then path: every clinic's ``sessions_2026-10.csv`` before their ``…-11.csv``.

    Exports name their period, so a table's rows are staged in about time order and the loader
    inserts the sessions as staged, without sorting them (``numbering.insert_sessions_renumbered``).
    Names that say nothing of time only cost a re-sort afterwards (``marts.time_order.cluster_by_time``).
    Which version of a repeated key wins still goes by path (``loader.TableLoader.apply``).
    """
    return sorted(files, key=lambda load: (PurePosixPath(load.rel_path).name, load.rel_path))


def _validated(jobs: list[list[FileLoad]], paths: dict[str, str]) -> Iterator[tuple[list[FileLoad], Batch]]:
    """Each chunk with its validation, the next ``VALIDATE_AHEAD`` validated meanwhile.

    Validation (Polars and per-file Python) and loading (DuckDB) each leave a core idle
    half the time; both release the GIL in their heavy parts, so validating the next
    chunks while chunk i is staged and applied overlaps them (docs/performance.md has the
    figures). Two ahead rather than one: a table's apply (~30 s for 10M sessions) no
    longer leaves the validator idle after one chunk of the next table (the full load's
    wait for validation 53 → 32 s). ``VALIDATE_WORKERS`` threads validate them, so two
    chunks progress at once while the loader only stages. A bounded number ahead keeps
    memory bounded. Results come in chunk order, so a run loads exactly what a sequential
    run would.
    """
    from pipelines.validate import validate_batch  # the heavy import only when there is work

    def start(chunk: list[FileLoad]) -> Future[Batch]:
        for load in chunk:
            load.seen_at = _now()
        return pool.submit(validate_batch, [(paths[load.rel_path], load.rel_path) for load in chunk])

    pending: deque[Future[Batch]] = deque()
    submitted = 0
    with ThreadPoolExecutor(max_workers=VALIDATE_WORKERS, thread_name_prefix="ketaops-validate") as pool:
        try:
            for i, chunk in enumerate(jobs):
                for later in jobs[submitted : i + 1 + VALIDATE_AHEAD]:  # chunk i and those ahead
                    pending.append(start(later))
                submitted = max(submitted, i + 1 + VALIDATE_AHEAD)
                yield chunk, pending.popleft().result()
        finally:  # a failure (or the consumer's close) leaves nothing queued behind it
            for future in pending:
                future.cancel()


def _chunks(files: list[FileLoad], sizes: dict[str, int]) -> Iterator[list[FileLoad]]:
    """Consecutive runs of files holding about ``BATCH_BYTES`` together (bounded memory)."""
    chunk: list[FileLoad] = []
    size = 0
    for load in files:
        chunk.append(load)
        size += sizes[load.rel_path]  # as listed: a file grown since is still read whole
        if size >= BATCH_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _summarise(summary: RunSummary, loaded: list[FileLoad], notes: list[str]) -> None:
    summary.files_read = sum(f.file_error not in UNREAD_REASONS for f in loaded)
    summary.files_rejected = sum(
        f.status == "rejected" and f.file_error not in UNREAD_REASONS for f in loaded
    )
    summary.rows_read = sum(f.rows_read or 0 for f in loaded)
    summary.rows_loaded = sum(f.rows_loaded or 0 for f in loaded)
    summary.rows_rejected = sum(f.rows_rejected or 0 for f in loaded)
    summary.duplicates_collapsed = sum(f.duplicates_collapsed or 0 for f in loaded)
    summary.redactions = sum(f.redactions for f in loaded)
    parts = [
        f"{summary.files_read} files read, {summary.files_skipped} skipped unchanged, "
        f"{summary.files_ignored} ignored (no table)"
    ]
    if summary.files_unread:
        parts.append(f"{summary.files_unread} not read (retried every run; `ketaops status` lists them)")
    if summary.files_rejected:
        rejected = [
            f"{f.rel_path} ({f.file_error})"
            for f in loaded
            if f.status == "rejected" and f.file_error not in UNREAD_REASONS
        ]
        parts.append(f"rejected whole: {', '.join(rejected[:5])}" + (" …" if len(rejected) > 5 else ""))
    summary.message = "; ".join(parts + notes)


def _file_message(load: FileLoad) -> str:
    return f"{load.rel_path}: the file could not be read (permission, vanished or I/O error)"


def summary_line(s: RunSummary) -> str:
    """The run's logfmt line: WARNING when it rejected files or rows (someone must fix an export)."""
    skip = ("started_at", "finished_at", "message", "clock")
    fields = {k: v for k, v in asdict(s).items() if k not in skip}
    result = outcome(s.status, s.files_rejected, s.rows_rejected)
    level = "info" if result == SUCCEEDED else ("warning" if result == SUCCEEDED_WITH_REJECTS else "error")
    return logfmt(
        "refresh",
        level,
        "run_finished",
        outcome=result,
        **fields,
        seconds=round(s.seconds, 2),
        stages=str(s.clock),
    )


def cli_refresh(args: argparse.Namespace) -> int:
    # systemd stops a unit with SIGTERM: unwind so the build copy is removed and the lock released.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        summary = refresh(Path(args.exports), Path(args.db), wait=args.wait, progress=True)
    except FatalError as exc:
        log("refresh", "error", "fatal", exit_code=exc.exit_code, message=str(exc))
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C: recorded as a failed run, unwound like SIGTERM
        log("refresh", "error", "run_failed", exit_code=EXIT_INTERRUPTED, message="stopped by Ctrl-C")
        return EXIT_INTERRUPTED
    except Exception as exc:  # e.g. leftovers not removable: one line, never a traceback
        log("refresh", "error", "fatal", exit_code=EXIT_FAILED, message=f"{type(exc).__name__}: {exc}")
        return EXIT_FAILED
    if summary.status != "succeeded":
        log(
            "refresh",
            "error",
            "run_failed",
            run_id=summary.run_id,
            exit_code=EXIT_FAILED,
            message=summary.message,
        )
        return EXIT_FAILED
    print(summary_line(summary), flush=True)
    return EXIT_OK
