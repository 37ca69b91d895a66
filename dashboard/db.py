"""Read-only access to the published database.

The refresh publishes by atomically replacing the file (see ``pipelines/publish.py``). Reads are
cursors of one process-wide in-memory DuckDB instance, to which the file is ATTACHed read-only;
the file is *not* opened with ``duckdb.connect(path)``, because DuckDB reuses an open instance
per path within a process and would keep serving the replaced file.

The published database (``db_path()``, a symlink naming the current version file, or a regular
file published before versions) and its version files stay attached between reads:
one attachment per path and file version (``db_version``: inode, mtime, size), so block metadata
and cached blocks survive from one read to the next. At network scale a page's cold query set
was ~13% faster than with an ATTACH and DETACH per read (Clinic page p95 0.93 → 0.81 s, 1 Dec).
A new publish is still seen without a restart: it is a new file, so a new version, and the next
read attaches it; a read already running keeps the attachment it started on, detached when its
last reader leaves. Caches are keyed on ``db_version`` too.

Any other file is attached for one read and detached after it, as before: DuckDB refuses a
read-write open of a file that the same process keeps attached ("Unique file handle conflict"),
and tools and tests read files that they then change in place. The refresh never writes the
published file (it renames a new one over it), so keeping that one attached costs nothing.

The instance's memory is capped (``KETAOPS_READ_MEMORY_LIMIT``, default 512MB) so cached blocks
cannot grow the Streamlit server past its budget; a query that needs more spills to a directory of
this process under the system temp dir (removed by DuckDB when the instance closes).
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from pipelines import compat, versions

DEFAULT_DB = Path("data/ketaops.duckdb")
# DuckDB's buffer memory (cached blocks, query state) of the read instance; the Streamlit server's
# budget is 1 GB of RSS, of which Python and Streamlit take ~250 MB.
DEFAULT_READ_MEMORY_LIMIT = "512MB"
# Paths kept attached at once (tests and tools open many); the least recently used unused one goes.
MAX_ATTACHED_PATHS = 4


def db_path() -> Path:
    """The published database: ``$KETAOPS_DB`` or ``data/ketaops.duckdb``."""
    return Path(os.environ.get("KETAOPS_DB", DEFAULT_DB))


def db_version(path: Path | None = None) -> str | None:
    """An identity of the published file that changes on every publish (None if absent)."""
    p = path or db_path()
    try:
        st = p.stat()
    except FileNotFoundError:
        return None
    return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"


@dataclass(eq=False)
class _Attachment:
    """One ATTACH of a file on the shared instance. Fields change under ``_ATTACH_LOCK`` only."""

    alias: str
    version: str | None
    users: int = 0
    current: bool = False  # the path's entry in ``_CURRENT``: reused by the next reads


# path (as given) -> its current attachment, least recently used first
_CURRENT: OrderedDict[str, _Attachment] = OrderedDict()
_ATTACH_LOCK = threading.Lock()


@contextmanager
def connect(path: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to ``path`` (default: the published database), closed on exit.

    Each call has a cursor of its own that ``USE``s the file. The published database stays
    ATTACHed after the read (~13% off a page's cold query set at network scale: block metadata
    and cached blocks survive between reads). The attachment is reused only while the file's
    ``db_version`` is the one it was attached at; after a publish (an atomic rename: a new inode)
    the next read attaches the new file, so a new publish is seen without a restart and a cache
    keyed on the new version never holds old data. A read still open on the old file keeps it
    (reference counts: an attachment in use is never detached); it is detached when its last
    reader leaves. If the file changes while being attached, which file was opened is unknown:
    that attachment serves this read only, as does every attachment of a file other than the
    published one (see the module's docstring). A missing file raises (``duckdb.IOException``)
    and leaves nothing attached.
    """
    key = str(path or db_path())
    # a cursor per read: temp views and USE belong to the cursor, so readers never meet
    con = _instance().cursor()
    try:
        attachment = _acquire(con, key)
    except BaseException:
        con.close()
        raise
    try:
        con.execute(f"USE {attachment.alias}").fetchall()
        compat.bridge_patient_copies(con, attachment.alias)  # a database of an older version
        yield con
    finally:
        try:
            con.close()  # drops the cursor's temp views before its attachment may go
        finally:
            _release(attachment)


def _acquire(con: duckdb.DuckDBPyConnection, key: str) -> _Attachment:
    """The attachment this read uses (its user count taken), attaching the file if need be."""
    path = Path(key)
    keep = _is_published(key)
    with _ATTACH_LOCK:
        version = db_version(path)
        current = _CURRENT.get(key)
        if current is not None:
            if keep and version is not None and current.version == version:
                current.users += 1
                _CURRENT.move_to_end(key)
                return current
            _retire(key, current)  # another file (or none) is at the path now, or not kept
        alias = f"published_{uuid.uuid4().hex}"
        con.execute(f"ATTACH ? AS {alias} (READ_ONLY)", [key]).fetchall()  # raises if missing
        attachment = _Attachment(alias, version, users=1)
        if keep and version is not None and db_version(path) == version:
            attachment.current = True
            _CURRENT[key] = attachment
            if versions.number_of(path) is not None:
                _retire_older_versions(key)
            _evict_unused()
        # else: another file than the published one, or the file was replaced during the ATTACH
        # (which one was opened is unknown): for this read only, detached on release
        return attachment


def detach_idle() -> int:
    """Detach every attachment no read is using; the next read attaches its file afresh.

    For a tool about to write a file in place (DuckDB refuses that while the process keeps it
    attached) and for the benchmark's first read after a publish. Returns how many went.
    """
    with _ATTACH_LOCK:
        idle = [key for key, a in _CURRENT.items() if not a.users]
        for key in idle:
            _retire(key, _CURRENT[key])
        return len(idle)


def _is_published(key: str) -> bool:
    """Whether ``key`` is the published database (``db_path()``) or one of its version files: the
    files kept attached (a version file never changes once named, ``pipelines/versions.py``)."""
    published = str(db_path())
    if key == published:
        return True
    path = Path(key)
    if versions.number_of(path) is not None:
        published = str(versions.pointer_for(Path(published)))
        key = str(versions.pointer_for(path))
    return key == published or os.path.realpath(key) == os.path.realpath(published)


def _retire_older_versions(key: str) -> None:
    """Retire the idle attachments of the other versions of ``key``'s database (a newer one is
    read now): a pruned version's disk space is freed when its last reader leaves."""
    pointer = versions.pointer_for(Path(key))
    for other in [k for k in _CURRENT if k != key and versions.number_of(Path(k)) is not None]:
        if versions.pointer_for(Path(other)) == pointer and not _CURRENT[other].users:
            _retire(other, _CURRENT[other])


def _release(attachment: _Attachment) -> None:
    """Give back a read's use; the last user of a replaced or one-read attachment detaches it."""
    with _ATTACH_LOCK:
        attachment.users -= 1
        if attachment.users:
            return
        if not attachment.current:
            _detach(attachment)
        else:
            _evict_unused()  # over the bound while every attachment was in use


def _retire(key: str, attachment: _Attachment) -> None:
    """Stop reusing the path's attachment; detach it now if no read uses it (else on release)."""
    del _CURRENT[key]
    attachment.current = False
    if not attachment.users:
        _detach(attachment)


def _evict_unused() -> None:
    """Retire least recently used attachments nobody reads until at most MAX_ATTACHED_PATHS remain."""
    idle = [key for key, a in _CURRENT.items() if not a.users]
    for key in idle[: max(0, len(_CURRENT) - MAX_ATTACHED_PATHS)]:
        _retire(key, _CURRENT[key])


def _detach(attachment: _Attachment) -> None:
    # on a cursor of its own: a reader's cursor may be closed, or USE the database
    con = _instance().cursor()
    try:
        con.execute(f"DETACH DATABASE IF EXISTS {attachment.alias}").fetchall()
    finally:
        con.close()


_INSTANCE: duckdb.DuckDBPyConnection | None = None
_INSTANCE_LOCK = threading.Lock()


def _instance() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB instance that read connections are cursors of.

    Creating an instance costs 0.1-0.3 s (a page makes 10-30 reads), a cursor well under 1 ms.
    Its memory limit (``$KETAOPS_READ_MEMORY_LIMIT``, read once, when it is created) bounds the
    blocks it caches; beyond it queries spill to ``<system temp>/ketaops-read-<pid>`` (an
    in-memory instance would otherwise spill to ``.tmp`` in the working directory).
    """
    global _INSTANCE
    with _INSTANCE_LOCK:
        if _INSTANCE is None:
            limit = os.environ.get("KETAOPS_READ_MEMORY_LIMIT") or DEFAULT_READ_MEMORY_LIMIT
            spill = Path(tempfile.gettempdir()) / f"ketaops-read-{os.getpid()}"
            config = {"memory_limit": limit, "temp_directory": str(spill)}
            try:
                _INSTANCE = duckdb.connect(":memory:", config=config)
            except duckdb.Error as exc:
                if "KETAOPS_READ_MEMORY_LIMIT" not in os.environ:
                    raise
                raise ValueError(f"KETAOPS_READ_MEMORY_LIMIT={limit!r}: {exc}") from exc
        return _INSTANCE


def query(sql: str, params: list[object] | None = None, path: Path | None = None) -> pl.DataFrame:
    """Run one parameterised query and return a Polars frame."""
    with connect(path) as con:
        return con.sql(sql, params=params or []).pl()
