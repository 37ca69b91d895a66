"""Refresh run records as ``ketaops status`` and the Data page read them, and what a run's outcome is called.

A run's record lives in ``refresh_runs`` when it published, otherwise in the side runs log
beside the database (``pipelines.publish``). Files rejected whole are counted from the
run's ``source_files`` rows (``status = 'rejected'``), so databases written before the count
existed show it too; a side record carries its own count.
"""

from __future__ import annotations

RUN_COLUMNS = (
    "run_id",
    "started_at",
    "finished_at",
    "status",
    "files_read",
    "files_skipped",
    "rows_loaded",
    "rows_rejected",
    "redactions",
    "message",
)
# What a reader gets for each run: the stored columns and the files the run rejected whole.
READ_COLUMNS = (*RUN_COLUMNS, "files_rejected")

SUCCEEDED, FAILED = "succeeded", "failed"
SUCCEEDED_WITH_REJECTS = "succeeded with rejects"

PUBLISHED_RUNS_SQL = f"""
    SELECT {", ".join(f"r.{c}" for c in RUN_COLUMNS)}, coalesce(f.files_rejected, 0) AS files_rejected
    FROM refresh_runs r
    LEFT JOIN (SELECT run_id, count(*) AS files_rejected FROM source_files
               WHERE status = 'rejected' GROUP BY run_id) f USING (run_id)"""


def outcome(status: object, files_rejected: object, rows_rejected: object) -> str:
    """``succeeded``, ``succeeded with rejects`` (it refused files or rows) or the stored status.

    A run that rejected data did what it was asked, but someone has to fix exports: it is
    never shown as a plain success.
    """
    if status == SUCCEEDED and ((files_rejected or 0) > 0 or (rows_rejected or 0) > 0):  # type: ignore[operator]
        return SUCCEEDED_WITH_REJECTS
    return str(status)
