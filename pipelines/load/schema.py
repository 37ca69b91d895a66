"""The database a load writes into: every table this version publishes, and whether a database has them.

Apart from the loader because it runs on every database a refresh opens (an older
version's included, ``pipelines.compat``) and on an empty one to learn what this version
expects, before any row is staged.
"""

from __future__ import annotations

import duckdb

from pipelines.compat import add_patient_conditions, add_patient_numbers
from pipelines.contract import schema_ddl
from pipelines.load.key_hashes import sync_key_hashes
from pipelines.load.numbering import sync_session_tails


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create what the database lacks of this version's tables, columns and loader look-ups."""
    for ddl in schema_ddl():
        con.execute(ddl).fetchall()
    add_patient_conditions(con)
    add_patient_numbers(con)
    sync_key_hashes(con)
    sync_session_tails(con)


def schema_is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``ensure_schema`` and the per-patient tables of ``marts`` would add nothing.

    Every table and column this version creates is compared with the database's (the
    expected ones from ``ensure_schema`` run on an empty in-memory database). A run that
    finds no new file publishes nothing only if this holds: the first run of a version
    that adds a table or a column publishes it even when no export changed.
    """
    from pipelines.compat import per_patient_tables_complete

    columns = (
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = current_schema()"
    )
    with duckdb.connect() as empty:
        ensure_schema(empty)
        expected = set(empty.execute(columns).fetchall())
    present = set(con.execute(columns).fetchall())
    return expected <= present and per_patient_tables_complete(con)
