"""``ketaops signals [--db] [--config PATH] [--notify] [--format json|text]``.

Exit 0 done; 1 no readable database; 2 bad argument or config; 4 a send failed (its
signals stay pending and are sent by the next run).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import duckdb

from dashboard.access.scope import ScopeError, parse_scope
from dashboard.alerts.config import ConfigError, Recipient, SignalsConfig, load_signals_config
from dashboard.alerts.run import RecipientResult, run_signals
from dashboard.db import connect
from dashboard.metrics.report import EXIT_BAD_ARGUMENT, EXIT_NO_DATABASE, EXIT_OK
from dashboard.metrics.report import _config as metrics_config
from pipelines.signal_state import SignalState, default_path

EXIT_SEND_FAILED = 4


def _say(message: str) -> None:
    print(f"ketaops signals: {message}", file=sys.stderr)


def _text(results: list[RecipientResult], notify: bool) -> str:
    lines = []
    for r in results:
        state = (
            f"sent {r.sent}" + (f", FAILED {r.failed}: {r.error}" if r.error else "")
            if notify
            else "preview, nothing sent"
        )
        lines.append(f"{r.name} ({r.scope}, {r.channel}): {len(r.new)} new; {state}")
        lines += [f"  - {s['text']}\n    {s['url']}" for s in r.new]
    return "\n".join(lines)


def cli_signals(args: argparse.Namespace) -> int:
    db = Path(args.db)
    if not db.is_file():
        _say(f"no database at {db} (run `ketaops refresh` first)")
        return EXIT_NO_DATABASE
    try:
        cfg = metrics_config(db)
        if args.config:
            sconf = load_signals_config(Path(args.config))
        elif args.notify:
            raise ConfigError("--notify needs --config (recipients and channels)")
        else:  # a preview of the whole network
            sconf = SignalsConfig(recipients=(Recipient("network", parse_scope("network"), webhook="-"),))
        if args.recipient:
            sconf = SignalsConfig(
                sconf.dashboard_url,
                sconf.state,
                sconf.smtp,
                tuple(r for r in sconf.recipients if r.name in args.recipient),
            )
        state = SignalState(sconf.state or default_path(db))
        with connect(db) as con:
            results = run_signals(
                con, cfg, sconf, state, today=args.today or date.today(), notify=args.notify
            )
    except (ConfigError, ScopeError, ValueError) as exc:
        _say(str(exc))
        return EXIT_BAD_ARGUMENT
    except duckdb.Error as exc:
        _say(f"cannot read the database {db}: {str(exc).splitlines()[0]}")
        return EXIT_NO_DATABASE
    if args.format == "json":
        print(json.dumps({"notify": args.notify, "recipients": [r.__dict__ for r in results]}, indent=2))
    else:
        print(_text(results, args.notify))
    failed = [r for r in results if r.error]
    for r in failed:
        _say(f"sending to {r.name} failed ({r.failed} signals stay pending): {r.error}")
    return EXIT_SEND_FAILED if failed else EXIT_OK
