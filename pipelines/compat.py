"""Support for databases written by older versions of KetaOps, in one place.

A database published by an older version keeps working: readers take what it lacks from
elsewhere (the read-side tables' definitions inline, the patients' copied columns by a join)
until its next refresh brings it to this version's layout, which also rebuilds any read-side
table built in an older layout. The run records an older version kept beside the database
are still read.

Files an older version published:

- A database published before versions is a regular file at the published path
  (``pipelines/versions.py``): readers read the path itself, and the first versioned publish
  keeps it as version 0 (``keep_pre_version_file``), retained and pruned like any other.
- Versions before the versioned publish left the replaced file under a second name,
  ``<db name>.retired-<build name>``: the next refresh removes it (``remove_retired``).

What a refresh adds to such a database, working on its copy:

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

import glob
import os
from pathlib import Path

import duckdb

from pipelines import versions
from pipelines.contract import CONDITION_COPIES, NUMBER_COPIES, PATIENT_COPIES, TABLES
from pipelines.marts import (
    FIRST_SESSIONS,
    MAINTENANCE_SESSIONS,
    OUTCOME_IDEATION,
    OUTCOME_PATIENTS,
    OUTCOME_SESSION_SCORES,
    PER_PATIENT_TABLES,
)
from pipelines.marts.time_order import CLUSTERED
from pipelines.model.sessions import first_sessions_sql, maintenance_sessions_sql


def table_exists(con: duckdb.DuckDBPyConnection, name: str, columns: tuple[str, ...] = ()) -> bool:
    """Whether the current database has table ``name`` with ``columns``: a database published
    before the table (or the columns) existed may not."""
    [(present, found)] = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE list_contains(?, column_name)) FROM duckdb_columns() "
        "WHERE database_name = current_database() "
        "AND schema_name = current_schema() AND table_name = ?",
        [list(columns), name],
    ).fetchall()  # fetch all: DuckDB 2 results stream
    return bool(present) and found == len(columns)


# --- read-side tables (``pipelines.marts``) ----------------------------------------------

# Columns added to per-patient tables after databases were published without them: a table
# lacking one was built by an older version, is rebuilt by the next refresh and read inline
# until then.
ADDED_COLUMNS = {
    FIRST_SESSIONS: ("induction_sessions", "primary_condition", "patient_no"),
    MAINTENANCE_SESSIONS: ("primary_condition", "patient_no"),
    OUTCOME_PATIENTS: ("patient_no", "baseline_linked"),  # v2 rules: linked baseline, reliable worsening
    OUTCOME_IDEATION: ("patient_no", "rose_at"),
    OUTCOME_SESSION_SCORES: ("patient_no",),
}
# Columns per-patient tables no longer carry: a table holding one was built by an older version
# and is rebuilt by the next refresh (readers cope with it until then).
REMOVED_COLUMNS = {
    OUTCOME_PATIENTS: ("patient_key",),
    OUTCOME_IDEATION: ("patient_key",),
    OUTCOME_SESSION_SCORES: ("patient_key", "clinic_id", "condition", "route", "modality"),
}


def per_patient_tables_complete(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every per-patient table is there in this version's layout; if not, the next
    ``marts.update_per_patient_tables`` rebuilds them all (and needs no record of touched patients)."""
    return all(table_exists(con, t, ADDED_COLUMNS.get(t, ())) for t in PER_PATIENT_TABLES) and not any(
        table_exists(con, t, (column,)) for t, columns in REMOVED_COLUMNS.items() for column in columns
    )


def first_sessions_source(con: duckdb.DuckDBPyConnection) -> str:
    """FROM-clause source of first sessions: the read-side table, or its SQL on a database without it."""
    if table_exists(con, FIRST_SESSIONS, ADDED_COLUMNS[FIRST_SESSIONS]):
        return FIRST_SESSIONS
    return f"({first_sessions_sql()})"


def maintenance_sessions_source(con: duckdb.DuckDBPyConnection) -> str:
    """FROM-clause source of maintenance sessions: the table, or its SQL on a database without it."""
    if table_exists(con, MAINTENANCE_SESSIONS, ADDED_COLUMNS[MAINTENANCE_SESSIONS]):
        return MAINTENANCE_SESSIONS
    # numbered: the pages tell patients apart by patient_no (bridged on an older database)
    return f"({maintenance_sessions_sql(numbered=True)})"


def outcome_tables_present(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the outcome metrics can read the refresh's outcome tables; if not (a database
    published before them, a test fixture), they run the per-patient functions inline."""
    # the first sessions too: the session scores take their patients' day-0 attributes from them
    tables = (OUTCOME_PATIENTS, OUTCOME_IDEATION, OUTCOME_SESSION_SCORES, FIRST_SESSIONS)
    return all(table_exists(con, t, ADDED_COLUMNS.get(t, ())) for t in tables)


# --- columns the loader copies from the patients row --------------------------------------

# Columns the loader copies from the patients row that a database of an older version may lack,
# with what a temp view gives in their place until its next refresh adds them: the condition by
# a join (as before the copies), and for ``patient_no`` (pages only count distinct patients by
# it) a number per patient key from a temp table of this connection (``_PATIENT_NUMBERS``): an
# integer column with known bounds, as DuckDB's ``bitstring_agg`` needs (the network summary's
# count of active patients).
_PATIENT_NUMBERS = "_patient_numbers"
_BRIDGED = {
    "primary_condition": ("p.primary_condition", PATIENT_COPIES["primary_condition"]),
    "patient_no": ("n.patient_no", PATIENT_COPIES["patient_no"]),
}


def bridge_patient_copies(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    """On a database published before a table carried a copied column (``_BRIDGED``), a temp view
    of the table that adds it, so pages work until the next refresh adds the column.

    ``alias`` is the attached database read (``dashboard.db.connect``). Temp views belong to
    this connection only and shadow the attached tables of the same name. The check binds a
    zero-row query per column (~0.1 ms; a catalog query cost 2 ms per read).
    """
    tables = sorted({t for _, copies in _BRIDGED.values() for t in copies})
    for table in tables:
        added = []
        for column, (value, copies) in _BRIDGED.items():
            if table not in copies:
                continue
            try:
                con.execute(f"SELECT {column} FROM {alias}.main.{table} LIMIT 0").fetchall()
            except duckdb.CatalogException:  # no such table (not a KetaOps database): nothing to bridge
                break
            except duckdb.BinderException:
                added.append(value)
        if added:
            joins = ""
            if any(v.startswith("p.") for v in added):
                joins += f" LEFT JOIN {alias}.main.patients p USING (patient_key)"
            if any(v.startswith("n.") for v in added):
                con.execute(  # ~0.05 s per read of an old database, until its next refresh
                    f"CREATE TEMP TABLE IF NOT EXISTS {_PATIENT_NUMBERS} AS SELECT patient_key, "
                    f"CAST(row_number() OVER (ORDER BY patient_key) AS INTEGER) AS patient_no "
                    f"FROM {alias}.main.patients"
                ).fetchall()
                joins += f" LEFT JOIN {_PATIENT_NUMBERS} n USING (patient_key)"
            view = f"SELECT t.*, {', '.join(added)} FROM {alias}.main.{table} t{joins}"
            con.execute(f"CREATE TEMP VIEW {table} AS {view}").fetchall()


# --- runs recorded beside the database (``pipelines.publish``) ---------------------------

# Versions before December 2026 recorded failed runs only, in this file: still read and folded.
LEGACY_SIDE_RUNS_SUFFIX = ".failed-runs.jsonl"


def legacy_side_runs_path(db: Path) -> Path:
    return db.with_name(db.name + LEGACY_SIDE_RUNS_SUFFIX)


# --- files an older version published beside the database ---------------------------------

# Versions before the versioned publish gave the file a publish replaced this second name.
RETIRED_MARK = ".retired-"


def remove_retired(db: Path) -> None:
    """Delete the files publishes of older versions replaced (their readers keep them open)."""
    for path in db.parent.glob(f"{glob.escape(db.name)}{RETIRED_MARK}*"):
        path.unlink(missing_ok=True)


def keep_pre_version_file(db: Path) -> Path | None:
    """Give a database published before versions (a regular file at ``db``) the name of
    version 0 (a hard link: free) before the pointer replaces it; None when there is none,
    or the folder has no hard links (the pointer's rename then drops the old file itself)."""
    if db.is_symlink() or not db.is_file():
        return None
    target = versions.version_path(db, 0)
    if not target.exists():
        try:
            os.link(db, target)
        except OSError:
            return None
    return target


# --- columns an older database lacks, added by the refresh (``load.ensure_schema``) --------


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


# --- contract v2 tables and columns a database published before v2 lacks -----------------

# What a reader takes in place of a v2 table until the next refresh creates it: no rows, the
# published columns. A database published before v2 holds v1 data only, so every session in
# it has no vitals rows and no provider (metrics.md "Monitoring compliance": such sessions
# count as incomplete and unscored).
_V2_EMPTY = {
    "vitals": (
        "SELECT CAST(NULL AS VARCHAR) AS vital_id, CAST(NULL AS VARCHAR) AS session_id, "
        "CAST(NULL AS VARCHAR) AS clinic_id, CAST(NULL AS TIMESTAMP) AS taken_at, "
        "CAST(NULL AS VARCHAR) AS timepoint, CAST(NULL AS INTEGER) AS bp_sys, "
        "CAST(NULL AS INTEGER) AS bp_dia, CAST(NULL AS INTEGER) AS hr, CAST(NULL AS INTEGER) AS spo2, "
        "CAST(NULL AS INTEGER) AS resp_rate WHERE FALSE"
    ),
    "medications": (
        "SELECT CAST(NULL AS VARCHAR) AS medication_id, CAST(NULL AS VARCHAR) AS patient_key, "
        "CAST(NULL AS VARCHAR) AS clinic_id, CAST(NULL AS VARCHAR) AS drug_class, "
        "CAST(NULL AS DATE) AS started_on, CAST(NULL AS DATE) AS stopped_on WHERE FALSE"
    ),
}


def v2_table_source(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """FROM-clause source of a contract v2 table (``vitals``, ``medications``): the table, or an
    empty one with its columns on a database published before it existed."""
    if table_exists(con, name):
        return name
    return f"({_V2_EMPTY[name]})"


def has_provider_key(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``sessions`` has ``provider_key`` (contract v2); readers use NULL where it has not."""
    return table_exists(con, "sessions", ("provider_key",))
