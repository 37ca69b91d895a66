"""``maintenance_sessions``: each administered maintenance session with the patient's previous one.

The steps of the maintenance cadence (``model.sessions.maintenance_sessions_sql``), stored in
time order so a year of them is a range read; a reader uses the SQL inline on a database
without the table (``pipelines.compat.maintenance_sessions_source``).
"""

from __future__ import annotations

import duckdb

from pipelines.marts import MAINTENANCE_SESSIONS, TOUCHED_NUMBERS
from pipelines.model.sessions import maintenance_sessions_sql


def build_maintenance_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build ``maintenance_sessions`` in time order (a year of them is then a range read)."""
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
