"""Time order of the big tables, kept by every refresh after the load.

The dashboard filters almost every query on a period of ``sessions.scheduled_at``.
DuckDB skips a row group (122,880 rows) whose min/max of the filtered column lie
outside the period, but only if rows are stored roughly in time order. The loader
appends file by file (clinic by clinic), so after a full load every row group
spans the whole history and a 30-day query reads all ~10M sessions. ``cluster_by_time``
re-writes such a table in time order; an incremental refresh appends recent days
at the end, which keeps the order, so it costs one cheap metadata-sized check.
"""

from __future__ import annotations

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
