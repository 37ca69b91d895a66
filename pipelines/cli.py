"""``ketaops`` command line: demo-data, refresh, status, metrics, report, signals, reviews, serve, audit.

Each subcommand lives in its own module; this file only parses arguments so
``ketaops --help`` stays fast and a bad argument never shows a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import suppress
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

DEFAULT_EXPORTS = Path("data/exports")
DEFAULT_DB = Path("data/ketaops.duckdb")

# Polars' allocator (jemalloc) hands freed pages back to the OS after 0.5 s, Polars' default for
# interactive sessions. A refresh frees and allocates ~100 MB frames many times a second, so it
# kept faulting the same memory back in: 9.9M page faults and 56 s of system CPU in a full
# refresh at network scale. jemalloc's own default of 10 s: 5.9M faults, 36 s (docs/performance.md).
# Never returning pages (-1) saved little more and raised the peak RSS past 4 GB.
POLARS_ALLOCATOR = "_RJEM_MALLOC_CONF"
REFRESH_ALLOCATOR_CONF = "dirty_decay_ms:10000"


if TYPE_CHECKING:
    from dashboard.access.scope import Scope


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def _scope(text: str) -> Scope:
    """``--scope``: network, region:NAME, clinic:ID or clinics:ID,ID (checked against the clinics later)."""
    from dashboard.access.scope import ScopeError, parse_scope

    try:
        return parse_scope(text)
    except ScopeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


# Exit codes per command, shown by its ``--help`` (docs/operations.md explains each).
EXIT_CODES: dict[str, tuple[tuple[int, str], ...]] = {
    "demo-data": ((0, "exports written"), (2, "bad argument (e.g. --clinics 0, --start after --end)")),
    "refresh": (
        (0, "published, or nothing new (the run is recorded either way)"),
        (66, "the exports folder does not exist"),
        (70, "the run failed; the published database is unchanged"),
        (73, "the database path or its folder cannot be written"),
        (75, "another refresh holds the lock (after --wait); try again later"),
        (130, "stopped by Ctrl-C (SIGINT); the published database is unchanged"),
        (143, "stopped by SIGTERM; the published database is unchanged"),
    ),
    "status": (
        (0, "the last run succeeded (with or without rejects) and no open clinic is stale"),
        (4, "the last refresh failed (or never started)"),
        (8, "an open clinic's newest data is older than --stale-days"),
        (16, "export files the last build could not read (listed until they read)"),
        (12, "4 + 8; flags add up (24 = 8 + 16, 28 = all three)"),
        (66, "no readable database and no run recorded"),
    ),
    "metrics": ((0, "figures printed"), (1, "no readable database"), (2, "bad argument")),
    "reviews": ((0, "done"), (1, "no database, or the store cannot be read or written")),
    "report": (
        (0, "board pack written"),
        (1, "no readable database"),
        (2, "bad argument (month, scope, settings)"),
        (3, "the PDF could not be rendered (no Chromium, or it failed)"),
    ),
    "signals": (
        (0, "done"),
        (1, "no readable database"),
        (2, "bad argument or config"),
        (4, "a send failed (its signals stay pending for the next run)"),
    ),
    "serve": (
        (0, "stopped by SIGTERM or Ctrl-C"),
        (1, "Streamlit failed to start"),
        (2, "refused: sign-in settings, address or access file (the reason is printed)"),
    ),
    "audit": ((0, "entries printed"), (1, "no audit log beside the database")),
}
# Failed runs, whole-file and row rejects are recorded for every refresh, whatever its exit code.
EPILOG_NOTE = {
    "refresh": "Every run is recorded, however it ends (ketaops status, the Data page).",
    "status": "Prints the last runs and each clinic's freshness, then one logfmt line with the "
    "reason for a non-zero exit code.",
}


def _epilog(command: str) -> str:
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.get(command, ()))
    note = f"{EPILOG_NOTE[command]}\n\n" if command in EPILOG_NOTE else ""
    return f"{note}exit codes:\n{codes}"


def _command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    summary: str,
    codes: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` has a description and the exit codes of ``codes`` (default: ``name``)."""
    return sub.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=_epilog(codes or name),
        formatter_class=_HelpFormatter,
    )


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (unless it has none), and the exit codes' table as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return text
        if "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ketaops",
        description="KetaOps: validate clinic exports into a published database; watch, report and serve it.",
        epilog="`ketaops COMMAND --help` describes each option and the command's exit codes.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _command(sub, "demo-data", "write realistic synthetic clinic exports")
    demo.add_argument("--out", type=Path, default=DEFAULT_EXPORTS, help="folder the exports are written to")
    demo.add_argument("--clinics", type=int, default=12, help="number of clinics in the network")
    demo.add_argument("--years", type=float, default=2.0, help="years of history before --end")
    demo.add_argument("--end", type=_date, default=None, help="last data date, YYYY-MM-DD (default: today)")
    demo.add_argument(
        "--start",
        type=_date,
        default=None,
        help="first data date (default: end − years); fix it for incremental drops",
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed: the same seed writes the same data")
    demo.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="file format of the exports"
    )
    demo.add_argument(
        "--dirty", action="store_true", help="add bad input of every kind the validator handles"
    )

    refresh = _command(sub, "refresh", "validate new exports and publish the database")
    refresh.add_argument(
        "--exports", type=Path, default=DEFAULT_EXPORTS, help="folder of clinic export files"
    )
    refresh.add_argument("--db", type=Path, default=DEFAULT_DB, help="the published DuckDB file")
    refresh.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for a running refresh, then exit 75"
    )

    status = _command(sub, "status", "last refresh runs and each clinic's data freshness, as an exit code")
    status.add_argument("--db", type=Path, default=DEFAULT_DB, help="the published DuckDB file")
    status.add_argument(
        "--stale-days",
        type=int,
        default=3,
        help="an open clinic is stale when its newest data is older than this many days",
    )

    metrics = _command(sub, "metrics", "print the metrics of docs/metrics.md as JSON or CSV")
    metrics.add_argument("--db", type=Path, default=DEFAULT_DB, help="the published DuckDB file")
    metrics.add_argument(
        "--start", type=_date, default=None, help="first day of the period (default: 90 days)"
    )
    metrics.add_argument(
        "--end", type=_date, default=None, help="last day of the period (default: newest data)"
    )
    metrics.add_argument(
        "--clinic",
        action="append",
        default=None,
        dest="clinics",
        help="a clinic id to report on; repeat for several (default: every clinic)",
    )
    metrics.add_argument("--format", choices=("json", "csv"), default="json", help="output format")
    metrics.add_argument(
        "--scope",
        type=_scope,
        default=None,
        help="print what a viewer of this scope sees: network, region:NAME, clinic:ID (default: network)",
    )

    reviews = _command(sub, "reviews", "the review store: back it up, or raise items from the database")
    reviews_sub = reviews.add_subparsers(dest="reviews_command", required=True, metavar="ACTION")
    export = _command(
        reviews_sub, "export", "write every review item and its history (.json, .csv, .sqlite)", "reviews"
    )
    sync = _command(reviews_sub, "sync", "raise review items from the published database", "reviews")
    for p in (export, sync):
        p.add_argument("--db", type=Path, default=DEFAULT_DB, help="the published DuckDB file")
        p.add_argument(
            "--store", type=Path, default=None, help="the review store (default: <db stem>.reviews.sqlite)"
        )
    export.add_argument("--out", type=Path, default=None, help="file to write: PATH.json, .csv or .sqlite")

    report = _command(sub, "report", "write the monthly board pack (PDF)")
    report.add_argument("--db", type=Path, default=DEFAULT_DB, help="the published DuckDB file")
    report.add_argument("--month", default=None, help="YYYY-MM (default: the data's last whole month)")
    report.add_argument("--scope", default="network", help="network, clinic:ID[,ID…] or region:NAME")
    report.add_argument("--out", type=Path, default=None, help="PDF path (default: board-pack-YYYY-MM.pdf)")

    signals = _command(sub, "signals", "what is new since the last run (serious AEs, funnel, SPC, stale)")
    signals.add_argument("--db", type=Path, default=DEFAULT_DB, help="the published DuckDB file")
    signals.add_argument("--config", type=Path, default=None, help="recipients and channels (TOML)")
    signals.add_argument("--notify", action="store_true", help="send and record (default: only print)")
    signals.add_argument("--recipient", action="append", default=None, help="only this recipient (repeat)")
    signals.add_argument("--format", choices=("json", "text"), default="text", help="output format")
    signals.add_argument(
        "--today", type=_date, default=None, help="judge freshness on this date (default: today)"
    )

    serve = _command(sub, "serve", "run the dashboard (Streamlit) in the foreground")
    serve.add_argument("--db", type=Path, default=DEFAULT_DB, help="the published DuckDB file it reads")
    serve.add_argument("--port", type=int, default=8501, help="TCP port to listen on")
    serve.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on; without [auth] in the secrets: loopback only",
    )
    serve.add_argument(
        "--access", type=Path, default=None, help="the access file (default: access.toml beside the database)"
    )
    serve.add_argument(
        "--secrets",
        type=Path,
        default=Path(".streamlit/secrets.toml"),
        help="Streamlit secrets with the [auth] sign-in settings",
    )
    serve.add_argument(
        "--exports", type=Path, default=DEFAULT_EXPORTS, help="where a demo's review seed is looked for"
    )

    audit = _command(sub, "audit", "print the audit log (sign-ins, page views, downloads)")
    audit.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help="the published DuckDB file (the log is beside it)"
    )
    audit.add_argument("--user", default=None, help="one user's entries (e-mail, any case)")
    audit.add_argument("--since", type=_date, default=None, help="entries from this day on, YYYY-MM-DD (UTC)")
    audit.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo-data":
        from pipelines.demo.cli import run as run_demo

        return run_demo(args)
    if args.command == "refresh":
        _keep_freed_memory_longer()
        from pipelines.refresh import cli_refresh

        return cli_refresh(args)
    if args.command == "status":
        from pipelines.status import cli_status

        return cli_status(args)
    if args.command == "metrics":
        from dashboard.metrics.report import cli_metrics

        return cli_metrics(args)
    if args.command == "reviews":
        from dashboard.reviews.cli import cli_reviews

        return cli_reviews(args)
    if args.command == "report":
        from dashboard.boardpack.cli import cli_report

        return cli_report(args)
    if args.command == "signals":
        from dashboard.alerts.cli import cli_signals

        return cli_signals(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "audit":
        from dashboard.access.audit_cli import cli_audit

        return cli_audit(args)
    raise AssertionError(args.command)


def _keep_freed_memory_longer() -> None:
    """Give Polars' allocator ``REFRESH_ALLOCATOR_CONF``, if Polars is not loaded yet (it reads it once).

    Polars appends ``$_RJEM_MALLOC_CONF`` to its own defaults and jemalloc's last setting wins, so
    this goes before an operator's own value, which still wins.
    """
    if "polars" in sys.modules:  # an in-process caller (tests): too late, and not ours to change
        return
    own = os.environ.get(POLARS_ALLOCATOR)
    os.environ[POLARS_ALLOCATOR] = f"{REFRESH_ALLOCATOR_CONF},{own}" if own else REFRESH_ALLOCATOR_CONF


def _serve(args: argparse.Namespace) -> int:
    """Check sign-in, address and access file (refusing with the reason), then become Streamlit.

    ``exec``: a SIGTERM or Ctrl-C to this PID stops the server itself. A child process would
    outlive a parent stopped by a signal and keep the port; with ``exec`` there is one process,
    whatever stops it.
    """
    from dashboard.access.serve_checks import ServeRefused, check_serve

    try:
        settings = check_serve(args.db, args.address, args.secrets, args.access)
    except ServeRefused as exc:
        print(f"ketaops serve: {exc}", file=sys.stderr)
        return 2
    _apply_demo_review_seed(args.exports, args.db)
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    env = {
        **os.environ,
        "KETAOPS_DB": str(args.db.resolve()),
        "KETAOPS_ACCESS": str(settings.access.resolve()),
    }
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port)]
    cmd += ["--server.address", settings.address]
    # Streamlit reads only the secrets file checked here (a missing one: the demo mode), not those it
    # would otherwise look for in the checkout and the home folder
    cmd += ["--secrets.files", str((settings.secrets or args.secrets).resolve())]
    # run from the repository root so Streamlit finds .streamlit/config.toml (theme, headless, no usage stats)
    os.chdir(app.parent.parent)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execve(sys.executable, cmd, env)


def _apply_demo_review_seed(exports: Path, db: Path) -> None:
    """A demo's exports carry a review seed: put its items in review once, before the first page."""
    from pipelines.demo.review_seed import REVIEW_SEED_FILE

    seed = exports / REVIEW_SEED_FILE
    if not (seed.is_file() and db.is_file()):
        return
    from dashboard.reviews.seed import apply_seed

    try:
        changed = apply_seed(seed, db)
    except Exception as exc:  # the dashboard still starts; the seed is a demo nicety
        print(f"ketaops serve: demo review seed not applied: {exc}", file=sys.stderr)
        return
    if changed:
        print(f"ketaops serve: {changed} demo review items put in review", file=sys.stderr)


def run() -> None:
    """Console entry (``ketaops``, ``python -m pipelines.cli``): exit without tearing the interpreter down.

    By the time ``main`` returns, every command has closed its files and databases and
    released its lock; freeing the Polars and DuckDB modules at exit took 0.1-0.2 s of
    every scheduled refresh (docs/performance.md). An exception or ``SystemExit`` (argparse,
    SIGTERM) leaves the normal way.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed or broken pipe: nothing left to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
