"""The review workflow: statuses, outcomes, who may write, and every write to the store.

Every write names the item's version it was based on and runs as
``UPDATE items … WHERE item_id = ? AND version = ?`` inside one write transaction
that also appends its history rows, so two people editing one item (two tabs, two
processes) never overwrite each other: the second gets ``StaleEdit`` and reloads.
History rows are only ever inserted (the store's triggers refuse updates and deletes).

``sync`` (called by ``items.sync``) raises items for what the published database
flags and records source changes as history of the ``system`` actor.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dashboard.reviews.config import SEVERITIES, ReviewConfig
from dashboard.reviews.store import now_text, transaction

STATUSES = ("open", "in_review", "closed")
STATUS_LABELS = {"open": "open", "in_review": "in review", "closed": "closed"}
OUTCOMES = ("confirmed", "not_an_event", "data_error", "action_taken")
OUTCOME_LABELS = {
    "confirmed": "confirmed",
    "not_an_event": "not an event",
    "data_error": "data error",
    "action_taken": "action taken",
}
# (from, to): forward through review, back to open, and reopening a closed item
TRANSITIONS = frozenset(
    {("open", "in_review"), ("in_review", "open"), ("in_review", "closed"), ("closed", "in_review")}
)
SOURCE_STATES = ("flagged", "not_flagged", "missing")
REVIEW_ROLES = ("quality",)
SYSTEM = "system"  # the actor of items raised and source changes found by a sync
NOTE_MAX_CHARS = 10_000
NAME_MAX_CHARS = 200


@dataclass(frozen=True)
class Actor:
    """Who writes: a signed-in viewer's e-mail, display name, role and clinic scope.

    ``clinic_ids`` None is the whole network. Until sign-in exists every writer is
    ``DEMO_ACTOR``.
    """

    user_id: str
    name: str
    role: str
    clinic_ids: tuple[str, ...] | None = None


DEMO_ACTOR = Actor("demo", "local demo user", "quality")


@dataclass(frozen=True)
class Candidate:
    """An item the published database flags now, as ``items.derive`` finds it."""

    kind: str
    subject: str
    clinic_id: str
    occurred_on: date
    severity: str
    title: str
    fingerprint: str


class ReviewError(ValueError):
    """A write that cannot be made; the message is for the person who tried."""


class StaleEdit(ReviewError):
    """The item changed since the writer read it (another tab, user or a sync)."""

    def __init__(self, item_id: int, expected: int, current: int, by: str, at: str) -> None:
        self.item_id, self.expected, self.current, self.by, self.at = item_id, expected, current, by, at
        super().__init__(
            f"Item {item_id} was changed by {by} at {at} after you opened it "
            f"(you had version {expected}, it is now {current}). Nothing of yours was saved: "
            "reload the item to see that change, then make yours again."
        )


class NotAllowed(ReviewError):
    """The actor's role or clinic scope does not allow this write."""


class NotFound(ReviewError):
    """No item has this id (or it is outside the actor's scope)."""


def can_review(actor: Actor) -> bool:
    return actor.role in REVIEW_ROLES


def due_on(raised: date, severity: str, cfg: ReviewConfig) -> date:
    return raised + timedelta(days=cfg.due_days(severity))


def _plain_text(value: str, what: str, limit: int) -> str:
    """Trimmed text without NUL characters, at most ``limit`` characters; shown as text, never markup."""
    if not isinstance(value, str):
        raise ReviewError(f"{what} must be text")
    text = value.strip()
    if "\x00" in text:
        raise ReviewError(f"{what} contains a NUL character")
    if len(text) > limit:
        raise ReviewError(f"{what} is longer than {limit:,} characters")
    return text


# --- Writes by people -----------------------------------------------------------------------


def transition(
    conn: sqlite3.Connection,
    item_id: int,
    to_status: str,
    actor: Actor,
    expected_version: int,
    *,
    outcome: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> int:
    """Move an item along ``TRANSITIONS``; return its new version.

    Closing needs an ``outcome``; reopening a closed item needs a ``note`` saying why.
    Starting a review of an unassigned item assigns it to the actor.
    """
    if to_status not in STATUSES:
        raise ReviewError(f"unknown status {to_status!r}")
    if to_status == "closed" and outcome not in OUTCOMES:
        raise ReviewError(f"closing needs an outcome: one of {', '.join(OUTCOMES)}")
    if to_status != "closed" and outcome is not None:
        raise ReviewError("only closing takes an outcome")
    text = _plain_text(note, "note", NOTE_MAX_CHARS) if note is not None else ""

    def changes(row: sqlite3.Row) -> dict[str, object]:
        if (row["status"], to_status) not in TRANSITIONS:
            raise ReviewError(
                f"an item that is {STATUS_LABELS[row['status']]} cannot become {STATUS_LABELS[to_status]}"
            )
        if row["status"] == "closed" and not text:
            raise ReviewError("reopening a closed item needs a note saying why")
        out: dict[str, object] = {"status": to_status, "outcome": outcome}
        if to_status == "in_review" and row["assignee"] is None:
            out["assignee"] = actor.user_id
        return out

    return _write(conn, item_id, actor, expected_version, changes, text, now)


def assign(
    conn: sqlite3.Connection,
    item_id: int,
    assignee: str | None,
    actor: Actor,
    expected_version: int,
    *,
    now: datetime | None = None,
) -> int:
    """Give the item to ``assignee`` (a user id such as an e-mail), or to nobody with None."""
    who = (_plain_text(assignee, "assignee", NAME_MAX_CHARS) or None) if assignee is not None else None
    return _write(conn, item_id, actor, expected_version, lambda _row: {"assignee": who}, "", now)


def add_note(
    conn: sqlite3.Connection,
    item_id: int,
    note: str,
    actor: Actor,
    expected_version: int,
    *,
    now: datetime | None = None,
) -> int:
    """Append a note to the item's history."""
    text = _plain_text(note, "note", NOTE_MAX_CHARS)
    if not text:
        raise ReviewError("the note is empty")
    return _write(conn, item_id, actor, expected_version, lambda _row: {}, text, now)


def _write(
    conn: sqlite3.Connection,
    item_id: int,
    actor: Actor,
    expected_version: int,
    changes_for: Callable[[sqlite3.Row], dict[str, object]],
    note: str,
    now: datetime | None,
) -> int:
    """One attributed write: check role, scope and version, update the item, append its history."""
    if not can_review(actor):
        roles = " or ".join(REVIEW_ROLES)
        raise NotAllowed(f"reviewing needs the {roles} role; {actor.name} has {actor.role}")
    if not actor.user_id.strip():
        raise NotAllowed("every write needs the writer's identity")
    at = now_text(now)
    with transaction(conn):
        row = conn.execute("SELECT * FROM items WHERE item_id = ?", (item_id,)).fetchone()
        if row is None or (actor.clinic_ids is not None and row["clinic_id"] not in actor.clinic_ids):
            raise NotFound(f"there is no review item {item_id} in your scope")
        if row["version"] != expected_version:
            raise StaleEdit(item_id, expected_version, row["version"], row["updated_by"], row["updated_at"])
        changes = {k: v for k, v in changes_for(row).items() if row[k] != v}
        if not changes and not note:
            return int(row["version"])  # nothing to record
        version = int(row["version"]) + 1
        assignments = "".join(f"{name} = ?, " for name in changes)
        cur = conn.execute(
            f"UPDATE items SET {assignments}version = ?, updated_at = ?, updated_by = ?, "
            "reviewed_fingerprint = fingerprint WHERE item_id = ? AND version = ?",
            (*changes.values(), version, at, actor.user_id, item_id, expected_version),
        )
        if cur.rowcount != 1:  # cannot happen inside the write lock; kept as the guard the design names
            raise StaleEdit(item_id, expected_version, -1, "another writer", at)
        entries = [("change", name, row[name], value, None) for name, value in changes.items()]
        if note:
            entries.append(("note", None, None, None, note))
        _history(conn, item_id, version, at, actor.user_id, entries)
    return version


def _history(
    conn: sqlite3.Connection,
    item_id: int,
    version: int,
    at: str,
    actor: str,
    entries: Iterable[tuple[str, str | None, object, object, str | None]],
) -> None:
    conn.executemany(
        "INSERT INTO history (item_id, version, at, actor, action, field, old_value, new_value, note) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (item_id, version, at, actor, action, field, _text(old), _text(new), note)
            for action, field, old, new, note in entries
        ],
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# --- Writes by a sync -----------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    raised: int
    changed: int


def sync(
    conn: sqlite3.Connection,
    candidates: Iterable[Candidate],
    rechecked: Mapping[tuple[str, str], str | None],
    window: tuple[date, date],
    cfg: ReviewConfig,
    *,
    now: datetime | None = None,
) -> SyncResult:
    """Raise new items and record what changed in the sources of existing ones, in one transaction.

    ``candidates``: what the database flags now within ``window`` (first, last day).
    ``rechecked``: for existing items that are no longer candidates, their source row's
    fingerprint now, or None when the row is gone. Such an item becomes ``not_flagged``
    when it falls in the window (the window was searched and it was not flagged),
    ``missing`` when its row is gone; outside the window only its fingerprint is updated.
    Signals (no row to recheck) in the window that are no longer candidates become ``not_flagged``.
    Items are never deleted, whatever happens to their source.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    at = now_text(moment)
    raised = changed = 0
    with transaction(conn):
        existing = {
            (r["kind"], r["subject"]): r
            for r in conn.execute(
                "SELECT item_id, kind, subject, occurred_on, severity, title, fingerprint, source_state, "
                "raised_at, due_on, version FROM items"
            ).fetchall()
        }
        seen: set[tuple[str, str]] = set()
        for c in candidates:
            if c.severity not in SEVERITIES:
                raise ValueError(f"unknown severity {c.severity!r}")
            key = (c.kind, c.subject)
            seen.add(key)
            row = existing.get(key)
            if row is None:
                _raise_item(conn, c, moment, at, cfg)
                raised += 1
                continue
            wanted = {
                "fingerprint": c.fingerprint,
                "severity": c.severity,
                "title": c.title,
                "source_state": "flagged",
            }
            if c.severity != row["severity"]:
                raised_on = date.fromisoformat(row["raised_at"][:10])
                wanted["due_on"] = due_on(raised_on, c.severity, cfg).isoformat()
            changed += _system_update(conn, row, wanted, at)
        first, last = (d.isoformat() for d in window)
        for key, row in existing.items():
            if key in seen:
                continue
            in_window = first <= row["occurred_on"] <= last
            if key in rechecked:
                fp = rechecked[key]
                if fp is None:
                    wanted = {"source_state": "missing"}
                else:
                    wanted = {"fingerprint": fp}
                    if in_window or row["source_state"] == "missing":
                        wanted["source_state"] = "not_flagged" if in_window else "flagged"
            elif in_window:
                wanted = {"source_state": "not_flagged"}
            else:
                continue
            changed += _system_update(conn, row, wanted, at)
    return SyncResult(raised, changed)


def _raise_item(conn: sqlite3.Connection, c: Candidate, moment: datetime, at: str, cfg: ReviewConfig) -> None:
    cur = conn.execute(
        "INSERT INTO items (kind, subject, clinic_id, occurred_on, severity, title, raised_at, due_on, "
        "fingerprint, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            c.kind,
            c.subject,
            c.clinic_id,
            c.occurred_on.isoformat(),
            c.severity,
            c.title,
            at,
            due_on(moment.date(), c.severity, cfg).isoformat(),
            c.fingerprint,
            at,
            SYSTEM,
        ),
    )
    _history(conn, int(cur.lastrowid or 0), 1, at, SYSTEM, [("raised", "status", None, "open", None)])


def _system_update(conn: sqlite3.Connection, row: sqlite3.Row, wanted: dict[str, str], at: str) -> int:
    """Apply what changed of ``wanted`` as the system actor (new version, history); 1 if anything did."""
    current = dict(row)
    changes = {k: v for k, v in wanted.items() if current[k] != v}
    if not changes:
        return 0
    version = int(row["version"]) + 1
    assignments = "".join(f"{name} = ?, " for name in changes)
    conn.execute(
        f"UPDATE items SET {assignments}version = ?, updated_at = ?, updated_by = ? "
        "WHERE item_id = ? AND version = ?",
        (*changes.values(), version, at, SYSTEM, row["item_id"], row["version"]),
    )
    action = {"fingerprint": "source_changed"}
    _history(
        conn,
        row["item_id"],
        version,
        at,
        SYSTEM,
        [(action.get(name, "change"), name, current[name], value, None) for name, value in changes.items()],
    )
    return 1
