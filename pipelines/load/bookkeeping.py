"""What a run records beside the data: files seen, their mtimes, the patients and clinics it touched.

``source_files`` (one row per file a run read or ignored) lets the next run skip files
already loaded unchanged; ``clinic_freshness`` (per clinic: newest event date, last file)
is kept from what each table's load adds to ``_fresh_delta`` and ``_touched``;
``_touched_patients`` tells the read-side tables which patients to recompute. Kept apart
from the loader because none of it decides what is stored: it only remembers what was.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from pipelines.contract import TABLES, Table
from pipelines.marts import TOUCHED_PATIENTS

if TYPE_CHECKING:
    from pipelines.load.loader import FileLoad


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


def record_files(con: duckdb.DuckDBPyConnection, run_id: str, files: list[FileLoad]) -> None:
    """One ``source_files`` row per file the run read or ignored: what ``files_to_check`` skips next."""
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


def record_unread(
    con: duckdb.DuckDBPyConnection, run_id: str, unread: list[tuple[str, str, str]], at: datetime
) -> None:
    """Replace ``unread_files`` by the entries (relative path, reason, message) this run could not read.

    They are not in ``source_files``, so the next run tries them again; ``ketaops status``
    lists them until they read. Entries never handed to the validator (links, special files)
    also get their ``rejected_rows`` row here, as a file the validator rejects whole does.
    """
    con.execute("DELETE FROM unread_files").fetchall()
    if not unread:
        return
    con.executemany(
        "INSERT INTO unread_files VALUES (?, ?, ?, ?, ?)", [[*u, run_id, at] for u in unread]
    ).fetchall()
    never_read = [
        [run_id, path, reason, message] for path, reason, message in unread if reason != "read_error"
    ]
    if never_read:
        con.executemany(
            "INSERT INTO rejected_rows VALUES (?, NULL, ?, NULL, ?, NULL, NULL, NULL, ?)", never_read
        ).fetchall()


def same_unread(con: duckdb.DuckDBPyConnection, unread: list[tuple[str, str, str]]) -> bool:
    """Whether the published ``unread_files`` lists exactly these links and special files.

    Files that failed to read are not compared: they are never in ``source_files``, so a run
    that finds one always builds (and tries it again).
    """
    stored = con.execute("SELECT path, reason FROM unread_files WHERE reason <> 'read_error'").fetchall()
    return set(stored) == {(path, reason) for path, reason, _ in unread}


# Tables whose rows make up a patient's treatment history (day 0, session numbers, scores,
# condition): the per-patient summaries are recomputed for every patient they touch.
PATIENT_HISTORY_TABLES = ("patients", "sessions", "assessments")


def record_touched_patients(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Add the patients of the rows loaded (``_final``) and replaced (``_old``) to ``_touched_patients``.

    ``marts.maintain`` then updates its per-patient tables for those patients only
    (a day's refresh touches thousands of 1M patients). A session moved from one patient
    to another by a correction touches both. Each row says what touched the patient:
    ``session_at``, the time of a session loaded or replaced (the old row's time, read
    before it is deleted), or ``patient_row`` for the patients row itself; both empty for
    an assessment. Their first session can only change through those
    (``marts.first_sessions.update_first_sessions``).
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


# --- Clinic freshness ------------------------------------------------------------------------


def _clinic_column(table: Table) -> str:
    if table.name == "clinics":
        return table.key
    return next(col for col, target in table.foreign_keys.items() if target == "clinics")


def record_clinics_touched(con: duckdb.DuckDBPyConnection, table: Table, staged: str) -> None:
    """Which clinics each file loaded rows for: feeds ``clinic_freshness.last_file_at``.

    ``staged``: the table of the rows staged (with ``_file_idx``), beside ``_files``.
    """
    col = _clinic_column(table)
    con.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _touched (clinic_id VARCHAR, seen_at TIMESTAMP, path VARCHAR)"
    ).fetchall()
    con.execute(
        # the pairs of file and clinic first: a DISTINCT over every row of (string, time, path)
        # cost 0.35 s at 6M sessions
        f"INSERT INTO _touched SELECT DISTINCT s.{col}, f.seen_at, f.path "
        f"FROM (SELECT DISTINCT _file_idx, {col} FROM {staged}) s JOIN _files f USING (_file_idx)"
    ).fetchall()


def event_tables() -> list[tuple[str, str]]:
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
    column = dict(event_tables()).get(table.name)
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
            for name, col in event_tables()
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
