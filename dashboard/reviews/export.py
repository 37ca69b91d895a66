"""``ketaops reviews export``: the whole review store as JSON, CSV or an SQLite backup copy.

The store is opened read-only and never migrated by an export. ``.sqlite`` uses SQLite's
online backup (a consistent copy while servers keep writing): the file to restore from.
``.json`` holds items and history together; ``.csv`` writes the items to the path given
and the history to ``<stem>.history.csv`` beside it.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from dashboard.reviews.store import BUSY_TIMEOUT_MS, now_text, schema_version

FORMATS = (".json", ".csv", ".sqlite")


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.row_factory = sqlite3.Row
        yield conn
    finally:
        conn.close()


def _rows(conn: sqlite3.Connection, table: str, order: str) -> tuple[list[str], list[dict[str, Any]]]:
    cur = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")  # table names are constants here
    names = [d[0] for d in cur.description]
    return names, [dict(r) for r in cur.fetchall()]


def export(store_file: Path, out: Path | None, stdout: TextIO = sys.stdout) -> list[Path]:
    """Write the export; return the files written (none when JSON went to ``stdout``)."""
    if not store_file.is_file():
        raise FileNotFoundError(f"no review store at {store_file}")
    suffix = out.suffix.lower() if out is not None else ".json"
    if suffix not in FORMATS:
        raise ValueError(f"--out must end in {', '.join(FORMATS)}, not {suffix or 'no suffix'}")
    with _read_only(store_file) as conn:
        if out is not None and suffix == ".sqlite":
            out.parent.mkdir(parents=True, exist_ok=True)
            out.unlink(missing_ok=True)
            target = sqlite3.connect(out)
            try:
                conn.backup(target)
            finally:
                target.close()
            return [out]
        item_cols, items = _rows(conn, "items", "item_id")
        history_cols, history = _rows(conn, "history", "history_id")
        version = schema_version(conn)
    if suffix == ".json":
        doc = {"schema_version": version, "exported_at": now_text(), "items": items, "history": history}
        text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
        if out is None:
            stdout.write(text)
            return []
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        return [out]
    assert out is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    history_out = out.with_name(f"{out.stem}.history.csv")
    for path, names, rows in ((out, item_cols, items), (history_out, history_cols, history)):
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            writer.writeheader()
            writer.writerows(rows)
    return [out, history_out]
