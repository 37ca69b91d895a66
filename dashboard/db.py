"""Read-only access to the published database.

The refresh publishes by atomically replacing the file (see
``pipelines/publish.py``). DuckDB caches one database instance per path per
process, so a connection held open would keep serving the old file; every
read therefore opens a short-lived read-only connection, and caches are keyed
on ``db_version`` so a new publish is picked up without a restart.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from pipelines.contract import CONDITION_COPIES

DEFAULT_DB = Path("data/ketaops.duckdb")


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


@contextmanager
def connect(path: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, closed on exit so the next publish is seen.

    The file is ATTACHed read-only (under a name of its own) to an in-memory database rather than
    opened with ``duckdb.connect(path)``: DuckDB reuses an open instance per
    path within a process, so under concurrent Streamlit sessions a "new"
    connection could keep serving the replaced file (and a cache keyed on the
    new ``db_version`` would then hold old data). A fresh ATTACH always opens
    the file currently at the path.
    """
    # A cursor on one shared in-memory instance, with the file ATTACHed under a name of its
    # own: creating a DuckDB instance costs 0.1-0.3 s (a page makes 10-30 reads), a cursor
    # and an ATTACH a few ms. DETACH on exit closes the file, as closing the instance did.
    con = _instance().cursor()
    alias = f"published_{uuid.uuid4().hex}"
    try:
        con.execute(f"ATTACH ? AS {alias} (READ_ONLY)", [str(path or db_path())]).fetchall()
        con.execute(f"USE {alias}").fetchall()
        _bridge_condition_copies(con, alias)
    except BaseException:
        con.close()
        raise
    try:
        yield con
    finally:
        try:
            con.execute("USE memory").fetchall()
            con.execute(f"DETACH {alias}").fetchall()
        finally:
            con.close()


def _bridge_condition_copies(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    """On a database published before sessions and AEs carried the patient's condition, temp
    views that add it (a join, as before), so pages work until the next refresh adds the column.

    Temp views belong to this connection only and shadow the attached tables of the same name.
    The check binds a zero-row query per table (~0.1 ms; a catalog query cost 2 ms per read).
    """
    for table in CONDITION_COPIES:
        try:
            con.execute(f"SELECT primary_condition FROM {alias}.main.{table} LIMIT 0").fetchall()
        except duckdb.CatalogException:  # no such table (not a KetaOps database): nothing to bridge
            continue
        except duckdb.BinderException:
            con.execute(
                f"CREATE TEMP VIEW {table} AS SELECT t.*, p.primary_condition FROM {alias}.main.{table} t "
                f"LEFT JOIN {alias}.main.patients p USING (patient_key)"
            ).fetchall()


_INSTANCE: duckdb.DuckDBPyConnection | None = None
_INSTANCE_LOCK = threading.Lock()


def _instance() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB instance that read connections are cursors of."""
    global _INSTANCE
    with _INSTANCE_LOCK:
        if _INSTANCE is None:
            _INSTANCE = duckdb.connect(":memory:")
        return _INSTANCE


def query(sql: str, params: list[object] | None = None, path: Path | None = None) -> pl.DataFrame:
    """Run one parameterised query and return a Polars frame."""
    with connect(path) as con:
        return con.sql(sql, params=params or []).pl()
