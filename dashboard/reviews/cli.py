"""``ketaops reviews export|sync``: the commands behind ``pipelines/cli.py``'s parser."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from dashboard.reviews.store import StoreTooNew, store_path


def _store(args: argparse.Namespace) -> Path:
    return Path(args.store) if args.store else store_path(Path(args.db))


def cli_reviews(args: argparse.Namespace) -> int:
    target = _store(args)
    try:
        if args.reviews_command == "export":
            from dashboard.reviews.export import export

            written = export(target, args.out)
            for path in written:
                print(f"reviews export: {path}", file=sys.stderr)
            return 0
        if args.reviews_command == "sync":
            from dashboard.reviews.items import sync_if_stale

            if not Path(args.db).is_file():
                print(f"ketaops reviews sync: no database at {args.db}", file=sys.stderr)
                return 1
            result = sync_if_stale(target, Path(args.db))
            if result is None:
                print("reviews sync: already synced from this database", file=sys.stderr)
            else:
                print(f"reviews sync: {result.raised} raised, {result.changed} changed", file=sys.stderr)
            return 0
    except (FileNotFoundError, ValueError, StoreTooNew, sqlite3.Error) as exc:
        print(f"ketaops reviews {args.reviews_command}: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(args.reviews_command)
