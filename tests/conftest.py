"""Shared fixtures: tiny hand-written databases in the published schema."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.contract import CONDITION_COPIES, NUMBER_COPIES, TABLES_BY_NAME, schema_ddl
from pipelines.load import ensure_schema
from pipelines.load.loader import staged_columns
from pipelines.load.numbering import insert_sessions_renumbered

Rows = Mapping[str, Sequence[Mapping[str, Any]]]


def write_db(path: Path, rows: Rows) -> Path:
    """Create a database in the published schema holding exactly ``rows``.

    Missing columns are null. ``session_number`` is derived by the loader's own
    numbering (as in a refreshed database) unless some session row states it:
    tests of the numbering's consumers can then give exact, even odd, values.
    ``primary_condition`` of sessions and AEs is the patient's, as the loader copies it.
    A ``refresh_runs`` row is added unless the caller gives its own, because
    readers key caches on it.
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
        sessions = rows.get("sessions") or []
        if sessions and not any("session_number" in r for r in sessions):
            _number_sessions(con)
        number_patients(con)
        # the loader copies each patient's condition onto their sessions; so does the fixture,
        # unless a row states its own
        for table in CONDITION_COPIES:
            con.execute(
                f"UPDATE {table} SET primary_condition = p.primary_condition FROM patients p "
                f"WHERE {table}.patient_key = p.patient_key AND {table}.primary_condition IS NULL"
            )
        if "refresh_runs" not in rows:
            con.execute(
                "INSERT INTO refresh_runs VALUES ('fixture', now()::TIMESTAMP, now()::TIMESTAMP, "
                "'succeeded', 0, 0, 0, 0, 0, 'fixture database')"
            )
    finally:
        con.close()
    return path


def number_patients(con: duckdb.DuckDBPyConnection) -> None:
    """Number the patients (``patient_no``) and put the numbers on their rows, as the loader does.

    Every key gets a number, also one without a patients row (fixtures may leave it out;
    the loader's foreign-key check never does).
    """
    keys = " UNION ".join(f"SELECT patient_key FROM {t}" for t in ("patients", *NUMBER_COPIES))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _patient_numbers AS SELECT patient_key, "
        f"CAST(row_number() OVER (ORDER BY patient_key) AS INTEGER) AS no FROM ({keys})"
    )
    for table in ("patients", *NUMBER_COPIES):
        con.execute(
            f"UPDATE {table} SET patient_no = n.no FROM _patient_numbers n "
            f"WHERE {table}.patient_key = n.patient_key"
        )
    con.execute("DROP TABLE _patient_numbers")


def _number_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """Re-insert the sessions through the loader's numbering (``numbering.insert_sessions_renumbered``)."""
    cols = ", ".join(staged_columns(TABLES_BY_NAME["sessions"]))
    con.execute(f"CREATE TEMP TABLE _final AS SELECT {cols} FROM sessions")
    con.execute("DELETE FROM sessions")
    ensure_schema(con)  # the loader's own bookkeeping tables, as a refresh has them
    con.execute("CREATE TEMP TABLE _old AS SELECT rowid AS _rid, patient_key FROM sessions WHERE FALSE")
    insert_sessions_renumbered(con, cols)


@pytest.fixture
def make_db(tmp_path: Path) -> Callable[[Rows], Path]:
    """``make_db({"clinics": [...], "sessions": [...]})`` → path of a new database."""
    counter = iter(range(10**6))

    def _make(rows: Rows) -> Path:
        return write_db(tmp_path / f"fixture-{next(counter)}.duckdb", rows)

    return _make


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs that cannot write beside their database log to a state folder: never the tester's own."""
    monkeypatch.setenv("KETAOPS_STATE_DIR", str(tmp_path_factory.mktemp("state")))
