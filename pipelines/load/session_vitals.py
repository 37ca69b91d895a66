"""Session vital-sign columns derived from the session's ``vitals`` rows (contract v2).

A v2 clinic may send a session's readings as ``vitals`` rows and leave ``bp_sys_pre`` …
``spo2_min`` empty; the published session then carries them derived from its rows
(``contract.VITALS_DERIVED``): pre = the latest ``pre_dose`` reading giving the value,
max and min over the readings of every other timepoint. Where its rows give no value for a
column, the session keeps the value it sent. The derivation runs once per refresh, after
every table is loaded, for the sessions whose rows may have changed: those with vitals
rows loaded or replaced, and corrected sessions (their re-sent columns replace the derived
ones). Sessions without vitals rows are untouched. A set-based UPDATE: no Python per row.
"""

from __future__ import annotations

import duckdb

from pipelines.contract import VITALS_DERIVED

TO_DERIVE = "_vitals_sessions"  # sessions whose derived columns this run recomputes


def _table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {TO_DERIVE} (session_id VARCHAR)").fetchall()


def record_sessions_to_derive(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """After ``find_replaced``: the sessions whose vitals rows or own row this load changes.

    Sessions: the replaced ones (a new session has no vitals rows yet: vitals load after
    sessions and refer to them). Vitals: the sessions of the rows loaded and of the rows
    they replace (a row moved to another session changes both).
    """
    if table == "sessions":
        rows = "SELECT _key FROM _old"
    elif table == "vitals":
        rows = "SELECT session_id FROM _final UNION ALL SELECT session_id FROM _old"
    else:
        return
    _table(con)
    con.execute(f"INSERT INTO {TO_DERIVE} {rows}").fetchall()


def _aggregate(column: str, source: str, how: str) -> str:
    if how == "pre":
        return (
            f"arg_max(v.{source}, (v.taken_at, v.vital_id)) "
            f"FILTER (WHERE v.timepoint = 'pre_dose' AND v.{source} IS NOT NULL) AS {column}"
        )
    return f"{how}(v.{source}) FILTER (WHERE v.timepoint <> 'pre_dose') AS {column}"


def derive_session_vitals(con: duckdb.DuckDBPyConnection) -> int:
    """Fill the derived columns of the sessions recorded this run; returns the sessions updated."""
    _table(con)
    (pending,) = con.execute(f"SELECT count(*) FROM {TO_DERIVE}").fetchone()
    if not pending:
        con.execute(f"DROP TABLE {TO_DERIVE}").fetchall()
        return 0
    aggregates = ", ".join(_aggregate(c, src, how) for c, (src, how) in VITALS_DERIVED.items())
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _derived AS SELECT v.session_id, {aggregates} FROM vitals v "
        f"WHERE v.session_id IN (SELECT session_id FROM {TO_DERIVE}) GROUP BY v.session_id"
    ).fetchall()
    sets = ", ".join(f"{c} = coalesce(d.{c}, sessions.{c})" for c in VITALS_DERIVED)
    changed = " OR ".join(
        f"(d.{c} IS NOT NULL AND d.{c} IS DISTINCT FROM sessions.{c})" for c in VITALS_DERIVED
    )
    [(updated,)] = con.execute(
        f"UPDATE sessions SET {sets} FROM _derived d WHERE sessions.session_id = d.session_id AND ({changed})"
    ).fetchall()
    for temp in ("_derived", TO_DERIVE):
        con.execute(f"DROP TABLE {temp}").fetchall()
    return int(updated)
