"""``ketaops audit``: the audit log, as text (one line per entry) or JSON (a list of objects)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from dashboard.access import audit_log


def cli_audit(args: argparse.Namespace) -> int:
    """Print the entries of ``--user`` (any case) from ``--since`` on; exit 0 (1 when there is no log)."""
    path = audit_log.audit_path(Path(args.db))
    if not path.is_file():
        print(f"ketaops audit: no audit log at {path}", file=sys.stderr)
        return 1
    since = datetime.combine(args.since, datetime.min.time(), tzinfo=UTC) if args.since else None
    records = audit_log.read(path, user=args.user, since=since)
    if args.format == "json":
        print(json.dumps([dataclasses.asdict(r) for r in records], indent=2))
        return 0
    for r in records:
        rows = "" if r.rows is None else f" rows={r.rows}"
        print(
            f"{r.at}  {r.user}  {r.role}  {r.scope}  {r.event}  {r.page}{rows}  "
            + audit_log.detail_text(r.detail)
        )
    return 0
