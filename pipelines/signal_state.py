"""What ``ketaops signals --notify`` has sent to whom: a small SQLite file beside the database.

One row per (recipient, signal key): ``pending`` from the run that first found it until a send
succeeds, then ``sent``. A signal is offered again only while it is pending, so nothing is sent
twice and a failed send is retried on the next run. A sent signal whose condition has ended
(e.g. a clinic no longer stale) is forgotten, so the condition is reported again if it returns.
Each run is logged per recipient; ``ketaops status`` shows the newest (this module needs no
dashboard code for that).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATE_FILE = "ketaops-signals.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    recipient TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL,
    found_at TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', 'sent')), sent_at TEXT,
    PRIMARY KEY (recipient, key));
CREATE TABLE IF NOT EXISTS runs (
    run_at TEXT NOT NULL, recipient TEXT NOT NULL, channel TEXT NOT NULL,
    new INTEGER NOT NULL, sent INTEGER NOT NULL, failed INTEGER NOT NULL, error TEXT);
"""


def default_path(db: Path) -> Path:
    return db.with_name(STATE_FILE)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunRecord:
    run_at: datetime
    recipient: str
    channel: str
    new: int
    sent: int
    failed: int
    error: str | None


class SignalState:
    """The state file, opened per use (a run is short; the file may be shared by two hosts' cron)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _con(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as con:
            con.executescript(SCHEMA)
            with con:  # one transaction
                yield con

    def known(self, recipient: str) -> dict[str, str]:
        """key → state of every signal remembered for ``recipient``."""
        with self._con() as con:
            rows = con.execute("SELECT key, state FROM signals WHERE recipient = ?", (recipient,)).fetchall()
        return dict(rows)

    def add_pending(self, recipient: str, signals: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Remember newly found signals as pending (already known keys are left as they are)."""
        now = _now()
        with self._con() as con:
            con.executemany(
                "INSERT OR IGNORE INTO signals (recipient, key, payload, found_at, state) "
                "VALUES (?, ?, ?, ?, 'pending')",
                [(recipient, key, json.dumps(payload, default=str), now) for key, payload in signals],
            )

    def pending(self, recipient: str) -> list[dict[str, Any]]:
        """The pending signals' payloads, oldest first."""
        with self._con() as con:
            rows = con.execute(
                "SELECT payload FROM signals WHERE recipient = ? AND state = 'pending' "
                "ORDER BY found_at, key",
                (recipient,),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def mark_sent(self, recipient: str, keys: Iterable[str]) -> None:
        now = _now()
        with self._con() as con:
            con.executemany(
                "UPDATE signals SET state = 'sent', sent_at = ? WHERE recipient = ? AND key = ?",
                [(now, recipient, k) for k in keys],
            )

    def forget_ended(self, recipient: str, current: set[str]) -> None:
        """Drop sent signals whose condition no longer holds, so a recurrence is new again."""
        with self._con() as con:
            sent = con.execute(
                "SELECT key FROM signals WHERE recipient = ? AND state = 'sent'", (recipient,)
            ).fetchall()
            con.executemany(
                "DELETE FROM signals WHERE recipient = ? AND key = ?",
                [(recipient, k) for (k,) in sent if k not in current],
            )

    def log_run(
        self, recipient: str, channel: str, new: int, sent: int, failed: int, error: str | None
    ) -> None:
        with self._con() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_now(), recipient, channel, new, sent, failed, error),
            )

    def last_runs(self) -> list[RunRecord]:
        """Each recipient's newest run, recipients by name."""
        if not self.path.is_file():
            return []
        with self._con() as con:
            rows = con.execute(
                "SELECT run_at, recipient, channel, new, sent, failed, error FROM runs r "
                "WHERE run_at = (SELECT max(run_at) FROM runs WHERE recipient = r.recipient) "
                "ORDER BY recipient, rowid DESC"
            ).fetchall()
        seen: dict[str, RunRecord] = {}
        for run_at, *rest in rows:
            seen.setdefault(rest[0], RunRecord(datetime.fromisoformat(run_at), *rest))
        return list(seen.values())
