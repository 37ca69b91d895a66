"""Data operations figures: refresh history, clinic freshness, rejected rows, "data as of".

For the Data page and the header of every page. A refresh that publishes
nothing (it failed, or found nothing new) leaves the published file untouched
and records its run in a JSON-lines file beside it (``pipelines.publish``), so
the run history merges both sources, as ``ketaops status`` does. Clinic
freshness and its stale rule are the shared model's (``pipelines.model.freshness``),
as ``ketaops status`` reads them.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl

from pipelines.contract import REASONS
from pipelines.model.config import MetricConfig
from pipelines.model.freshness import clinic_freshness
from pipelines.publish import read_side_runs
from pipelines.runs import PUBLISHED_RUNS_SQL, outcome
from pipelines.versions import pointer_for

RUN_SCHEMA: dict[str, Any] = {
    "run_id": pl.String,
    "started_at": pl.Datetime("us"),
    "finished_at": pl.Datetime("us"),
    "status": pl.String,
    "files_read": pl.Int64,
    "files_skipped": pl.Int64,
    "files_rejected": pl.Int64,
    "rows_loaded": pl.Int64,
    "rows_rejected": pl.Int64,
    "redactions": pl.Int64,
    "message": pl.String,
}


def published_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file behind the connection's current database (None for an in-memory one)."""
    rows = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return Path(rows[0][0]) if rows and rows[0][0] else None


def _side_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    path = published_path(con)
    records = read_side_runs(pointer_for(path)) if path else []  # beside the published path

    def value(record: dict[str, object], key: str) -> object:
        v = record.get(key)
        if v is None or RUN_SCHEMA[key] == pl.String:
            return None if v is None else str(v)
        if RUN_SCHEMA[key] == pl.Int64:
            return int(v)  # type: ignore[call-overload]
        return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))

    return pl.DataFrame({k: [value(r, k) for r in records] for k in RUN_SCHEMA}, schema=RUN_SCHEMA)


# A run that read no file: it found nothing new (most runs of a quarter-hourly schedule).
FOUND_NOTHING = (pl.col("status") == "succeeded") & (pl.col("files_read").fill_null(0) == 0)


def refresh_history(
    con: duckdb.DuckDBPyConnection, limit: int = 20, *, include_idle: bool = True
) -> pl.DataFrame:
    """The newest ``limit`` refresh runs, newest first, with duration_s and outcome.

    Published ones and those recorded beside the file (failed, never started, or nothing
    new). ``files_rejected`` counts the files the run rejected whole; ``outcome`` is the
    status a person reads (``pipelines.runs.outcome``: "succeeded with rejects" when the run
    refused files or rows).
    ``include_idle=False`` leaves out the succeeded runs that read no file, before the
    limit: with a quarter-hourly schedule they would fill any page of history.
    """
    published = con.sql(PUBLISHED_RUNS_SQL).pl().select(list(RUN_SCHEMA)).cast(RUN_SCHEMA)  # type: ignore[arg-type]
    runs = (
        pl.concat([_side_runs(con), published])
        .unique("run_id", keep="last", maintain_order=True)  # a side record folded in later is in both
        .filter(pl.lit(include_idle) | ~FOUND_NOTHING)
        .sort("started_at", descending=True, nulls_last=True)
        .head(limit)
    )
    outcomes = [outcome(*r) for r in runs.select("status", "files_rejected", "rows_rejected").iter_rows()]
    return runs.with_columns(
        duration_s=(pl.col("finished_at") - pl.col("started_at")).dt.total_milliseconds() / 1000.0,
        outcome=pl.Series(outcomes, dtype=pl.String),
    )


def rejected_summary(
    con: duckdb.DuckDBPyConnection, by: Literal["reason", "file"] = "reason"
) -> pl.DataFrame:
    """Rejected input rows grouped by reason code or by source file, largest first.

    by="reason": reason, description, rows, files, tables.
    by="file": source_file, table_name, rows, reasons, rows_read and rows_loaded
    (from the file's latest ``source_files`` record; null for files never recorded).
    """
    if by == "reason":
        counts = con.sql(
            """
            SELECT reason, count(*) AS rows, count(DISTINCT source_file) AS files,
                   string_agg(DISTINCT table_name, ', ' ORDER BY table_name) AS tables
            FROM rejected_rows GROUP BY reason ORDER BY rows DESC, reason"""
        ).pl()
        return counts.with_columns(
            description=pl.col("reason").replace_strict(REASONS, default=None, return_dtype=pl.String)
        ).select("reason", "description", "rows", "files", "tables")
    if by == "file":
        return con.sql(
            """
            WITH latest AS (
                SELECT path, arg_max(rows_read, seen_at) AS rows_read,
                       arg_max(rows_loaded, seen_at) AS rows_loaded
                FROM source_files GROUP BY path)
            SELECT r.source_file, any_value(r.table_name) AS table_name, count(*) AS rows,
                   string_agg(DISTINCT r.reason, ', ' ORDER BY r.reason) AS reasons,
                   any_value(l.rows_read) AS rows_read, any_value(l.rows_loaded) AS rows_loaded
            FROM rejected_rows r LEFT JOIN latest l ON l.path = r.source_file
            GROUP BY r.source_file ORDER BY rows DESC, r.source_file"""
        ).pl()
    raise ValueError(f"by must be 'reason' or 'file', not {by!r}")


def rejected_rows(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> pl.DataFrame:
    """Every rejected row (of one run, if given) for the CSV download, in file and row order."""
    where, params = ("WHERE run_id = ?", [run_id]) if run_id is not None else ("", [])
    return con.sql(
        f"""
        SELECT run_id, table_name, source_file, row_number, reason, column_name, value, raw_record, message
        FROM rejected_rows {where}
        ORDER BY source_file, row_number NULLS FIRST, reason""",
        params=params,
    ).pl()


def data_as_of(
    con: duckdb.DuckDBPyConnection, today: date | None = None, stale_days: int = MetricConfig.stale_days
) -> dict[str, Any]:
    """What the header shows: newest data date, last refresh and how many open clinics are stale.

    newest_data_date is the newest clinic_freshness date, or the newest session
    date when that table is empty. The last refresh is the newest run, failed
    ones included; last_refresh_outcome names a run that rejected data "succeeded with
    rejects"; last_success_at is the newest succeeded run's finish.
    """
    today = today or date.today()
    # Two statements, not one coalesce: DuckDB evaluates both scalar subqueries, and the sessions
    # scan is the expensive one. max of the dates = date of the max (the cast is monotonic), and
    # the max of the raw column is read from row-group statistics.
    newest = con.execute("SELECT max(newest_data_date) FROM clinic_freshness").fetchall()[0][0]
    if newest is None:
        newest = con.execute("SELECT CAST(max(scheduled_at) AS DATE) FROM sessions").fetchall()[0][0]
    runs = refresh_history(con, limit=1_000)
    last = runs.row(0, named=True) if runs.height else None
    succeeded = runs.filter(status="succeeded")
    stale_ids = clinic_freshness(con, today, stale_days).filter("stale")["clinic_id"].to_list()
    last_success: datetime | None = succeeded["finished_at"][0] if succeeded.height else None
    return {
        "newest_data_date": newest,
        "last_refresh_at": (last["finished_at"] or last["started_at"]) if last else None,
        "last_refresh_status": last["status"] if last else None,
        "last_refresh_outcome": last["outcome"] if last else None,
        "last_refresh_files_rejected": last["files_rejected"] if last else None,
        "last_refresh_rows_rejected": last["rows_rejected"] if last else None,
        "last_refresh_message": last["message"] if last else None,
        "last_success_at": last_success,
        "stale_clinics": len(stale_ids),
        "stale_clinic_ids": stale_ids,
    }
