"""``ketaops status``: last refresh runs and each clinic's freshness, as an exit code a monitor can alert on.

Exit code (docs/operations.md): 0 all well; otherwise bit flags —
4 the last run failed, 8 an open clinic's newest data is older than
``--stale-days``, 16 export files the last build could not read (e.g. 12 = the first
two); 66 no readable database and no run recorded.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from pipelines.model.freshness import clinic_freshness
from pipelines.progress import logfmt
from pipelines.publish import read_side_runs
from pipelines.runs import FAILED, PUBLISHED_RUNS_SQL, READ_COLUMNS, SUCCEEDED, outcome
from pipelines.signal_state import RunRecord, SignalState, default_path

EXIT_OK = 0
EXIT_LAST_RUN_FAILED = 4
EXIT_STALE = 8
EXIT_UNREAD = 16
EXIT_NO_DATABASE = 66


@dataclass
class ClinicFreshness:
    clinic_id: str
    clinic_name: str | None
    closed_on: date | None
    newest_data_date: date | None
    last_file_at: datetime | None
    last_file: str | None
    stale: bool


@dataclass
class StatusReport:
    runs: list[dict[str, object]] = field(default_factory=list)  # newest first
    clinics: list[ClinicFreshness] = field(default_factory=list)
    unread: list[tuple[str, str, str]] = field(default_factory=list)  # (path, reason, message)
    error: str | None = None
    signals: list[RunRecord] = field(default_factory=list)  # each recipient's newest signals run

    @property
    def last_run_failed(self) -> bool:
        return bool(self.runs) and self.runs[0]["status"] != SUCCEEDED

    @property
    def stale(self) -> list[ClinicFreshness]:
        return [c for c in self.clinics if c.stale]

    @property
    def exit_code(self) -> int:
        if self.error and not self.runs:
            return EXIT_NO_DATABASE
        return (
            (EXIT_LAST_RUN_FAILED if self.last_run_failed else 0)
            | (EXIT_STALE if self.stale else 0)
            | (EXIT_UNREAD if self.unread else 0)
        )


def _as_datetime(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@contextmanager
def _read_only(db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to ``db``: the file ATTACHed to an in-memory instance of its own.

    Not ``duckdb.connect(db, read_only=True)``: DuckDB reuses an open instance per path within a
    process, so another connection to the file there (read-write, or opened before a publish
    replaced it) would refuse the open or serve the old file. A missing file raises.
    """
    with duckdb.connect() as con:
        con.execute("ATTACH ? AS published (READ_ONLY)", [str(db)]).fetchall()
        con.execute("USE published").fetchall()
        yield con


def check_status(db: Path, stale_days: int, today: date, runs: int = 5) -> StatusReport:
    """Runs (published + recorded beside the file: failed, nothing new) and clinic freshness on ``today``."""
    report = StatusReport()
    records = [dict(r) for r in read_side_runs(db)]
    try:
        with _read_only(db) as con:
            rows = con.execute(f"{PUBLISHED_RUNS_SQL} ORDER BY r.started_at DESC LIMIT ?", [runs]).fetchall()
            records += [dict(zip(READ_COLUMNS, r, strict=True)) for r in rows]
            report.clinics = _freshness(con, stale_days, today)
            report.unread = _unread(con)
    except (duckdb.Error, OSError) as exc:
        report.error = f"cannot read the database {db}: {str(exc).splitlines()[0]}"
    for r in records:
        r.setdefault("files_rejected", 0)  # side records of older versions
        r["started_at"] = _as_datetime(r["started_at"])
        r["finished_at"] = _as_datetime(r["finished_at"])
    unique = {r["run_id"]: r for r in records}  # a side record may be in both places
    report.runs = sorted(unique.values(), key=lambda r: r["started_at"] or datetime.min, reverse=True)[:runs]
    try:
        report.signals = SignalState(default_path(db)).last_runs()
    except Exception as exc:  # sqlite3.Error, OSError: the state file is not the refresh's business
        report.error = (report.error or "") + f" cannot read the signal state: {exc}"
    return report


def _unread(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """Export files the last build could not read; none in a database older than the table."""
    try:
        return con.execute("SELECT path, reason, message FROM unread_files ORDER BY path").fetchall()
    except duckdb.CatalogException:
        return []


def _freshness(con: duckdb.DuckDBPyConnection, stale_days: int, today: date) -> list[ClinicFreshness]:
    """One stale rule, the model's (``freshness.clinic_freshness``): the dashboard and monitor agree."""
    frame = clinic_freshness(con, today, stale_days).sort("clinic_id")
    return [
        ClinicFreshness(**row)
        for row in frame.select(list(ClinicFreshness.__annotations__)).iter_rows(named=True)
    ]


def render(report: StatusReport, stale_days: int, today: date) -> str:
    lines = []
    if report.error:
        lines.append(report.error)
    lines.append("Last refresh runs (newest first, UTC):")
    if not report.runs:
        lines.append("  none recorded")
    for r in report.runs:
        started = r["started_at"].strftime("%Y-%m-%d %H:%M:%S") if r["started_at"] else "?"
        lines.append(
            f"  {started}  {_outcome(r):<22}  files read {r['files_read'] or 0}, "
            f"skipped {r['files_skipped'] or 0}, rejected {r['files_rejected'] or 0}; "
            f"rows loaded {r['rows_loaded'] or 0}, rejected {r['rows_rejected'] or 0}; "
            f"redactions {r['redactions'] or 0}  [{r['run_id']}]"
        )
        if _outcome(r) != SUCCEEDED and r.get("message"):
            lines.append(f"      {r['message']}")
    if report.clinics:
        lines.append(
            f"Clinic freshness on {today} (stale: open and newest data older than {stale_days} days; "
            "times UTC):"
        )
        for c in report.clinics:
            lines.append(_clinic_line(c, today))
    if report.unread:
        lines.append(f"Export files not read ({len(report.unread)}; every refresh tries them again):")
        lines += [f"  {reason:<16} {message}" for _, reason, message in report.unread]
    if report.signals:
        lines.append("Signals (ketaops signals --notify), newest run per recipient (UTC):")
    for sig in report.signals:
        sent = f"FAILED, {sig.failed} pending: {sig.error}" if sig.error else f"sent {sig.sent}"
        lines.append(
            f"  {sig.run_at:%Y-%m-%d %H:%M:%S}  {sig.recipient} ({sig.channel}): {sig.new} new, {sent}"
        )
    return "\n".join([*lines, summary_line(report, stale_days)])


def _outcome(run: dict[str, object]) -> str:
    return outcome(run["status"], run.get("files_rejected"), run.get("rows_rejected"))


def _clinic_line(c: ClinicFreshness, today: date) -> str:
    """The newest data date first (what goes stale); the last file and when it was loaded after it."""
    state = "STALE" if c.stale else ("closed" if c.closed_on and c.closed_on <= today else "ok")
    if c.newest_data_date is None:
        newest = "no data"
    else:
        days = (today - c.newest_data_date).days
        newest = f"newest data {c.newest_data_date} ({days} day{'s' if days != 1 else ''} old)"
    line = f"  {state:<6} {c.clinic_id:<12} {newest}"
    if c.last_file:
        loaded = f", loaded {c.last_file_at:%Y-%m-%d %H:%M}" if c.last_file_at else ""
        line += f"; last file {c.last_file}{loaded}"
    return line


def summary_line(report: StatusReport, stale_days: int) -> str:
    """One logfmt line for a monitor: ERROR for a failed run or no database, else WARNING if not 0.

    Every non-zero exit code comes with a ``reason`` saying which condition set it.
    """
    last = report.runs[0] if report.runs else None
    reasons = []
    if report.exit_code == EXIT_NO_DATABASE:
        reasons.append("no readable database and no run recorded")
    if report.last_run_failed:
        reasons.append(f"the last refresh {last['status'] if last else FAILED}")
    if report.stale:
        ids = ", ".join(c.clinic_id for c in report.stale)
        reasons.append(f"{len(report.stale)} open clinic(s) with no data newer than {stale_days} days: {ids}")
    if report.unread:
        reasons.append(f"{len(report.unread)} export file(s) could not be read")
    fields: dict[str, object] = {
        "last_run": _outcome(last) if last else None,
        "last_run_id": last["run_id"] if last else None,
        "files_rejected": last["files_rejected"] if last else None,
        "rows_rejected": last["rows_rejected"] if last else None,
        "stale_clinics": ",".join(c.clinic_id for c in report.stale) or None,
        "unread_files": len(report.unread) or None,
        "signals_failed": ",".join(sig.recipient for sig in report.signals if sig.error) or None,
        **({"reason": "; ".join(reasons)} if reasons else {}),
        "exit_code": report.exit_code,
    }
    serious = report.exit_code & EXIT_LAST_RUN_FAILED or report.exit_code == EXIT_NO_DATABASE
    level = "info" if report.exit_code == EXIT_OK else ("error" if serious else "warning")
    return logfmt("status", level, "status", **fields)


def cli_status(args: argparse.Namespace) -> int:
    today = date.today()
    report = check_status(Path(args.db), args.stale_days, today)
    print(render(report, args.stale_days, today), flush=True)
    return report.exit_code
