"""Columns the loader derives per patient: patient numbers, session numbers, copies of the condition.

``patient_no`` (a patient's number for the life of the database), ``session_number``
(1, 2, … over a patient's administered sessions) and the patient's ``primary_condition``
copied onto their sessions and adverse events depend on rows other than the one loaded:
on the patients row, or on the patient's other sessions. A module of its own because each
must stay right when any of those rows is corrected, and because at network scale each is
kept by touching only the patients a load changes (``patient_session_tails``).
"""

from __future__ import annotations

import duckdb

from pipelines.contract import ADMINISTERED_STATUSES, CONDITION_COPIES, PATIENT_COPIES, Table

UPDATE_LIMIT = 50_000  # above this many renumbered rows, rewriting them beats DuckDB's UPDATE


SESSION_TAILS = "patient_session_tails"


def sync_session_tails(con: duckdb.DuckDBPyConnection) -> bool:
    """Rebuild ``patient_session_tails`` unless it counts every numbered session; True if rebuilt.

    Per patient with administered sessions: how many, and the last by (scheduled_at,
    session_id). A day's new sessions come after their patient's last one, so their
    numbers follow from this small table instead of a scan of every patient's history.
    """
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SESSION_TAILS} (patient_key VARCHAR NOT NULL, "
        "administered BIGINT NOT NULL, last_at TIMESTAMP NOT NULL, last_session_id VARCHAR NOT NULL)"
    ).fetchall()
    [(numbered, tailed)] = con.execute(
        f"SELECT (SELECT count(session_number) FROM sessions), "
        f"(SELECT coalesce(sum(administered), 0) FROM {SESSION_TAILS})"
    ).fetchall()
    if numbered == tailed:
        return False
    con.execute(
        f"CREATE OR REPLACE TABLE {SESSION_TAILS} AS SELECT patient_key, count(*) AS administered, "
        "max(scheduled_at) AS last_at, arg_max(session_id, (scheduled_at, session_id)) AS last_session_id "
        "FROM sessions WHERE session_number IS NOT NULL GROUP BY patient_key"
    ).fetchall()
    return True


def record_condition_changes(con: duckdb.DuckDBPyConnection) -> None:
    """``_condition_changes``: replaced patients (``_old``) whose primary condition changes.

    Run before the old rows are deleted. Their sessions carry the condition
    (``sessions.primary_condition``) and are updated by ``copy_condition_changes``.
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _condition_changes AS "
        "SELECT f.patient_key, f.primary_condition FROM _final f JOIN patients p USING (patient_key) "
        "WHERE p.rowid IN (SELECT _rid FROM _old) "
        "AND p.primary_condition IS DISTINCT FROM f.primary_condition"
    ).fetchall()


def copy_condition_changes(con: duckdb.DuckDBPyConnection) -> None:
    """Give the rows of patients whose condition changed the new one (a scan only if any did)."""
    (changed,) = con.execute("SELECT count(*) FROM _condition_changes").fetchone()
    if changed:
        for table in CONDITION_COPIES:
            con.execute(
                f"UPDATE {table} SET primary_condition = c.primary_condition "
                f"FROM _condition_changes c WHERE {table}.patient_key = c.patient_key"
            ).fetchall()
    con.execute("DROP TABLE _condition_changes").fetchall()


def patient_copies(table: Table) -> list[str]:
    """Derived columns of ``table`` the loader copies from the row's patients row."""
    return [column for column, tables in PATIENT_COPIES.items() if table.name in tables]


def insert_patients_numbered(con: duckdb.DuckDBPyConnection, cols: str, numbered: int) -> None:
    """Insert ``_final`` into patients: a corrected row keeps its ``patient_no`` (``_old``), a new
    patient takes the next after ``numbered`` (the highest before this run's rows were deleted)."""
    final_cols = ", ".join(f"f.{c}" for c in cols.split(", "))
    con.execute(
        f"INSERT INTO patients ({cols}, patient_no) SELECT {final_cols}, CAST(coalesce(o.patient_no, "
        "  $numbered + row_number() OVER (PARTITION BY o.patient_no IS NULL ORDER BY f.patient_key)) "
        "AS INTEGER) FROM _final f LEFT JOIN _old o ON o._key = f.patient_key",
        {"numbered": numbered},
    ).fetchall()


def insert_sessions_renumbered(con: duckdb.DuckDBPyConnection, cols: str) -> None:
    """Insert ``_final`` with ``session_number`` computed, and renumber what the insert shifted.

    1, 2, … over a patient's administered sessions by ``scheduled_at`` (ties by
    session_id), null for the others. Only the affected patients are numbered —
    those of the new rows and the previous owners of replaced rows (``_old``).
    Most have only new sessions after their last one (``patient_session_tails``):
    those continue from their count. The others ("slow": a replaced row, or a
    session arriving before their last one) are renumbered from their rows in the
    table, of which only those whose number changes are written. New rows get
    their number on insert: DuckDB's UPDATE is slow for millions of rows (an
    initial load).
    """
    administered = [list(ADMINISTERED_STATUSES)]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _patients AS "
        "SELECT patient_key FROM _final UNION SELECT patient_key FROM _old"
    ).fetchall()
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _tails AS SELECT * FROM {SESSION_TAILS} "
        "WHERE patient_key IN (SELECT patient_key FROM _patients)"
    ).fetchall()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _slow AS SELECT patient_key FROM _old UNION "
        "SELECT f.patient_key FROM _final f JOIN _tails t USING (patient_key) "
        "WHERE list_contains(?, f.status) AND (f.scheduled_at < t.last_at "
        "  OR (f.scheduled_at = t.last_at AND f.session_id <= t.last_session_id))",
        administered,
    ).fetchall()
    (slow,) = con.execute("SELECT count(*) FROM _slow").fetchone()
    # slow patients: all their rows, numbered afresh (a scan of the table's patient column)
    stored = (
        "SELECT rowid AS _rid, NULL AS _frow, session_id, patient_key, scheduled_at, status, "
        "session_number AS old_n, 0 AS base FROM sessions "
        "WHERE patient_key IN (SELECT patient_key FROM _slow) UNION ALL "
        if slow
        else ""
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _numbers AS "
        "SELECT _rid, _frow, session_id, patient_key, scheduled_at, old_n, CASE WHEN administered THEN "
        "  base + row_number() OVER (PARTITION BY patient_key, administered "
        "                            ORDER BY scheduled_at, session_id) END AS n "
        "FROM (SELECT *, list_contains(?, status) AS administered FROM ("
        f"  {stored}"
        "  SELECT NULL AS _rid, f.rowid AS _frow, f.session_id, f.patient_key, f.scheduled_at, f.status, "
        "    NULL AS old_n, "
        # fast patients' new rows continue from their count; a slow patient's base is 0
        "    CASE WHEN s.patient_key IS NULL THEN coalesce(t.administered, 0) ELSE 0 END AS base "
        "  FROM _final f LEFT JOIN _slow s USING (patient_key) LEFT JOIN _tails t USING (patient_key)))",
        administered,
    ).fetchall()
    _update_session_tails(con)
    # The new rows go in as staged, which is about time order (``refresh.staging_order``): the
    # dashboard filters on periods, and DuckDB skips row groups outside them. Joins would scatter
    # that order and an ORDER BY cost 6-7.5 of this insert's ~19 CPU-s at network scale, so each
    # row's number and patient columns are gathered first, in _final's row order, and paired with
    # it by position; the guard turns any misalignment into a failed run.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _new_numbers AS SELECT n._frow, n.n, p.primary_condition, p.patient_no "
        "FROM _numbers n LEFT JOIN patients p ON p.patient_key = n.patient_key "
        "WHERE n._frow IS NOT NULL ORDER BY n._frow"
    ).fetchall()
    final_cols = ", ".join(f"f.{c}" for c in cols.split(", "))
    con.execute(
        f"INSERT INTO sessions ({cols}, session_number, primary_condition, patient_no) "
        f"SELECT {final_cols}, CASE WHEN n._frow = f.rowid THEN n.n "
        "  ELSE error('sessions and their numbers out of step') END, n.primary_condition, n.patient_no "
        "FROM _final f POSITIONAL JOIN _new_numbers n"
    ).fetchall()
    con.execute("DROP TABLE _new_numbers").fetchall()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _shifted AS SELECT _rid, n FROM _numbers "
        "WHERE _rid IS NOT NULL AND old_n IS DISTINCT FROM n"
    ).fetchall()
    (shifted,) = con.execute("SELECT count(*) FROM _shifted").fetchone()
    if shifted > UPDATE_LIMIT:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _moved AS SELECT s.* REPLACE (h.n AS session_number) "
            "FROM sessions s JOIN _shifted h ON s.rowid = h._rid"
        ).fetchall()
        con.execute("DELETE FROM sessions WHERE rowid IN (SELECT _rid FROM _shifted)").fetchall()
        con.execute("INSERT INTO sessions SELECT * FROM _moved").fetchall()
        con.execute("DROP TABLE _moved").fetchall()
    elif shifted:
        con.execute(
            "UPDATE sessions SET session_number = h.n FROM _shifted h WHERE sessions.rowid = h._rid"
        ).fetchall()
    for temp in ("_patients", "_tails", "_slow", "_numbers", "_shifted"):
        con.execute(f"DROP TABLE {temp}").fetchall()


def _update_session_tails(con: duckdb.DuckDBPyConnection) -> None:
    """Tails of the patients numbered: the highest number is the count, its session the last.

    A fast patient whose new sessions were none administered keeps its tail; a slow one
    with none administered left loses it.
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _new_tails AS SELECT patient_key, max(n) AS administered, "
        "arg_max(scheduled_at, n) AS last_at, arg_max(session_id, n) AS last_session_id "
        "FROM _numbers WHERE n IS NOT NULL GROUP BY patient_key"
    ).fetchall()
    con.execute(
        f"DELETE FROM {SESSION_TAILS} WHERE patient_key IN "
        "(SELECT patient_key FROM _new_tails UNION SELECT patient_key FROM _slow)"
    ).fetchall()
    con.execute(f"INSERT INTO {SESSION_TAILS} SELECT * FROM _new_tails").fetchall()
    con.execute("DROP TABLE _new_tails").fetchall()
