"""The key-hash index: a 64-bit hash of every stored key, and the canary that vouches for it.

``<table>_key_hashes`` holds a 64-bit hash of every key of a data table. "Is this key (or
foreign-key value) already in the database?" is then a scan of 8-byte integers instead of
millions of strings (a refresh of one day asks it ~10,000 times per table). Collisions:
a new key sharing a stored key's hash only costs a look-up of the key column
(``loader.find_replaced`` compares the keys themselves); a foreign-key value that matches nothing
but shares a hash with a stored key would be taken as known, with probability ~n/2⁶⁴
(~1e-12 per value looked up at 17M keys), far below a disk's undetected error rate.
128-bit hashes made every look-up read twice the bytes (278 MB of a 925 MB database).
DuckDB's own ``hash``: ten times faster than MD5's lower half (9M keys: 0.45 s against
4.6 s, ~9 s of a full load). DuckDB does not promise it stays the same across versions
or platforms, and the hashes are stored: ``KEY_HASH_CANARY`` records the hash of a fixed
string beside them, and a refresh whose DuckDB hashes it differently rebuilds them all.

A module of its own: the index is stored, so its hash function, its type and the check that
they still hold are one decision, whatever the loader asks of it.
"""

from __future__ import annotations

import duckdb

from pipelines.contract import TABLES, Table
from pipelines.load.bookkeeping import recount_all_freshness

KEY_HASH, KEY_HASH_TYPE = "hash", "UBIGINT"
KEY_HASH_CANARY = "key_hash_canary"  # one row: the function's name and its hash of CANARY_TEXT
CANARY_TEXT = "KetaOps key-hash canary"


def key_hashes(table: str) -> str:
    """Name of the table holding the key hashes of data table ``table`` (a contract name)."""
    return f"{table}_key_hashes"


def hash_sql(expression: str) -> str:
    """SQL of the key hash of ``expression``, as ``<table>_key_hashes`` stores it."""
    return f"{KEY_HASH}({expression})"


def known_hashes(table: str, probe: str) -> str:
    """SQL of the stored key hashes of ``table`` that are in ``probe`` (a subquery of hashes).

    Written as a filter on the stored hashes so the join is built on the (small) probe side.
    """
    return f"SELECT key_hash FROM {key_hashes(table)} WHERE key_hash IN {probe}"


def sync_key_hashes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Rebuild a table's key hashes unless they match its rows one for one; returns the rebuilt.

    Every refresh keeps them in step (``loader.find_replaced``/``add_key_hashes``); this catches a
    database published before they existed or with another hash, or rows changed by hand
    (two counts and a type per table).
    """
    rebuilt, miscounted = [], False
    same_function = _same_hash_function(con)
    for table in TABLES:
        hashes = key_hashes(table.name)
        con.execute(f"CREATE TABLE IF NOT EXISTS {hashes} (key_hash {KEY_HASH_TYPE} NOT NULL)").fetchall()
        [(rows, hashed, hash_type)] = con.execute(
            f"SELECT (SELECT count(*) FROM {table.name}), (SELECT count(*) FROM {hashes}), "
            "(SELECT data_type FROM duckdb_columns() WHERE database_name = current_database() "
            "  AND schema_name = current_schema() AND table_name = ? AND column_name = 'key_hash')",
            [hashes],
        ).fetchall()
        if rows != hashed or hash_type != KEY_HASH_TYPE or not same_function:
            con.execute(
                f"CREATE OR REPLACE TABLE {hashes} AS SELECT {KEY_HASH}({table.key}) AS key_hash "
                f"FROM {table.name}"
            ).fetchall()
            rebuilt.append(table.name)
            miscounted |= rows != hashed
    if not same_function:
        con.execute(f"DELETE FROM {KEY_HASH_CANARY}").fetchall()
        con.execute(
            f"INSERT INTO {KEY_HASH_CANARY} VALUES (?, {KEY_HASH}(CAST(? AS VARCHAR)))",
            [KEY_HASH, CANARY_TEXT],
        ).fetchall()
    if miscounted:  # rows changed outside a refresh: the stored newest dates cannot be trusted either
        recount_all_freshness(con)
    return rebuilt


def _same_hash_function(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the stored key hashes were made by this ``KEY_HASH`` as this DuckDB computes it.

    False for a database hashed with another function (MD5 before Dec 2026) or by a DuckDB
    whose ``hash`` differs from this one's (an upgrade, another platform).
    """
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {KEY_HASH_CANARY} "
        f"(function VARCHAR NOT NULL, canary {KEY_HASH_TYPE} NOT NULL)"
    ).fetchall()
    [(same,)] = con.execute(
        f"SELECT count(*) = 1 AND bool_and(function = ? AND canary = {KEY_HASH}(CAST(? AS VARCHAR))) "
        f"FROM {KEY_HASH_CANARY}",
        [KEY_HASH, CANARY_TEXT],
    ).fetchall()
    return bool(same)


def hash_keys(con: duckdb.DuckDBPyConnection, table: Table, rows: str) -> None:
    """``_final_hashes``: each key of table ``rows`` (of ``table``'s columns) with its hash."""
    key = table.key
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _final_hashes AS SELECT {key} AS k, {KEY_HASH}({key}) AS h FROM {rows}"
    ).fetchall()


def has_repeats(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether two of ``_final_hashes`` are equal: adjacent once sorted (9M: 0.8 s, where
    ``count(DISTINCT h)`` took 1.2 s). In DuckDB: Polars did it in 0.3 s with the transfer, but
    its allocator kept the memory while the insert that follows built its own (+300 MB at the
    refresh's peak)."""
    [(repeated,)] = con.execute(
        "SELECT coalesce(bool_or(same), false) FROM (SELECT h = lag(h) OVER (ORDER BY h) AS same "
        "FROM _final_hashes)"
    ).fetchall()
    return bool(repeated)


def add_key_hashes(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Store the hashes of the keys ``_final`` added (a replaced key keeps its hash)."""
    [(replaced,)] = con.execute("SELECT count(*) FROM _old").fetchall()
    added = "_final_hashes ANTI JOIN _old ON _old._key = k" if replaced else "_final_hashes"  # a first load
    con.execute(f"INSERT INTO {key_hashes(table.name)} SELECT h FROM {added}").fetchall()
    con.execute("DROP TABLE _final_hashes").fetchall()
