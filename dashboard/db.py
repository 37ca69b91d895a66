"""Read-only access to the published database.

The refresh publishes by atomically replacing the file (see
``pipelines/publish.py``). DuckDB caches one database instance per path per
process, so a connection held open would keep serving the old file; every
read therefore opens a short-lived read-only connection, and caches are keyed
on ``db_version`` so a new publish is picked up without a restart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

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

    The file is ATTACHed read-only to a private in-memory database rather than
    opened with ``duckdb.connect(path)``: DuckDB reuses an open instance per
    path within a process, so under concurrent Streamlit sessions a "new"
    connection could keep serving the replaced file (and a cache keyed on the
    new ``db_version`` would then hold old data). A fresh instance always opens
    the file currently at the path.
    """
    con = duckdb.connect(":memory:")
    try:
        con.execute("ATTACH ? AS published (READ_ONLY)", [str(path or db_path())]).fetchall()
        con.execute("USE published").fetchall()
    except BaseException:
        con.close()
        raise
    try:
        yield con
    finally:
        con.close()


def query(sql: str, params: list[object] | None = None, path: Path | None = None) -> pl.DataFrame:
    """Run one parameterised query and return a Polars frame."""
    with connect(path) as con:
        return con.sql(sql, params=params or []).pl()
