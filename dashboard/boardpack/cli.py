"""``ketaops report --month YYYY-MM [--scope …] --out PATH.pdf``: the board pack as a PDF file.

Exit 0 written; 1 no readable database; 2 bad argument (month, scope, settings);
3 the PDF could not be rendered (no Chromium, or it failed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from dashboard.access.scope import ScopeError, parse_scope, scope_clinics
from dashboard.boardpack import Month, RenderError, write_board_pack
from dashboard.db import connect
from dashboard.metrics import throughput
from dashboard.metrics.report import EXIT_BAD_ARGUMENT, EXIT_NO_DATABASE, EXIT_OK
from dashboard.metrics.report import _config as report_config

EXIT_RENDER_FAILED = 3


def _say(message: str) -> None:
    print(f"ketaops report: {message}", file=sys.stderr)


def cli_report(args: argparse.Namespace) -> int:
    db = Path(args.db)
    if not db.is_file():
        _say(f"no database at {db} (run `ketaops refresh` first)")
        return EXIT_NO_DATABASE
    try:
        cfg = report_config(db)
        scope = parse_scope(args.scope)
    except ValueError as exc:  # ScopeError, or unknown settings in ketaops.toml
        _say(str(exc))
        return EXIT_BAD_ARGUMENT
    try:
        with connect(db) as con:
            clinic_ids = scope_clinics(con, scope)
            if args.month:
                month = Month.parse(args.month)
            else:  # the last whole month of the data
                last = throughput.data_last_date(con)
                month = Month.of(last).shift(-1) if last else None
            if month is None:
                _say("the database has no sessions; give --month")
                return EXIT_BAD_ARGUMENT
            out = Path(args.out or f"board-pack-{month.iso}.pdf")
            data = write_board_pack(con, month, clinic_ids, cfg, out, scope_label=scope.label)
    except (ScopeError, ValueError) as exc:
        _say(str(exc))
        return EXIT_BAD_ARGUMENT
    except duckdb.Error as exc:
        _say(f"cannot read the database {db}: {str(exc).splitlines()[0]}")
        return EXIT_NO_DATABASE
    except RenderError as exc:
        _say(str(exc))
        return EXIT_RENDER_FAILED
    stale = ", ".join(cid for cid, _ in data.stale_clinics) or "none"
    print(f"wrote {out} ({data.month.iso}, scope {scope.label}, stale clinics: {stale})")
    return EXIT_OK
