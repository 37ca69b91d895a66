"""Read-side tables of the published database, maintained by every refresh after the load.

``maintain`` puts the big tables in time order (``time_order``) and keeps the per-patient
tables: ``patient_first_sessions`` (each patient's day 0, ``first_sessions``),
``maintenance_sessions`` (``maintenance``) and the outcome tables (``outcome_tables``). They
are caches of the shared model's steps (``pipelines.model``), never second definitions: a
reader takes the table when present and the same definition inline otherwise
(``pipelines.compat``). A full load rebuilds them; a daily load recomputes only the patients
it touched (``TOUCHED_PATIENTS``, filled by the loader), first sessions only those of them
whose first session can change (``first_sessions.update_first_sessions``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import duckdb

from pipelines.marts.time_order import CLUSTERED, cluster_by_time

FIRST_SESSIONS = "patient_first_sessions"
# Per-patient outcome tables (``outcome_tables`` builds them with the model's per-patient
# outcome functions; the dashboard's outcome metrics read them).
OUTCOME_PATIENTS = "outcome_patients"
OUTCOME_IDEATION = "outcome_ideation"
OUTCOME_SESSION_SCORES = "outcome_session_scores"
# Each administered maintenance session with the patient's previous one (the maintenance cadence,
# ``model.sessions.maintenance_sessions_sql``).
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
TOUCHED_ONLY = f"patient_no IN (SELECT patient_no FROM {TOUCHED_NUMBERS})"
# Above this share of all patients touched, rebuilding beats deleting and re-inserting.
FULL_REBUILD_SHARE = 0.25


def touched_patients(con: duckdb.DuckDBPyConnection) -> int:
    """How many patients this run's load touched (0 when it loaded none)."""
    [(present,)] = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [TOUCHED_PATIENTS]
    ).fetchall()
    if not present:
        return 0
    return int(con.execute(f"SELECT count(DISTINCT patient_key) FROM {TOUCHED_PATIENTS}").fetchall()[0][0])


def update_per_patient_tables(con: duckdb.DuckDBPyConnection) -> str:
    """Bring the per-patient tables up to date: "rebuilt", "updated" (touched patients) or "unchanged"."""
    # imported on use: these modules import the table names above
    from pipelines import compat
    from pipelines.marts import first_sessions, maintenance, outcome_tables

    complete = compat.per_patient_tables_complete(con)
    touched = touched_patients(con) if complete else 0  # a first load need not count its million
    [(patients,)] = con.execute("SELECT count(*) FROM patients").fetchall()
    if not complete or touched > FULL_REBUILD_SHARE * patients:
        # The maintenance rows are built on a cursor of their own beside the first sessions, the
        # outcome cohort and the first outcome chunk: each of those leaves a core idle much of
        # the time (docs/performance.md). The outcome rows are written once they are done. (The
        # pool is left before the cursor is closed: a failure here still waits for the build.)
        with closing(con.cursor()) as side, ThreadPoolExecutor(1, "ketaops-maintenance") as pool:
            built = pool.submit(maintenance.build_maintenance_sessions, side)
            first_sessions.build_first_sessions(con)  # the outcome rebuild's cohort is read from it
            outcome_tables.rebuild(con, meanwhile=built.result)
        return "rebuilt"
    if not touched:
        return "unchanged"
    con.execute(  # per patient: the earliest session touched, whether their patients row changed
        f"CREATE OR REPLACE TEMP TABLE {TOUCHED_NUMBERS} AS SELECT p.patient_no, "
        "min(t.session_at) AS session_at, bool_or(t.patient_row) AS patient_row "
        f"FROM {TOUCHED_PATIENTS} t JOIN patients p USING (patient_key) GROUP BY p.patient_no"
    ).fetchall()
    first_sessions.update_first_sessions(con)
    maintenance.update_maintenance_sessions(con)
    outcome_tables.update_touched(con)
    # touched patients' rows go back in at the end: re-sort when that has scattered the time order
    cluster_by_time(con, FIRST_SESSIONS, "day0")
    cluster_by_time(con, MAINTENANCE_SESSIONS, "scheduled_at")
    return "updated"


def maintain(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Bring the read-side tables up to date after a load; returns the tables rewritten or updated."""
    con.execute("SET enable_progress_bar = false").fetchall()  # no terminal bars in refresh logs
    rewritten = [table for table, column in CLUSTERED if cluster_by_time(con, table, column)]
    if update_per_patient_tables(con) != "unchanged":
        rewritten += PER_PATIENT_TABLES
    return rewritten
