"""Databases written by older versions: what they lack and how a refresh brings them up to date.

A refresh builds on a copy of the published database, which an older version may have
written. What such a database may lack, and what adds it:

- The patient's condition on the rows that carry it (``contract.CONDITION_COPIES``:
  sessions, adverse events): ``add_patient_conditions`` adds the column, filled from the
  patients rows.
- Canonical columns of a later contract version (``sessions.provider_key``, v2):
  ``add_canonical_columns`` adds them, empty (an older version loaded no value for them).
  The tables of a later version (``vitals``, ``medications``) are created empty by
  ``load.ensure_schema`` like any missing table.
- Patient numbers (``patients.patient_no`` and its copies, ``contract.NUMBER_COPIES``):
  ``add_patient_numbers`` numbers the patients in key order and copies the numbers.
  Both run in ``load.ensure_schema`` before anything is loaded, and rewrite each table once.
- Any table or column of this version: ``published_files_to_check`` sends a run that finds
  no changed export through the build path anyway (``load.schema_is_current``), so the first
  run of a version publishes what it adds.
- Bookkeeping tables (``source_files`` …): the published file cannot say which files
  changed, so ``published_files_to_check`` sends the run through the build path, whose
  ``load.ensure_schema`` creates the missing tables (without ``source_files``, every
  export is read again). A column added to an existing bookkeeping table is not added
  (``source_files.file_mtime``): such a database fails its refresh.

Elsewhere, because they check every database, older or not, on every refresh: key hashes
missing, 128-bit or made by another hash function are rebuilt by
``load.key_hashes.sync_key_hashes``; a missing or miscounted ``patient_session_tails`` by
``load.numbering.sync_session_tails``.
"""

from __future__ import annotations

import duckdb

from pipelines.contract import CONDITION_COPIES, NUMBER_COPIES, TABLES
from pipelines.summaries import CLUSTERED, table_exists


def add_canonical_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Add the canonical columns a data table of an older database lacks; returns ``table.column``.

    An ``ALTER TABLE … ADD COLUMN`` of an empty column: no rewrite. Only canonical columns: the
    derived ones need values (``add_patient_conditions``, ``add_patient_numbers``).
    """
    added = []
    for table in TABLES:
        present = {
            name
            for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                "AND schema_name = current_schema() AND table_name = ?",
                [table.name],
            ).fetchall()
        }
        if not present:  # created whole by the schema's DDL
            continue
        for column in table.columns:
            if column.name not in present:
                add = f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.duckdb_type}"
                con.execute(add).fetchall()
                added.append(f"{table.name}.{column.name}")
    return added


def add_patient_conditions(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Add ``primary_condition`` to tables of a database published before they carried it."""
    return _add_patient_copy(con, "primary_condition", CONDITION_COPIES)


def add_patient_numbers(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Number the patients of a database published before ``patient_no`` and copy the numbers
    onto their rows (1, 2, … in key order: any order will do, they only have to stay)."""
    added = []
    if not table_exists(con, "patients", ("patient_no",)):
        numbered = (
            "SELECT *, CAST(row_number() OVER (ORDER BY patient_key) AS INTEGER) AS patient_no FROM patients"
        )
        _rewrite(con, "patients", numbered)
        added.append("patients")
    return added + _add_patient_copy(con, "patient_no", NUMBER_COPIES)


def _add_patient_copy(con: duckdb.DuckDBPyConnection, column: str, tables: tuple[str, ...]) -> list[str]:
    """Add ``column`` of the patients row to ``tables`` lacking it; returns the tables rewritten.

    A table is rewritten (in its read-side order) rather than updated: an UPDATE of millions
    of rows is slow in DuckDB, and this runs once per database.
    """
    added = []
    for table in (t for t in TABLES if t.name in tables):
        if table_exists(con, table.name, (column,)):
            continue
        order = "".join(f" ORDER BY t.{c}, t.{table.key}" for t, c in CLUSTERED if t == table.name)
        _rewrite(con, table.name, f"SELECT t.*, p.{column} FROM {table.name} t "
                 f"LEFT JOIN patients p USING (patient_key){order}")  # fmt: skip
        added.append(table.name)
    return added


def _rewrite(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> None:
    """Replace ``table`` by the rows of ``sql`` (which may read it), under the same name."""
    con.execute(f"CREATE TABLE _rewritten AS {sql}").fetchall()
    con.execute(f"DROP TABLE {table}").fetchall()
    con.execute(f"ALTER TABLE _rewritten RENAME TO {table}").fetchall()


def published_files_to_check(
    con: duckdb.DuckDBPyConnection, found: list[tuple[str, str, int, int]]
) -> list[tuple[str, str, int, str | None]] | None:
    """``load.files_to_check`` asked of the published database; None if an older version wrote it.

    None sends the run through the build path, which brings the copy up to date: when the
    bookkeeping cannot answer, or when nothing changed but this version's schema adds
    something (else the new table or column would wait for the next export).
    """
    from pipelines.load import files_to_check, schema_is_current  # the loader imports this module

    try:
        changed = files_to_check(con, found)
        # the schema matters only when there is nothing else to publish (0.13 s of a day's run)
        return changed if changed or schema_is_current(con) else None
    except duckdb.Error:  # e.g. bookkeeping of an older version: the build path creates what it lacks
        return None
