"""Shared fixtures: tiny hand-written databases in the published schema."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.contract import TABLES_BY_NAME, schema_ddl

Rows = Mapping[str, Sequence[Mapping[str, Any]]]


def write_db(path: Path, rows: Rows) -> Path:
    """Create a database in the published schema holding exactly ``rows``.

    Missing columns are null; ``session_number`` is *not* derived, so tests
    state it explicitly when they need it. A ``refresh_runs`` row is added
    unless the caller gives its own, because readers key caches on it.
    """
    con = duckdb.connect(str(path))
    try:
        for ddl in schema_ddl():
            con.execute(ddl)
        for table, records in rows.items():
            if not records:
                continue
            cols = (
                [name for name, _ in TABLES_BY_NAME[table].published_columns]
                if table in TABLES_BY_NAME
                else [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()]
            )
            unknown = {k for r in records for k in r} - set(cols)
            assert not unknown, f"{table}: unknown columns {unknown}"
            placeholders = ", ".join("?" for _ in cols)
            con.executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders})",
                [[r.get(c) for c in cols] for r in records],
            )
        if "refresh_runs" not in rows:
            con.execute(
                "INSERT INTO refresh_runs VALUES ('fixture', now()::TIMESTAMP, now()::TIMESTAMP, "
                "'succeeded', 0, 0, 0, 0, 0, 'fixture database')"
            )
    finally:
        con.close()
    return path


@pytest.fixture
def make_db(tmp_path: Path) -> Callable[[Rows], Path]:
    """``make_db({"clinics": [...], "sessions": [...]})`` → path of a new database."""
    counter = iter(range(10**6))

    def _make(rows: Rows) -> Path:
        return write_db(tmp_path / f"fixture-{next(counter)}.duckdb", rows)

    return _make
