"""``ketaops`` command line: demo-data, refresh, status, metrics, report, signals, reviews, serve.

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

DEFAULT_EXPORTS = Path("data/exports")
DEFAULT_DB = Path("data/ketaops.duckdb")

# Polars' allocator (jemalloc) hands freed pages back to the OS after 0.5 s, Polars' default for
# interactive sessions. A refresh frees and allocates ~100 MB frames many times a second, so it
# kept faulting the same memory back in: 9.9M page faults and 56 s of system CPU in a full
# refresh at network scale. jemalloc's own default of 10 s: 5.9M faults, 36 s (docs/performance.md).
# Never returning pages (-1) saved little more and raised the peak RSS past 4 GB.
POLARS_ALLOCATOR = "_RJEM_MALLOC_CONF"
REFRESH_ALLOCATOR_CONF = "dirty_decay_ms:10000"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ketaops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo-data", help="write realistic synthetic clinic exports")
    demo.add_argument("--out", type=Path, default=DEFAULT_EXPORTS)
    demo.add_argument("--clinics", type=int, default=12)
    demo.add_argument("--years", type=float, default=2.0)
    demo.add_argument("--end", type=_date, default=None, help="last data date (default: today)")
    demo.add_argument(
        "--start",
        type=_date,
        default=None,
        help="first data date (default: end − years); fix it for incremental drops",
    )
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--format", choices=("csv", "parquet"), default="csv")
    demo.add_argument(
        "--dirty", action="store_true", help="add bad input of every kind the validator handles"
    )

    refresh = sub.add_parser("refresh", help="validate exports and publish the database")
    refresh.add_argument("--exports", type=Path, default=DEFAULT_EXPORTS)
    refresh.add_argument("--db", type=Path, default=DEFAULT_DB)
    refresh.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a running refresh")

    status = sub.add_parser("status", help="last runs and per-clinic freshness; non-zero when stale")
    status.add_argument("--db", type=Path, default=DEFAULT_DB)
    status.add_argument("--stale-days", type=int, default=3)

    metrics = sub.add_parser("metrics", help="print metrics.md's machine-readable figures")
    metrics.add_argument("--db", type=Path, default=DEFAULT_DB)
    metrics.add_argument("--start", type=_date, default=None)
    metrics.add_argument("--end", type=_date, default=None)
    metrics.add_argument("--clinic", action="append", default=None, dest="clinics")
    metrics.add_argument("--format", choices=("json", "csv"), default="json")

    reviews = sub.add_parser("reviews", help="the review store: back it up, or raise items from the database")
    reviews_sub = reviews.add_subparsers(dest="reviews_command", required=True)
    export = reviews_sub.add_parser("export", help="write every item and its history (.json, .csv, .sqlite)")
    sync = reviews_sub.add_parser("sync", help="raise review items from the published database")
    for p in (export, sync):
        p.add_argument("--db", type=Path, default=DEFAULT_DB)
        p.add_argument("--store", type=Path, default=None, help="default: <db stem>.reviews.sqlite by --db")
    export.add_argument("--out", type=Path, default=None, help="PATH.json, .csv or .sqlite")
    report = sub.add_parser("report", help="write the monthly board pack (PDF)")
    report.add_argument("--db", type=Path, default=DEFAULT_DB)
    report.add_argument("--month", default=None, help="YYYY-MM (default: the data's last whole month)")
    report.add_argument("--scope", default="network", help="network, clinic:ID[,ID…] or region:NAME")
    report.add_argument("--out", type=Path, default=None, help="PDF path (default: board-pack-YYYY-MM.pdf)")

    signals = sub.add_parser(
        "signals", help="what is new since the last run (serious AEs, funnel, SPC, stale)"
    )
    signals.add_argument("--db", type=Path, default=DEFAULT_DB)
    signals.add_argument("--config", type=Path, default=None, help="recipients and channels (TOML)")
    signals.add_argument("--notify", action="store_true", help="send and record (default: only print)")
    signals.add_argument("--recipient", action="append", default=None, help="only this recipient (repeat)")
    signals.add_argument("--format", choices=("json", "text"), default="text")
    signals.add_argument("--today", type=_date, default=None, help="judge freshness on this date")

    serve = sub.add_parser("serve", help="start the dashboard")
    serve.add_argument("--db", type=Path, default=DEFAULT_DB)
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument(
        "--exports", type=Path, default=DEFAULT_EXPORTS, help="where a demo's review seed is looked for"
    )
    serve.add_argument(
        "--address",
        default=None,
        help="address to listen on (a replica behind a proxy: 127.0.0.1 or its LAN address)",
    )
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
    import subprocess

    _apply_demo_review_seed(args.exports, args.db)
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    env = {**os.environ, "KETAOPS_DB": str(args.db.resolve())}
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port)]
    if args.address:
        cmd += ["--server.address", args.address]
    # run from the repository root so Streamlit finds .streamlit/config.toml (theme, headless, no usage stats)
    return subprocess.call(cmd, env=env, cwd=app.parent.parent)


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
