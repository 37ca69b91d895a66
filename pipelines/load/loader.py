"""Load validated files into the database being built: staging, FKs, corrections.

Only changed rows are touched, so an incremental refresh costs in proportion to
what arrived, not to the size of the database: each file's accepted rows are
staged in a temp table; per table, rows whose foreign keys match nothing in the
database (this batch included, since tables load in ``contract.TABLES`` order)
become ``unknown_fk`` rejects; the last version of each key wins (files in the
order given, i.e. lexicographic by path); the keys are deleted from the table
and re-inserted; ``session_number`` is recomputed only for patients whose
sessions changed. Whether a key (or a foreign-key value) is already stored is
answered by ``<table>_key_hashes``, one 64-bit hash per stored key, so a day's
refresh does not scan millions of key strings (``key_hashes``).

This module holds the order of those steps; what they derive per patient
(``numbering``), the index they look keys up in (``key_hashes``) and what the run
records beside the data (``bookkeeping``) are modules of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from pipelines.contract import TABLES, Table
from pipelines.load.bookkeeping import (
    PATIENT_HISTORY_TABLES,
    event_tables,
    record_clinics_touched,
    record_fresh_delta,
    record_touched_patients,
)
from pipelines.load.key_hashes import (
    add_key_hashes,
    has_repeats,
    hash_keys,
    hash_sql,
    key_hashes,
    known_hashes,
)
from pipelines.load.numbering import (
    copy_condition_changes,
    insert_patients_numbered,
    insert_sessions_renumbered,
    patient_copies,
    record_condition_changes,
)
from pipelines.marts.time_order import CLUSTERED
from pipelines.redact import redact_columns
from pipelines.validate import FileResult

STAGE = "_stage"
FLUSH_ROWS = 200_000  # stage rows in DuckDB in batches: one insert per file costs ~10 ms each
# Probe the hashes with the distinct values looked up when they are fewer than 1/HASH_PROBE_RATIO
# of the table's rows; otherwise the DISTINCT costs more than joining every row's hash to all hashes.
HASH_PROBE_RATIO = 20
# A foreign key into a table of at most this many rows (the clinic register) has few distinct
# values in any batch: those are looked up, not every row's.
SMALL_REGISTER = 10_000


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


# Published columns the loader derives (the validator derives the others, e.g. dose_mg_per_kg).
LOADER_DERIVED = ("session_number", "primary_condition", "patient_no")


def staged_columns(table: Table) -> list[str]:
    """Published columns that come from the validator (derived ``LOADER_DERIVED`` are filled here)."""
    filled_here = {d.name for d in table.derived} & set(LOADER_DERIVED)
    return [name for name, _ in table.published_columns if name not in filled_here]


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
            record_clinics_touched(con, table, STAGE)
        key = table.key
        # Most batches repeat no key: looking for a repeat among the 64-bit key hashes is far
        # cheaper than the window that picks each key's last version (and than copying the
        # stage), and cheaper than among the key strings. Equal hashes only send the batch the
        # exact way; the hashes are kept for ``find_replaced``.
        hash_keys(con, table, STAGE)
        if has_repeats(con):
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
            # in the read-side order marts.time_order keeps, so it need not rewrite the table
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
                known = known_hashes(target, "(SELECT h FROM _probe)")
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _probe AS "
                    f"SELECT DISTINCT {col} AS v, {hash_sql(col)} AS h FROM {STAGE} WHERE {col} IS NOT NULL"
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
                    f"FROM {STAGE} s ANTI JOIN {key_hashes(target)} t ON t.key_hash = {hash_sql(f's.{col}')} "
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
        rejects = con.sql(
            "SELECT ?::VARCHAR AS run_id, ?::VARCHAR AS table_name, f.path AS source_file, "
            "b._row_number AS row_number, 'unknown_fk' AS reason, (?::VARCHAR[])[b.fk + 1] AS column_name, "
            "b.fk_values[b.fk + 1] AS value, b.raw_record, "
            "format('{} row {}: {} ''{}'' does not exist in {}', f.path, b._row_number, "
            "(?::VARCHAR[])[b.fk + 1], b.fk_values[b.fk + 1], (?::VARCHAR[])[b.fk + 1]) AS message "
            "FROM _fk_bad b JOIN _files f USING (_file_idx) ORDER BY b._file_idx, b._row_number",
            params=[self.run_id, table.name, [c for c, _ in fks], [c for c, _ in fks], [t for _, t in fks]],
        ).pl()
        # the same redaction as every other path into the quarantine (rejects.row_rejects)
        rejects, _ = redact_columns(rejects, ["value", "raw_record", "message"])
        con.register("_fk_rejects", rejects)
        con.execute("INSERT INTO rejected_rows BY NAME SELECT * FROM _fk_rejects").fetchall()
        con.unregister("_fk_rejects")
        bad = dict(con.execute("SELECT _file_idx, count(*) FROM _fk_bad GROUP BY ALL").fetchall())
        for i, load in enumerate(self.files):
            load.rows_rejected = (load.rows_rejected or 0) + bad.get(i, 0)
        con.execute(
            f"DELETE FROM {STAGE} USING _fk_bad b "
            f"WHERE {STAGE}._file_idx = b._file_idx AND {STAGE}._row_number = b._row_number"
        ).fetchall()
        con.execute("DROP TABLE _fk_bad").fetchall()


def find_replaced(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """``_old``: rowid, key (and owner) of the stored rows whose key is in ``_final``.

    The key hashes say which keys may be stored; only if some are is the table's key column
    scanned, for those keys. A day's new rows are all new keys: no scan at all. Needs
    ``_final_hashes`` of ``_final`` (``key_hashes.hash_keys``).
    """
    key = table.key
    owner = ", patient_key" if table.name in PATIENT_HISTORY_TABLES else ""
    if table.name == "patients":
        owner += ", patient_no"  # a corrected patients row keeps its number
    if table.name in dict(event_tables()):
        owner += ", clinic_id AS _clinic"  # whose newest date a replacement may lower
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _maybe AS SELECT k FROM _final_hashes "
        f"WHERE h IN ({known_hashes(table.name, '(SELECT h FROM _final_hashes)')})"
    ).fetchall()
    (maybe,) = con.execute("SELECT count(*) FROM _maybe").fetchone()
    where = f"{key} IN (SELECT k FROM _maybe)" if maybe else "false"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _old AS SELECT rowid AS _rid, {key} AS _key{owner} "
        f"FROM {table.name} WHERE {where}"
    ).fetchall()
    con.execute("DROP TABLE _maybe").fetchall()


def _status(load: FileLoad) -> str:
    if load.file_error:
        return "rejected"
    return "loaded_with_rejects" if load.rows_rejected else "loaded"
