"""``clinic_id`` of the tables that do not send it: copied from the row they belong to.

A vitals row belongs to a session and a medication to a patient (``contract.CLINIC_COPIES``);
their clinic is the session's clinic and the patient's home clinic. The copy saves every
clinic-scoped query a join to millions of sessions, and must stay right when the session or
patients row is corrected: ``record_clinic_changes`` notes the corrected rows whose clinic
changes (before the old rows are deleted), ``copy_clinic_changes`` updates the copies (a scan
of the copying table only in runs that moved a row to another clinic).
"""

from __future__ import annotations

import duckdb

from pipelines.contract import CLINIC_COPIES, Table


def copied_from(table: Table) -> list[tuple[str, str, str]]:
    """(copying table, key joining them, source column) of the tables that copy ``table``'s clinic."""
    copies = CLINIC_COPIES.items()
    return [(target, key, column) for target, (source, key, column) in copies if source == table.name]


def clinic_copy_insert(table: Table, cols: str) -> str | None:
    """``INSERT`` of ``_final`` into ``table`` with its ``clinic_id`` copied; None if it sends its own."""
    if table.name not in CLINIC_COPIES:
        return None
    source, key, column = CLINIC_COPIES[table.name]
    final_cols = ", ".join(f"f.{c}" for c in cols.split(", "))
    return (
        f"INSERT INTO {table.name} ({cols}, clinic_id) SELECT {final_cols}, s.{column} "
        f"FROM _final f LEFT JOIN {source} s ON s.{key} = f.{key}"
    )


def record_clinic_changes(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """``_clinic_changes``: replaced rows of ``table`` (``_old``) whose copied clinic changes."""
    copies = copied_from(table)
    (replaced,) = con.execute("SELECT count(*) FROM _old").fetchone() if copies else (0,)
    for target, key, column in copies:
        if not replaced:  # a day of new rows only: no scan of the table
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _clinic_changes_{target} (k VARCHAR, clinic_id VARCHAR)"
            ).fetchall()
            continue
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _clinic_changes_{target} AS "
            f"SELECT f.{key} AS k, f.{column} AS clinic_id FROM _final f JOIN {table.name} t USING ({key}) "
            f"WHERE t.rowid IN (SELECT _rid FROM _old) AND t.{column} IS DISTINCT FROM f.{column}"
        ).fetchall()


def copy_clinic_changes(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Give the copying rows of the corrected rows whose clinic changed the new clinic."""
    for target, key, _ in copied_from(table):
        changes = f"_clinic_changes_{target}"
        (changed,) = con.execute(f"SELECT count(*) FROM {changes}").fetchone()
        if changed:
            con.execute(
                f"UPDATE {target} SET clinic_id = c.clinic_id FROM {changes} c WHERE {target}.{key} = c.k"
            ).fetchall()
        con.execute(f"DROP TABLE {changes}").fetchall()
