"""A scope in access.md's text form (``network``, ``clinic:ID``, ``region:NAME``, a list of ids),
resolved to the clinic ids it covers.

The board pack and the signals take a scope as this text (``--scope``, a recipient's
``scope``) and pass on only the clinic ids: the seam where the sign-in's viewer scope plugs in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb


class ScopeError(ValueError):
    """A scope that names no clinic or region of the database, or is not in a known form."""


@dataclass(frozen=True)
class Scope:
    """What a scope text asks for: ``kind`` network | clinic | region, and the names it holds."""

    kind: str
    names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.kind == "network":
            return "network"
        return f"{self.kind}:{','.join(self.names)}"


def parse_scope(text: str | Sequence[str]) -> Scope:
    """``network``, ``clinic:A`` or ``clinic:A,B``, ``region:South``, or a list of clinic ids."""
    if not isinstance(text, str):
        ids = tuple(dict.fromkeys(str(t).strip() for t in text if str(t).strip()))
        if not ids:
            raise ScopeError("an empty list of clinics")
        return Scope("clinic", ids)
    raw = text.strip()
    if raw == "network":
        return Scope("network")
    kind, sep, rest = raw.partition(":")
    names = tuple(dict.fromkeys(n.strip() for n in rest.split(",") if n.strip()))
    if not sep or kind not in ("clinic", "region") or not names:
        raise ScopeError(f"{raw!r} is not a scope (network, clinic:ID[,ID…] or region:NAME)")
    return Scope(kind, names)


def scope_clinics(con: duckdb.DuckDBPyConnection, scope: Scope) -> tuple[str, ...]:
    """The clinic ids the scope covers, sorted; a name the database does not have is an error."""
    rows = con.execute("SELECT clinic_id, region FROM clinics ORDER BY clinic_id").fetchall()
    if scope.kind == "network":
        return tuple(r[0] for r in rows)
    column = 0 if scope.kind == "clinic" else 1
    known = {r[column] for r in rows}
    unknown = [n for n in scope.names if n not in known]
    if unknown:
        raise ScopeError(f"no {scope.kind} {', '.join(unknown)} in the database")
    return tuple(r[0] for r in rows if r[column] in scope.names)
