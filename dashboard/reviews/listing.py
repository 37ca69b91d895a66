"""Reads of the review store for the pages: item lists, one item with its history, counts per clinic.

Every read takes the viewer's clinic scope (``clinic_ids``) and returns only items of
those clinics; an empty scope returns nothing. Values are parameters, never SQL text.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from datetime import date

import polars as pl

ITEM_COLUMNS = (
    "item_id",
    "kind",
    "subject",
    "clinic_id",
    "occurred_on",
    "severity",
    "title",
    "status",
    "outcome",
    "assignee",
    "raised_at",
    "due_on",
    "source_state",
    "updated_at",
    "updated_by",
    "version",
)
_SCHEMA = {
    **{c: pl.String for c in ITEM_COLUMNS},
    "item_id": pl.Int64,
    "version": pl.Int64,
    "overdue": pl.Boolean,
    "data_changed": pl.Boolean,
}


@dataclass(frozen=True)
class Item:
    item_id: int
    kind: str
    subject: str
    clinic_id: str
    occurred_on: str
    severity: str
    title: str
    status: str
    outcome: str | None
    assignee: str | None
    raised_at: str
    due_on: str
    source_state: str
    updated_at: str
    updated_by: str
    version: int
    overdue: bool
    data_changed: bool  # the source row differs from what the last reviewer action saw


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    at: str
    actor: str
    action: str
    field: str | None
    old_value: str | None
    new_value: str | None
    note: str | None


def _derived(today: date) -> tuple[str, list[object]]:
    """SQL for the ``overdue`` and ``data_changed`` columns."""
    return (
        "(status <> 'closed' AND due_on < ?) AS overdue, "
        "(reviewed_fingerprint IS NOT NULL AND reviewed_fingerprint <> fingerprint) AS data_changed",
        [today.isoformat()],
    )


def _in(column: str, values: tuple[str, ...]) -> tuple[str, list[object]]:
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


def list_items(
    conn: sqlite3.Connection,
    *,
    clinic_ids: tuple[str, ...],
    today: date,
    statuses: tuple[str, ...] = (),
    kinds: tuple[str, ...] = (),
    assignee: str | None = None,
    overdue: bool = False,
    data_changed: bool = False,
) -> pl.DataFrame:
    """Items in scope matching every filter given, overdue first, then by due date.

    ``assignee`` "My reviews" (the viewer's user id); ``overdue`` only open or
    in-review items past their due date; ``data_changed`` only items whose source
    changed since the last reviewer action.
    """
    if not clinic_ids:
        return pl.DataFrame(schema=_SCHEMA)
    derived, params = _derived(today)
    where, wp = _in("clinic_id", clinic_ids)
    parts, ps = [where], wp
    for column, values in (("status", statuses), ("kind", kinds)):
        if values:
            sql, vp = _in(column, values)
            parts.append(sql)
            ps += vp
    if assignee is not None:
        parts.append("assignee = ?")
        ps.append(assignee)
    outer = []
    if overdue:
        outer.append("overdue")
    if data_changed:
        outer.append("data_changed")
    rows = conn.execute(
        f"SELECT * FROM (SELECT {', '.join(ITEM_COLUMNS)}, {derived} FROM items WHERE {' AND '.join(parts)}) "
        f"WHERE {' AND '.join(outer) or 'TRUE'} ORDER BY overdue DESC, status = 'closed', due_on, item_id",
        [*params, *ps],
    ).fetchall()
    return pl.DataFrame(
        [{**dict(r), "overdue": bool(r["overdue"]), "data_changed": bool(r["data_changed"])} for r in rows],
        schema=_SCHEMA,
        orient="row",
    )


def get_item(
    conn: sqlite3.Connection, item_id: int, *, clinic_ids: tuple[str, ...], today: date
) -> tuple[Item, list[HistoryEntry]] | None:
    """One item in scope and its whole history, oldest first; None if absent or out of scope."""
    derived, params = _derived(today)
    row = conn.execute(
        f"SELECT {', '.join(ITEM_COLUMNS)}, {derived} FROM items WHERE item_id = ?", [*params, item_id]
    ).fetchone()
    if row is None or row["clinic_id"] not in clinic_ids:
        return None
    values = dict(row)
    values.update(overdue=bool(values["overdue"]), data_changed=bool(values["data_changed"]))
    item = Item(**values)
    names = [f.name for f in fields(HistoryEntry)]
    history = [
        HistoryEntry(**dict(h))
        for h in conn.execute(
            f"SELECT {', '.join(names)} FROM history WHERE item_id = ? ORDER BY history_id", (item_id,)
        ).fetchall()
    ]
    return item, history


def counts_by_clinic(conn: sqlite3.Connection, *, clinic_ids: tuple[str, ...], today: date) -> pl.DataFrame:
    """Per clinic in scope: open (not yet in review), in review, and overdue items; zeros included."""
    schema = {"clinic_id": pl.String, "open": pl.Int64, "in_review": pl.Int64, "overdue": pl.Int64}
    if not clinic_ids:
        return pl.DataFrame(schema=schema)
    where, wp = _in("clinic_id", clinic_ids)
    rows = conn.execute(
        f"""SELECT clinic_id, sum(status = 'open'), sum(status = 'in_review'),
                   sum(status <> 'closed' AND due_on < ?)
            FROM items WHERE {where} GROUP BY clinic_id""",
        [today.isoformat(), *wp],
    ).fetchall()
    found = {r[0]: tuple(r[1:]) for r in rows}
    return pl.DataFrame(
        [(c, *found.get(c, (0, 0, 0))) for c in sorted(set(clinic_ids))], schema=schema, orient="row"
    )


def status_by_subject(
    conn: sqlite3.Connection, kind: str, subjects: tuple[str, ...], *, clinic_ids: tuple[str, ...]
) -> dict[str, str]:
    """The review status of each subject that has an item (e.g. AE ids for the line list's column)."""
    if not subjects or not clinic_ids:
        return {}
    out: dict[str, str] = {}
    where, wp = _in("clinic_id", clinic_ids)
    step = 500  # SQLite's default limit on parameters is far above this; batches keep statements short
    for i in range(0, len(subjects), step):
        chunk = subjects[i : i + step]
        sql, sp = _in("subject", chunk)
        for subject, status in conn.execute(
            f"SELECT subject, status FROM items WHERE kind = ? AND {sql} AND {where}", [kind, *sp, *wp]
        ).fetchall():
            out[subject] = status
    return out
