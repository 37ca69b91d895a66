"""Read-side layout of the published database, maintained by every refresh after the load.

The dashboard filters almost every query on a period of ``sessions.scheduled_at``.
DuckDB skips a row group (122,880 rows) whose min/max of the filtered column lie
outside the period, but only if rows are stored roughly in time order. The loader
appends file by file (clinic by clinic), so after a full load every row group
spans the whole history and a 30-day query reads all ~10M sessions. ``optimise``
re-writes such a table in time order; an incremental refresh appends recent days
at the end, which keeps the order, so it costs one cheap metadata-sized check.

``optimise`` also keeps per-patient tables: ``patient_first_sessions`` (each
patient's first administered session: day 0 of the outcomes cohort, in day-0
order, so a period's cohort is a range read instead of a pass over every
history) and the outcome tables of ``pipelines/outcome_tables.py``. A full load
rebuilds them; a daily load recomputes only the patients it touched
(``_touched_patients``, filled by the loader), first sessions only those of them whose
first session can change (``update_first_sessions``). ``first_sessions_sql`` is the one
definition: a reader uses the table when present and the same SQL inline
otherwise (``first_sessions_source``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import duckdb

from pipelines.contract import ADVERSE_EVENTS, SESSIONS, TABLES_BY_NAME, data_table_ddl

# (table, timestamp column) kept in (about) time order: re-sorted only when their row groups
# overlap more than MAX_SPREAD (the sessions are inserted as staged, month by month, spread ~1.8;
# the adverse events sorted on insert). Adverse events (730k rows at network scale,
# six row groups) are filtered on onset_at by every Safety query: in time order a quarter reads
# one row group instead of all. Assessments are not: only the outcome scores read them, per
# cohort patient (the refresh's outcome chunks, and pages on a database without the outcome
# tables), and the refresh's five chunk reads took as long unsorted (7.4-7.9 s against
# 7.6-8.8 s), while sorting 9M rows on insert cost ~1-1.5 s of every full load.
CLUSTERED: tuple[tuple[str, str], ...] = (
    (SESSIONS.name, "scheduled_at"),
    (ADVERSE_EVENTS.name, "onset_at"),
)

ROW_GROUP_ROWS = 122_880  # DuckDB's default row-group size
MAX_SPREAD = 4.0  # re-sort when row groups overlap this many times the table's time span


def time_spread(
    con: duckdb.DuckDBPyConnection, table: str, column: str, row_group_rows: int = ROW_GROUP_ROWS
) -> float:
    """Sum of the row groups' time spans ÷ the table's time span.

    About 1 when rows are stored in time order (each period lives in a few row
    groups), about the number of row groups when every group spans the whole
    history. 0 for an empty table or a single instant.
    """
    [(spread,)] = con.execute(
        f"""
        WITH g AS (SELECT rowid // {int(row_group_rows)} AS rg, min({column}) AS lo, max({column}) AS hi
                   FROM {table} WHERE {column} IS NOT NULL GROUP BY 1)
        SELECT coalesce(sum(epoch(hi) - epoch(lo)) / nullif(epoch(max(hi)) - epoch(min(lo)), 0), 0)
        FROM g"""
    ).fetchall()
    return float(spread)


def cluster_by_time(
    con: duckdb.DuckDBPyConnection, table: str, column: str, row_group_rows: int = ROW_GROUP_ROWS
) -> bool:
    """Rewrite ``table`` ordered by ``column`` if its row groups overlap too much; True if rewritten."""
    if time_spread(con, table, column, row_group_rows) <= MAX_SPREAD:
        return False
    # a new table rather than DELETE + INSERT: no tombstoned row groups left in front
    staged = f"_{table}_clustered"
    con.execute(f"DROP TABLE IF EXISTS {staged}").fetchall()
    if table in TABLES_BY_NAME:  # a data table: its own DDL keeps its columns' storage
        con.execute(data_table_ddl(TABLES_BY_NAME[table], staged)).fetchall()
        con.execute(f"INSERT INTO {staged} BY NAME SELECT * FROM {table} ORDER BY {column}").fetchall()
    else:
        con.execute(f"CREATE TABLE {staged} AS SELECT * FROM {table} ORDER BY {column}").fetchall()
    con.execute(f"DROP TABLE {table}").fetchall()
    con.execute(f"ALTER TABLE {staged} RENAME TO {table}").fetchall()
    return True


FIRST_SESSIONS = "patient_first_sessions"
# Per-patient outcome tables (pipelines/outcome_tables.py builds them from the outcome
# metrics' own per-patient functions; dashboard/metrics/outcomes.py reads them).
OUTCOME_PATIENTS = "outcome_patients"
OUTCOME_IDEATION = "outcome_ideation"
OUTCOME_SESSION_SCORES = "outcome_session_scores"
# Each administered maintenance session with the patient's previous one (the maintenance cadence,
# dashboard/metrics/throughput.py ``maintenance_sessions_sql``).
MAINTENANCE_SESSIONS = "maintenance_sessions"
PER_PATIENT_TABLES = (
    FIRST_SESSIONS,
    MAINTENANCE_SESSIONS,
    OUTCOME_PATIENTS,
    OUTCOME_IDEATION,
    OUTCOME_SESSION_SCORES,
)
TOUCHED_PATIENTS = "_touched_patients"  # filled by pipelines.load during the run
# Per touched patient: their number (``patients.patient_no``: the per-patient updates find a
# patient's rows in the big tables by this 4-byte integer; a scan of 9M assessments took 0.23 s
# by key, 0.05 s by number), the earliest session touched and whether their patients row was.
TOUCHED_NUMBERS = "_touched_numbers"
# Above this share of all patients touched, rebuilding beats deleting and re-inserting.
FULL_REBUILD_SHARE = 0.25


def first_sessions_sql(patients: str = "TRUE", numbered: bool = False) -> str:
    """Each patient's first administered session: the one the loader numbers 1 (by
    ``scheduled_at``, ties by ``session_id``, over all clinics), as new starts count it,
    with the patient's ``induction_sessions`` (the induction metrics' per-patient count,
    ``dashboard.metrics.throughput.induction_sessions_sql``).
    ``patients`` restricts the patients (a condition on ``patient_key``; SQL of this module,
    never input). Reading the loader's number is an integer filter; re-deriving the first
    session with a GROUP BY over every history took 1.4 s for a day's patients at 6M sessions.
    ``numbered`` adds ``patient_no`` (the refresh's table; a database of an older version read
    inline may lack the column)."""
    from dashboard.metrics.throughput import induction_sessions_sql  # the metric owns its definition

    firsts = f"""
        SELECT patient_key, {"patient_no, " if numbered else ""}session_id, scheduled_at AS day0, clinic_id,
               route, modality, primary_condition
        FROM {SESSIONS.name} WHERE session_number = 1 AND ({patients})"""
    key = "patient_no" if numbered else "patient_key"  # the integer where there is one
    return f"""
    SELECT f.*, coalesce(n.induction_sessions, 0) AS induction_sessions
    FROM ({firsts}) f LEFT JOIN ({induction_sessions_sql(firsts, key)}) n USING ({key})"""


TOUCHED_ONLY = f"patient_no IN (SELECT patient_no FROM {TOUCHED_NUMBERS})"
# Columns added to per-patient tables after databases were published without them: a table
# lacking one was built by an older version, is rebuilt by the next refresh and read inline
# until then.
ADDED_COLUMNS = {
    FIRST_SESSIONS: ("induction_sessions", "primary_condition", "patient_no"),
    MAINTENANCE_SESSIONS: ("primary_condition", "patient_no"),
    OUTCOME_PATIENTS: ("patient_no",),
    OUTCOME_IDEATION: ("patient_no",),
    OUTCOME_SESSION_SCORES: ("patient_no",),
}


def build_first_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build ``patient_first_sessions`` (a full rebuild: ~1.5 s for 6M sessions under load)."""
    sql = f"CREATE OR REPLACE TABLE {FIRST_SESSIONS} AS {first_sessions_sql(numbered=True)} ORDER BY day0"
    con.execute(sql).fetchall()


FIRST_MAY_CHANGE = "_first_may_change"


def update_first_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the rows of the touched patients whose first session or induction count can change.

    Those are the patients without a first session yet, those with a session loaded or
    replaced before the end of their induction window (day 0's date + 43 days: it may
    become, stop being or be counted beside the first), and those whose patients row
    changed (the condition the row carries). A long-treated patient's new maintenance
    session changes nothing here. The new first session is never before the earlier of
    the old day 0 and the earliest touched session, which bounds the sessions read:
    recent row groups only, instead of every patient's history (0.40 → 0.01 s for a day
    at network scale).
    """
    from dashboard.metrics.throughput import INDUCTION_WINDOW_DAYS

    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {FIRST_MAY_CHANGE} AS
        SELECT t.patient_no, least(f.day0, t.session_at) AS since
        FROM {TOUCHED_NUMBERS} t LEFT JOIN {FIRST_SESSIONS} f USING (patient_no)
        WHERE (t.session_at IS NOT NULL AND (f.day0 IS NULL
                 OR t.session_at < CAST(CAST(f.day0 AS DATE) + {INDUCTION_WINDOW_DAYS + 1} AS TIMESTAMP)))
           OR (t.patient_row AND f.day0 IS NOT NULL)"""
    ).fetchall()
    [(since,)] = con.execute(f"SELECT min(since) FROM {FIRST_MAY_CHANGE}").fetchall()
    if since is not None:  # else no patient's first session can have changed
        _replace_first_sessions(con, since)
    con.execute(f"DROP TABLE {FIRST_MAY_CHANGE}").fetchall()


def _replace_first_sessions(con: duckdb.DuckDBPyConnection, since: object) -> None:
    chosen = f"patient_no IN (SELECT patient_no FROM {FIRST_MAY_CHANGE})"
    con.execute(f"DELETE FROM {FIRST_SESSIONS} WHERE {chosen}").fetchall()
    bounded = f"{chosen} AND scheduled_at >= $since"
    sql = f"INSERT INTO {FIRST_SESSIONS} {first_sessions_sql(bounded, numbered=True)} ORDER BY day0"
    con.execute(sql, {"since": since}).fetchall()


def build_maintenance_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build ``maintenance_sessions`` in time order (a year of them is then a range read)."""
    from dashboard.metrics.throughput import maintenance_sessions_sql

    sql = maintenance_sessions_sql(numbered=True)
    con.execute(f"CREATE OR REPLACE TABLE {MAINTENANCE_SESSIONS} AS {sql} ORDER BY scheduled_at").fetchall()


MAINTENANCE_FROM = "_maintenance_from"


def update_maintenance_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the touched patients' maintenance rows from their earliest touched session on.

    A row is a session with the one before it (``maintenance_sessions_sql``), so a session
    loaded or replaced at time t (the replaced row's old time too) changes rows at t or later
    only: a new session may sit between two older ones and become its successor's previous
    one. Rows from ``since`` (the earliest touched session; all of them for a changed patients
    row, whose condition every row carries) are recomputed from the sessions at or after
    ``lower``, the last unchanged row's time, so the first recomputed row still finds the
    session before it. Only recent sessions are read, instead of every touched patient's
    whole history (a day at network scale: 0.14 s; docs/performance.md). A patient touched by
    an assessment only keeps their rows.
    """
    from dashboard.metrics.throughput import maintenance_sessions_sql

    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {MAINTENANCE_FROM} AS
        WITH t AS (SELECT patient_no, CASE WHEN NOT patient_row THEN session_at END AS since, session_at
                   FROM {TOUCHED_NUMBERS} WHERE session_at IS NOT NULL OR patient_row)
        SELECT t.patient_no, t.since,
               CASE WHEN t.since IS NULL THEN least(min(m.scheduled_at), t.session_at)
                    ELSE coalesce(max(m.scheduled_at) FILTER (WHERE m.scheduled_at < t.since), t.since)
               END AS lower
        FROM t LEFT JOIN {MAINTENANCE_SESSIONS} m USING (patient_no)
        GROUP BY t.patient_no, t.since, t.session_at"""
    ).fetchall()
    con.execute(
        f"DELETE FROM {MAINTENANCE_SESSIONS} m USING {MAINTENANCE_FROM} c "
        "WHERE m.patient_no = c.patient_no AND (c.since IS NULL OR m.scheduled_at >= c.since)"
    ).fetchall()
    [(lower,)] = con.execute(f"SELECT min(lower) FROM {MAINTENANCE_FROM}").fetchall()
    if lower is not None:  # else no touched patient has a maintenance session to (re)compute
        chosen = f"patient_no IN (SELECT patient_no FROM {MAINTENANCE_FROM}) AND scheduled_at >= $lower"
        rows = maintenance_sessions_sql(chosen, numbered=True)
        con.execute(
            f"INSERT INTO {MAINTENANCE_SESSIONS} SELECT x.* FROM ({rows}) x JOIN {MAINTENANCE_FROM} c "
            "USING (patient_no) WHERE c.since IS NULL OR x.scheduled_at >= c.since ORDER BY x.scheduled_at",
            {"lower": lower},
        ).fetchall()
    con.execute(f"DROP TABLE {MAINTENANCE_FROM}").fetchall()


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


def maintenance_sessions_source(con: duckdb.DuckDBPyConnection) -> str:
    """FROM-clause source of maintenance sessions: the table, or its SQL on a database without it."""
    if table_exists(con, MAINTENANCE_SESSIONS, ADDED_COLUMNS[MAINTENANCE_SESSIONS]):
        return MAINTENANCE_SESSIONS
    from dashboard.metrics.throughput import maintenance_sessions_sql

    # numbered: the pages tell patients apart by patient_no (bridged on an older database)
    return f"({maintenance_sessions_sql(numbered=True)})"


def first_sessions_source(con: duckdb.DuckDBPyConnection) -> str:
    """FROM-clause source of first sessions: the summary table, or its SQL on a database without it."""
    if table_exists(con, FIRST_SESSIONS, ADDED_COLUMNS[FIRST_SESSIONS]):
        return FIRST_SESSIONS
    return f"({first_sessions_sql()})"


def touched_patients(con: duckdb.DuckDBPyConnection) -> int:
    """How many patients this run's load touched (0 when it loaded none)."""
    [(present,)] = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [TOUCHED_PATIENTS]
    ).fetchall()
    if not present:
        return 0
    return int(con.execute(f"SELECT count(DISTINCT patient_key) FROM {TOUCHED_PATIENTS}").fetchall()[0][0])


# Columns per-patient tables no longer carry: a table holding one was built by an older version
# and is rebuilt by the next refresh (readers cope with it until then).
REMOVED_COLUMNS = {
    OUTCOME_PATIENTS: ("patient_key",),
    OUTCOME_IDEATION: ("patient_key",),
    OUTCOME_SESSION_SCORES: ("patient_key", "clinic_id", "condition", "route", "modality"),
}


def per_patient_tables_complete(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every per-patient table is there in this version's layout; if not, the next
    ``update_per_patient_tables`` rebuilds them all (and needs no record of touched patients)."""
    return all(table_exists(con, t, ADDED_COLUMNS.get(t, ())) for t in PER_PATIENT_TABLES) and not any(
        table_exists(con, t, (column,)) for t, columns in REMOVED_COLUMNS.items() for column in columns
    )


def update_per_patient_tables(con: duckdb.DuckDBPyConnection) -> str:
    """Bring the per-patient tables up to date: "rebuilt", "updated" (touched patients) or "unchanged"."""
    from pipelines import outcome_tables  # imports the outcome metrics, which import this module

    complete = per_patient_tables_complete(con)
    touched = touched_patients(con) if complete else 0  # a first load need not count its million
    [(patients,)] = con.execute("SELECT count(*) FROM patients").fetchall()
    if not complete or touched > FULL_REBUILD_SHARE * patients:
        # The maintenance rows are built on a cursor of their own beside the first sessions, the
        # outcome cohort and the first outcome chunk: each of those leaves a core idle much of
        # the time (docs/performance.md). The outcome rows are written once they are done. (The
        # pool is left before the cursor is closed: a failure here still waits for the build.)
        with closing(con.cursor()) as side, ThreadPoolExecutor(1, "ketaops-maintenance") as pool:
            maintenance = pool.submit(build_maintenance_sessions, side)
            build_first_sessions(con)  # the outcome rebuild's cohort is read from it
            outcome_tables.rebuild(con, meanwhile=maintenance.result)
        return "rebuilt"
    if not touched:
        return "unchanged"
    con.execute(  # per patient: the earliest session touched, whether their patients row changed
        f"CREATE OR REPLACE TEMP TABLE {TOUCHED_NUMBERS} AS SELECT p.patient_no, "
        "min(t.session_at) AS session_at, bool_or(t.patient_row) AS patient_row "
        f"FROM {TOUCHED_PATIENTS} t JOIN patients p USING (patient_key) GROUP BY p.patient_no"
    ).fetchall()
    update_first_sessions(con)
    update_maintenance_sessions(con)
    outcome_tables.update_touched(con)
    # touched patients' rows go back in at the end: re-sort when that has scattered the time order
    cluster_by_time(con, FIRST_SESSIONS, "day0")
    cluster_by_time(con, MAINTENANCE_SESSIONS, "scheduled_at")
    return "updated"


def optimise(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Bring the read-side layout up to date after a load; returns the tables rewritten or updated."""
    con.execute("SET enable_progress_bar = false").fetchall()  # no terminal bars in refresh logs
    rewritten = [table for table, column in CLUSTERED if cluster_by_time(con, table, column)]
    if update_per_patient_tables(con) != "unchanged":
        rewritten += PER_PATIENT_TABLES
    return rewritten
