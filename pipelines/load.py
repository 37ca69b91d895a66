"""Load validated files into the database being built: FKs, corrections, derived columns, bookkeeping.

Only changed rows are touched, so an incremental refresh costs in proportion to
what arrived, not to the size of the database: each file's accepted rows are
staged in a temp table; per table, rows whose foreign keys match nothing in the
database (this batch included, since tables load in ``contract.TABLES`` order)
become ``unknown_fk`` rejects; the last version of each key wins (files in the
order given, i.e. lexicographic by path); the keys are deleted from the table
and re-inserted; ``session_number`` is recomputed only for patients whose
sessions changed. Whether a key (or a foreign-key value) is already stored is
answered by ``<table>_key_hashes``, one 64-bit hash per stored key, so a day's
refresh does not scan millions of key strings (see ``sync_key_hashes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from pipelines.compat import table_exists
from pipelines.contract import (
    ADMINISTERED_STATUSES,
    CONDITION_COPIES,
    NUMBER_COPIES,
    PATIENT_COPIES,
    TABLES,
    Table,
    schema_ddl,
)
from pipelines.marts import TOUCHED_PATIENTS
from pipelines.marts.time_order import CLUSTERED
from pipelines.validate import FileResult

STAGE = "_stage"
FLUSH_ROWS = 200_000  # stage rows in DuckDB in batches: one insert per file costs ~10 ms each


@dataclass
class FileLoad:
    """One ``source_files`` row in the making."""

    rel_path: str
    table: str | None
    content_hash: str
    seen_at: datetime
    file_mtime: datetime | None
    rows_read: int | None = None
    rows_loaded: int | None = None
    rows_rejected: int | None = None
    duplicates_collapsed: int | None = None
    redactions: int = 0
    unknown_columns: list[str] = field(default_factory=list)
    file_error: str | None = None
    status: str = "ignored"


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in schema_ddl():
        con.execute(ddl).fetchall()
    add_patient_conditions(con)
    add_patient_numbers(con)
    sync_key_hashes(con)
    sync_session_tails(con)


def schema_is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``ensure_schema`` and the per-patient tables of ``summaries`` would add nothing.

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


def files_to_check(
    con: duckdb.DuckDBPyConnection, found: list[tuple[str, str, int, int]]
) -> list[tuple[str, str, int, str | None]]:
    """Of the files found (relative path, path, mtime in ns, size), those new or with a new mtime.

    Each as (relative path, path, mtime ns, content hash of the path's last version or
    None if never seen). One join in DuckDB: a day's refresh finds ~60,000 files and
    skips all but a few hundred without a Python object per stored row. A stored mtime
    (microseconds, rounded) matches within 1 µs.
    """
    frame = pl.DataFrame(
        {
            "rel": [f[0] for f in found],
            "path": [f[1] for f in found],
            "mtime_ns": [f[2] for f in found],
        },
        schema={"rel": pl.String, "path": pl.String, "mtime_ns": pl.Int64},
    )
    con.register("_found_files", frame)
    try:
        return con.execute(
            "WITH last AS (SELECT path, content_hash, epoch_us(file_mtime) AS us FROM source_files "
            "  QUALIFY row_number() OVER (PARTITION BY path ORDER BY seen_at DESC, run_id DESC) = 1) "
            "SELECT f.rel, f.path, f.mtime_ns, l.content_hash "
            "FROM _found_files f LEFT JOIN last l ON l.path = f.rel "
            "WHERE l.us IS NULL OR abs(l.us::HUGEINT * 1000 - f.mtime_ns) >= 1000 ORDER BY f.rel"
        ).fetchall()
    finally:
        con.unregister("_found_files")


def touch_mtimes(con: duckdb.DuckDBPyConnection, touched: list[tuple[str, str, datetime]]) -> None:
    """Remember new mtimes of unchanged files (path, hash, mtime) so later runs skip them unhashed.

    One statement for all: a copied exports folder changes every file's mtime.
    """
    if not touched:
        return
    frame = pl.DataFrame(
        touched,
        schema={"path": pl.String, "content_hash": pl.String, "file_mtime": pl.Datetime("us")},
        orient="row",
    )
    con.register("_touched_files", frame)
    con.execute(
        "UPDATE source_files SET file_mtime = t.file_mtime FROM _touched_files t "
        "WHERE source_files.path = t.path AND source_files.content_hash = t.content_hash"
    ).fetchall()
    con.unregister("_touched_files")


# Published columns the loader derives (the validator derives the others, e.g. dose_mg_per_kg).
LOADER_DERIVED = ("session_number", "primary_condition", "patient_no")


def staged_columns(table: Table) -> list[str]:
    """Published columns that come from the validator (derived ``LOADER_DERIVED`` are filled here)."""
    filled_here = {d.name for d in table.derived} & set(LOADER_DERIVED)
    return [name for name, _ in table.published_columns if name not in filled_here]


def _clinic_column(table: Table) -> str:
    if table.name == "clinics":
        return table.key
    return next(col for col, target in table.foreign_keys.items() if target == "clinics")


class TableLoader:
    """Stages a table's files one at a time, then applies them in one pass.

    ``track_patients``: record the patients the rows touch (``record_touched_patients``), for an
    update of the per-patient tables; a run that rebuilds them all (a first load) need not
    (three statements over every row, ~1.3 s at network scale).
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, table: Table, run_id: str, track_patients: bool = True
    ) -> None:
        self.con, self.table, self.run_id = con, table, run_id
        self.track_patients = track_patients
        self.files: list[FileLoad] = []
        self._accepted: list[pl.DataFrame] = []
        self._rejects: list[pl.DataFrame] = []
        self._buffered = 0
        cols = ", ".join(
            f"{n} {t}" for n, t in table.published_columns if n not in ("session_number", "patient_no")
        )
        con.execute(f"DROP TABLE IF EXISTS {STAGE}").fetchall()
        con.execute(f"CREATE TEMP TABLE {STAGE} ({cols}, _row_number BIGINT, _file_idx INTEGER)").fetchall()

    def stage(self, load: FileLoad, result: FileResult) -> None:
        """Keep the file's accepted rows for ``apply`` and record its validation rejects now."""
        idx = len(self.files)
        self._record(load, result)
        if result.accepted.height:
            cols = [*staged_columns(self.table), "_row_number"]
            self._accepted.append(
                result.accepted.select(cols).with_columns(pl.lit(idx, dtype=pl.Int32).alias("_file_idx"))
            )
            self._buffered += result.accepted.height
        if self._buffered >= FLUSH_ROWS:
            self._flush()

    def stage_batch(self, loads: list[FileLoad], results: list[FileResult], accepted: pl.DataFrame) -> None:
        """Stage files validated together: ``accepted`` has all their rows, ``_file`` = index in ``loads``.

        One frame per batch instead of one per file keeps the insert cost per row, not per file.
        """
        base = len(self.files)
        for load, result in zip(loads, results, strict=True):
            self._record(load, result)
        if accepted.height:
            cols = [*staged_columns(self.table), "_row_number"]
            self._accepted.append(
                accepted.select(*cols, (pl.col("_file") + base).cast(pl.Int32).alias("_file_idx"))
            )
            self._buffered += accepted.height
        if self._buffered >= FLUSH_ROWS:
            self._flush()

    def _record(self, load: FileLoad, result: FileResult) -> None:
        self.files.append(load)
        load.rows_read = result.rows_read
        load.rows_rejected = result.rows_rejected
        load.duplicates_collapsed = result.duplicates_collapsed
        load.redactions = result.redactions
        load.unknown_columns = list(result.unknown_columns)
        load.file_error = result.file_error
        if result.rejects.height:
            self._rejects.append(result.rejects.with_columns(pl.lit(load.rel_path).alias("_source_file")))
            self._buffered += result.rejects.height

    def _flush(self) -> None:
        # One Arrow chunk per column: a batch's frame holds a chunk per file (~1,400 at network
        # scale), and DuckDB scans a registered frame chunk by chunk: inserting 520k session rows
        # took 2 s in 1,400 chunks, 0.15 s in one. pl.concat([one frame], rechunk=True) returns
        # that frame as it is, hence .rechunk() (a copy of ~50 ms).
        if self._rejects:
            rejects = pl.concat(self._rejects, how="vertical_relaxed").rechunk()
            self.con.register("_rejects", rejects)
            self.con.execute(
                "INSERT INTO rejected_rows SELECT ?, ?, _source_file, row_number, reason, column_name, "
                "value, raw_record, message FROM _rejects",
                [self.run_id, self.table.name],
            ).fetchall()
            self.con.unregister("_rejects")
        if self._accepted:
            accepted = pl.concat(self._accepted, how="diagonal_relaxed").rechunk()
            self.con.register("_accepted", accepted)
            self.con.execute(f"INSERT INTO {STAGE} BY NAME SELECT * FROM _accepted").fetchall()
            self.con.unregister("_accepted")
        self._accepted, self._rejects, self._buffered = [], [], 0

    def apply(self) -> None:
        """FK check, last version of each key wins, replace those keys in the table."""
        con, table = self.con, self.table
        self._flush()
        files_frame = pl.DataFrame(
            {
                "_file_idx": range(len(self.files)),
                "path": [f.rel_path for f in self.files],
                "seen_at": [f.seen_at for f in self.files],
            },
            schema={"_file_idx": pl.Int32, "path": pl.String, "seen_at": pl.Datetime("us")},
        )
        con.register("_files_frame", files_frame)
        con.execute("CREATE OR REPLACE TEMP TABLE _files AS SELECT * FROM _files_frame").fetchall()
        con.unregister("_files_frame")
        self._reject_unknown_fks()
        accepted = dict(con.execute(f"SELECT _file_idx, count(*) FROM {STAGE} GROUP BY ALL").fetchall())
        for i, load in enumerate(self.files):
            load.rows_loaded = accepted.get(i, 0)
            load.status = _status(load)
        if table.name != "clinics":  # the clinic register is not a sign of a clinic's activity
            self._record_clinics_touched()
        key = table.key
        # Most batches repeat no key: looking for a repeat among the 64-bit key hashes is far
        # cheaper than the window that picks each key's last version (and than copying the
        # stage), and cheaper than among the key strings. Equal hashes only send the batch the
        # exact way; the hashes are kept for ``find_replaced``.
        hash_keys(con, table, STAGE)
        if _repeats(con):
            # the later path wins (the contract), whatever order the files were staged in; the
            # sessions' rows kept stay in staging order, in which they are inserted
            # (``insert_sessions_renumbered``; the other tables sort on insert or need no order)
            staged = " ORDER BY s._file_idx, s._row_number" if table.name == "sessions" else ""
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _final AS SELECT s.* FROM {STAGE} s JOIN _files f "
                f"USING (_file_idx) QUALIFY row_number() "
                f"OVER (PARTITION BY s.{key} ORDER BY f.path DESC, s._row_number DESC) = 1{staged}"
            ).fetchall()
            hash_keys(con, table, "_final")
        else:
            con.execute("DROP TABLE IF EXISTS _final").fetchall()
            con.execute(f"ALTER TABLE {STAGE} RENAME TO _final").fetchall()
        find_replaced(con, table)
        record_fresh_delta(con, table)
        if self.track_patients and table.name in PATIENT_HISTORY_TABLES:
            record_touched_patients(con, table.name)
        numbered = 0
        if table.name == "patients":
            record_condition_changes(con)
            [(numbered,)] = con.execute("SELECT coalesce(max(patient_no), 0) FROM patients").fetchall()
        con.execute(f"DELETE FROM {table.name} WHERE rowid IN (SELECT _rid FROM _old)").fetchall()
        cols = ", ".join(staged_columns(table))
        if table.name == "sessions":
            insert_sessions_renumbered(con, cols)
        elif table.name == "patients":
            insert_patients_numbered(con, cols, numbered)
        else:
            # in the read-side order summaries.optimise keeps, so it need not rewrite the table
            order = "".join(f" ORDER BY {c}" for t, c in CLUSTERED if t == table.name)
            copies = patient_copies(table)
            if copies:
                con.execute(
                    f"INSERT INTO {table.name} ({cols}, {', '.join(copies)}) "
                    f"SELECT {', '.join(f'f.{c}' for c in cols.split(', '))}, "
                    f"{', '.join(f'p.{c}' for c in copies)} "
                    f"FROM _final f LEFT JOIN patients p ON p.patient_key = f.patient_key{order}"
                ).fetchall()
            else:
                con.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM _final{order}").fetchall()
        add_key_hashes(con, table)
        if table.name == "patients":
            copy_condition_changes(con)
        for temp in (STAGE, "_final", "_old", "_files"):
            con.execute(f"DROP TABLE IF EXISTS {temp}").fetchall()

    def _reject_unknown_fks(self) -> None:
        con, table = self.con, self.table
        fks = list(table.foreign_keys.items())
        if not fks:
            return
        joins, whens = [], []
        [(rows,)] = con.execute(f"SELECT count(*) FROM {STAGE}").fetchall()
        for i, (col, target) in enumerate(fks):
            # The values matching no key of the target (this batch included).
            [(targets,)] = con.execute(f"SELECT count(*) FROM {target}").fetchall()
            if rows * HASH_PROBE_RATIO < targets:
                # a few values into a large table: a probe of its key hashes, not a scan of its keys
                known = _known_hashes(target, "(SELECT h FROM _probe)")
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _probe AS "
                    f"SELECT DISTINCT {col} AS v, {KEY_HASH}({col}) AS h FROM {STAGE} WHERE {col} IS NOT NULL"
                ).fetchall()
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _fk_missing{i} AS "
                    f"SELECT v FROM _probe WHERE h NOT IN ({known})"
                ).fetchall()
                con.execute("DROP TABLE _probe").fetchall()
            elif targets <= SMALL_REGISTER:  # e.g. the clinic register: its keys, to the few values
                # (6M sessions' clinics: 0.44 -> ~0.25 s with the DISTINCT first)
                target_key = next(t.key for t in TABLES if t.name == target)
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _fk_missing{i} AS SELECT DISTINCT s.{col} AS v "
                    f"FROM (SELECT DISTINCT {col} FROM {STAGE}) s "
                    f"ANTI JOIN {target} t ON t.{target_key} = s.{col} WHERE s.{col} IS NOT NULL"
                ).fetchall()
            else:  # e.g. a full load: every row's hash joined to all stored hashes, no DISTINCT first
                # (9M assessments' session ids: 1.65-1.8 CPU-s joined to the 10M key strings,
                # 1.1-1.35 to their hashes, a build of 8-byte integers; a DISTINCT first took 2.6 s)
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _fk_missing{i} AS SELECT DISTINCT s.{col} AS v "
                    f"FROM {STAGE} s ANTI JOIN {key_hashes(target)} t ON t.key_hash = {KEY_HASH}(s.{col}) "
                    f"WHERE s.{col} IS NOT NULL"
                ).fetchall()
            joins.append(f"LEFT JOIN _fk_missing{i} m{i} ON m{i}.v = s.{col}")
            whens.append(f"WHEN m{i}.v IS NOT NULL THEN {i}")
        case = f"CASE {' '.join(whens)} END"
        struct = ", ".join(f"{c} := s.{c}" for c in table.column_names)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _fk_bad AS SELECT s._file_idx, s._row_number, {case} AS fk, "
            f"to_json(struct_pack({struct}))::VARCHAR AS raw_record, "
            f"[{', '.join(f's.{c}' for c, _ in fks)}] AS fk_values "
            f"FROM {STAGE} s {' '.join(joins)} WHERE {case} IS NOT NULL"
        ).fetchall()
        for i in range(len(fks)):
            con.execute(f"DROP TABLE _fk_missing{i}").fetchall()
        con.execute(
            "INSERT INTO rejected_rows SELECT ?, ?, f.path, b._row_number, 'unknown_fk', "
            "(?)[b.fk + 1], b.fk_values[b.fk + 1], b.raw_record, "
            "format('{} row {}: {} ''{}'' does not exist in {}', f.path, b._row_number, "
            "(?)[b.fk + 1], b.fk_values[b.fk + 1], (?)[b.fk + 1]) "
            "FROM _fk_bad b JOIN _files f USING (_file_idx) ORDER BY b._file_idx, b._row_number",
            [self.run_id, table.name, [c for c, _ in fks], [c for c, _ in fks], [t for _, t in fks]],
        ).fetchall()
        bad = dict(con.execute("SELECT _file_idx, count(*) FROM _fk_bad GROUP BY ALL").fetchall())
        for i, load in enumerate(self.files):
            load.rows_rejected = (load.rows_rejected or 0) + bad.get(i, 0)
        con.execute(
            f"DELETE FROM {STAGE} USING _fk_bad b "
            f"WHERE {STAGE}._file_idx = b._file_idx AND {STAGE}._row_number = b._row_number"
        ).fetchall()
        con.execute("DROP TABLE _fk_bad").fetchall()

    def _record_clinics_touched(self) -> None:
        """Which clinics each file loaded rows for: feeds ``clinic_freshness.last_file_at``."""
        col = _clinic_column(self.table)
        self.con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _touched (clinic_id VARCHAR, seen_at TIMESTAMP, path VARCHAR)"
        ).fetchall()
        self.con.execute(
            # the pairs of file and clinic first: a DISTINCT over every row of (string, time, path)
            # cost 0.35 s at 6M sessions
            f"INSERT INTO _touched SELECT DISTINCT s.{col}, f.seen_at, f.path "
            f"FROM (SELECT DISTINCT _file_idx, {col} FROM {STAGE}) s JOIN _files f USING (_file_idx)"
        ).fetchall()


# Tables whose rows make up a patient's treatment history (day 0, session numbers, scores,
# condition): the per-patient summaries are recomputed for every patient they touch.
PATIENT_HISTORY_TABLES = ("patients", "sessions", "assessments")


def _repeats(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether two of ``_final_hashes`` are equal: adjacent once sorted (9M: 0.8 s, where
    ``count(DISTINCT h)`` took 1.2 s). In DuckDB: Polars did it in 0.3 s with the transfer, but
    its allocator kept the memory while the insert that follows built its own (+300 MB at the
    refresh's peak)."""
    [(repeats,)] = con.execute(
        "SELECT coalesce(bool_or(same), false) FROM (SELECT h = lag(h) OVER (ORDER BY h) AS same "
        "FROM _final_hashes)"
    ).fetchall()
    return bool(repeats)


def record_touched_patients(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Add the patients of the rows loaded (``_final``) and replaced (``_old``) to ``_touched_patients``.

    ``summaries.optimise`` then updates its per-patient tables for those patients only
    (a day's refresh touches thousands of 1M patients). A session moved from one patient
    to another by a correction touches both. Each row says what touched the patient:
    ``session_at``, the time of a session loaded or replaced (the old row's time, read
    before it is deleted), or ``patient_row`` for the patients row itself; both empty for
    an assessment. Their first session can only change through those
    (``summaries.update_first_sessions``).
    """
    con.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {TOUCHED_PATIENTS} "
        "(patient_key VARCHAR, session_at TIMESTAMP, patient_row BOOLEAN)"
    ).fetchall()
    if table == "sessions":
        # one row per patient (a full load stages 10M sessions): their earliest touched session
        rows = (
            "SELECT patient_key, min(touched_at), false FROM ("
            "  SELECT patient_key, scheduled_at AS touched_at FROM _final UNION ALL "
            "  SELECT o.patient_key, s.scheduled_at FROM _old o JOIN sessions s ON s.rowid = o._rid"
            ") GROUP BY patient_key"
        )
    else:
        row = "true" if table == "patients" else "false"
        rows = f"SELECT patient_key, NULL, {row} FROM _final UNION SELECT patient_key, NULL, {row} FROM _old"
    con.execute(f"INSERT INTO {TOUCHED_PATIENTS} {rows}").fetchall()


# --- Key hashes ----------------------------------------------------------------------------
# ``<table>_key_hashes`` holds a 64-bit hash of every key of a data table. "Is this key (or
# foreign-key value) already in the database?" is then a scan of 8-byte integers instead of
# millions of strings (a refresh of one day asks it ~10,000 times per table). Collisions:
# a new key sharing a stored key's hash only costs a look-up of the key column
# (``find_replaced`` compares the keys themselves); a foreign-key value that matches nothing
# but shares a hash with a stored key would be taken as known, with probability ~n/2⁶⁴
# (~1e-12 per value looked up at 17M keys), far below a disk's undetected error rate.
# 128-bit hashes made every look-up read twice the bytes (278 MB of a 925 MB database).
# DuckDB's own ``hash``: ten times faster than MD5's lower half (9M keys: 0.45 s against
# 4.6 s, ~9 s of a full load). DuckDB does not promise it stays the same across versions
# or platforms, and the hashes are stored: ``KEY_HASH_CANARY`` records the hash of a fixed
# string beside them, and a refresh whose DuckDB hashes it differently rebuilds them all.
KEY_HASH, KEY_HASH_TYPE = "hash", "UBIGINT"
KEY_HASH_CANARY = "key_hash_canary"  # one row: the function's name and its hash of CANARY_TEXT
CANARY_TEXT = "KetaOps key-hash canary"
# Probe the hashes with the distinct values looked up when they are fewer than 1/HASH_PROBE_RATIO
# of the table's rows; otherwise the DISTINCT costs more than joining every row's hash to all hashes.
HASH_PROBE_RATIO = 20
# A foreign key into a table of at most this many rows (the clinic register) has few distinct
# values in any batch: those are looked up, not every row's.
SMALL_REGISTER = 10_000


def key_hashes(table: str) -> str:
    """Name of the table holding the key hashes of data table ``table`` (a contract name)."""
    return f"{table}_key_hashes"


def _known_hashes(table: str, probe: str) -> str:
    """SQL of the stored key hashes of ``table`` that are in ``probe`` (a subquery of hashes).

    Written as a filter on the stored hashes so the join is built on the (small) probe side.
    """
    return f"SELECT key_hash FROM {key_hashes(table)} WHERE key_hash IN {probe}"


def sync_key_hashes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Rebuild a table's key hashes unless they match its rows one for one; returns the rebuilt.

    Every refresh keeps them in step (``find_replaced``/``add_key_hashes``); this catches a
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


def find_replaced(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """``_old``: rowid, key (and owner) of the stored rows whose key is in ``_final``.

    The key hashes say which keys may be stored; only if some are is the table's key column
    scanned, for those keys. A day's new rows are all new keys: no scan at all. Needs
    ``_final_hashes`` of ``_final`` (``hash_keys``).
    """
    key = table.key
    owner = ", patient_key" if table.name in PATIENT_HISTORY_TABLES else ""
    if table.name == "patients":
        owner += ", patient_no"  # a corrected patients row keeps its number
    if table.name in dict(_event_tables()):
        owner += ", clinic_id AS _clinic"  # whose newest date a replacement may lower
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _maybe AS SELECT k FROM _final_hashes "
        f"WHERE h IN ({_known_hashes(table.name, '(SELECT h FROM _final_hashes)')})"
    ).fetchall()
    (maybe,) = con.execute("SELECT count(*) FROM _maybe").fetchone()
    where = f"{key} IN (SELECT k FROM _maybe)" if maybe else "false"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _old AS SELECT rowid AS _rid, {key} AS _key{owner} "
        f"FROM {table.name} WHERE {where}"
    ).fetchall()
    con.execute("DROP TABLE _maybe").fetchall()


def add_key_hashes(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Store the hashes of the keys ``_final`` added (a replaced key keeps its hash)."""
    [(replaced,)] = con.execute("SELECT count(*) FROM _old").fetchall()
    added = "_final_hashes ANTI JOIN _old ON _old._key = k" if replaced else "_final_hashes"  # a first load
    con.execute(f"INSERT INTO {key_hashes(table.name)} SELECT h FROM {added}").fetchall()
    con.execute("DROP TABLE _final_hashes").fetchall()


def _status(load: FileLoad) -> str:
    if load.file_error:
        return "rejected"
    return "loaded_with_rejects" if load.rows_rejected else "loaded"


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


def record_files(con: duckdb.DuckDBPyConnection, run_id: str, files: list[FileLoad]) -> None:
    if not files:
        return
    counts = ("rows_read", "rows_loaded", "rows_rejected", "duplicates_collapsed")
    frame = pl.DataFrame(
        {
            "path": [f.rel_path for f in files],
            "content_hash": [f.content_hash for f in files],
            "table_name": [f.table for f in files],
            **{c: [getattr(f, c) for f in files] for c in counts},
            "unknown_columns": [",".join(f.unknown_columns) or None for f in files],
            "status": [f.status for f in files],
            "run_id": [run_id] * len(files),
            "seen_at": [f.seen_at for f in files],
            "file_mtime": [f.file_mtime for f in files],
        },
        schema_overrides={
            "table_name": pl.String,
            "unknown_columns": pl.String,
            "seen_at": pl.Datetime("us"),
            "file_mtime": pl.Datetime("us"),
            **dict.fromkeys(counts, pl.Int64),
        },
    )
    con.register("_source_files_frame", frame)
    con.execute("INSERT INTO source_files BY NAME SELECT * FROM _source_files_frame").fetchall()
    con.unregister("_source_files_frame")


def _event_tables() -> list[tuple[str, str]]:
    """(table, event timestamp column) of the tables whose dates make a clinic's newest data date."""
    return [
        (t.name, next(c.name for c in t.columns if c.kind == "timestamp"))
        for t in TABLES
        if "clinic_id" in t.by_name and t.name != "clinics"
    ]


FRESH_DELTA = "_fresh_delta"  # per clinic: newest date loaded this run, or a replaced row (recount)


def _fresh_delta_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {FRESH_DELTA} (clinic_id VARCHAR, d DATE, replaced BOOLEAN)"
    ).fetchall()


def record_fresh_delta(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Newest event date per clinic of the rows loaded (``_final``); clinics of replaced rows."""
    column = dict(_event_tables()).get(table.name)
    if column is None:
        return
    _fresh_delta_table(con)
    con.execute(
        f"INSERT INTO {FRESH_DELTA} SELECT clinic_id, max({column})::DATE, false FROM _final GROUP BY ALL"
    ).fetchall()
    con.execute(f"INSERT INTO {FRESH_DELTA} SELECT DISTINCT _clinic, NULL, true FROM _old").fetchall()


def recount_all_freshness(con: duckdb.DuckDBPyConnection) -> None:
    """Make ``update_freshness`` recount every clinic (a NULL clinic marks it)."""
    _fresh_delta_table(con)
    con.execute(f"INSERT INTO {FRESH_DELTA} VALUES (NULL, NULL, true)").fetchall()


def update_freshness(con: duckdb.DuckDBPyConnection) -> None:
    """Newest event date per clinic and its last file, from what this run loaded.

    A clinic's newest date only grows with new rows: the previous one or the newest
    loaded. A replaced row may have held the newest date, so its clinic is recounted
    from its rows (a scan, in runs with corrections only).
    """
    _fresh_delta_table(con)
    [(recount_all, recount)] = con.execute(
        f"SELECT count(*) FILTER (clinic_id IS NULL) > 0, count(*) FILTER (replaced) FROM {FRESH_DELTA}"
    ).fetchall()
    which = "" if recount_all else f"WHERE clinic_id IN (SELECT clinic_id FROM {FRESH_DELTA} WHERE replaced) "
    counted = (
        " UNION ALL ".join(
            f"SELECT clinic_id, max({col})::DATE AS d FROM {name} {which}GROUP BY ALL"
            for name, col in _event_tables()
        )
        if recount
        else "SELECT NULL::VARCHAR AS clinic_id, NULL::DATE AS d"
    )
    con.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _touched (clinic_id VARCHAR, seen_at TIMESTAMP, path VARCHAR)"
    ).fetchall()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _fresh AS "
        f"WITH counted AS (SELECT clinic_id, max(d) AS d FROM ({counted}) GROUP BY ALL), "
        f"recounted AS (SELECT DISTINCT clinic_id FROM {FRESH_DELTA} WHERE replaced), "
        f"loaded AS (SELECT clinic_id, max(d) AS d FROM {FRESH_DELTA} GROUP BY ALL), "
        "latest AS (SELECT clinic_id, max(seen_at) AS at, arg_max(path, (seen_at, path)) AS path "
        "           FROM _touched GROUP BY ALL) "
        "SELECT c.clinic_id, "
        "       CASE WHEN ? OR r.clinic_id IS NOT NULL THEN n.d "
        "            ELSE greatest(f.newest_data_date, d.d) END, "
        "       coalesce(l.at, f.last_file_at), "
        "       CASE WHEN l.clinic_id IS NULL THEN f.last_file ELSE l.path END "
        "FROM clinics c LEFT JOIN counted n USING (clinic_id) LEFT JOIN recounted r USING (clinic_id) "
        "LEFT JOIN loaded d USING (clinic_id) LEFT JOIN latest l USING (clinic_id) "
        "LEFT JOIN clinic_freshness f USING (clinic_id)",
        [recount_all],
    ).fetchall()
    con.execute("DELETE FROM clinic_freshness").fetchall()
    con.execute("INSERT INTO clinic_freshness SELECT * FROM _fresh ORDER BY clinic_id").fetchall()
    for temp in ("_fresh", "_touched", FRESH_DELTA):
        con.execute(f"DROP TABLE {temp}").fetchall()
