"""A viewer's clinic scope: ``network``, ``region:<name>``, ``clinic:<id>`` or a list of clinic ids.

A scope is resolved against the clinics table into the set of clinic ids it covers; that set is
the only source of the clinics a viewer may see (``dashboard/components/filters.py`` intersects
every selection with it, so every query's ``Filters.clinic_ids`` lies inside it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import duckdb

ScopeKind = Literal["network", "region", "clinics"]


class ScopeError(ValueError):
    """A scope that is malformed or names a clinic or region the database does not have."""


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    values: tuple[str, ...] = ()  # the region (one) or the clinic ids (sorted, no repeats)

    def __post_init__(self) -> None:
        if self.kind == "clinics":
            object.__setattr__(self, "values", tuple(sorted(set(self.values))))

    @property
    def label(self) -> str:
        """How the scope is written in the access file, the audit log and ``--scope``."""
        if self.kind == "network":
            return "network"
        if self.kind == "region":
            return f"region:{self.values[0]}"
        if len(self.values) == 1:
            return f"clinic:{self.values[0]}"
        return "clinics:" + ",".join(self.values)

    def resolve(self, region_of: Mapping[str, str | None]) -> tuple[str, ...]:
        """The clinic ids this scope covers (sorted), given every clinic's region.

        Raises ``ScopeError`` for a region or clinic the clinics table does not have: a scope
        that silently covers nothing would hide a typo in the access file.
        """
        if self.kind == "network":
            return tuple(sorted(region_of))
        if self.kind == "region":
            region = self.values[0]
            covered = tuple(sorted(c for c, r in region_of.items() if r == region))
            if not covered:
                known = sorted({r for r in region_of.values() if r})
                raise ScopeError(f"no region {region!r} in the clinics table (regions: {', '.join(known)})")
            return covered
        unknown = [c for c in self.values if c not in region_of]
        if unknown:
            raise ScopeError(f"no clinic {', '.join(map(repr, unknown))} in the clinics table")
        return self.values


def parse_scope(value: object) -> Scope:
    """``"network"``, ``"region:South"``, ``"clinic:CLN-1"`` or a list of clinic ids → ``Scope``."""
    if isinstance(value, list):
        ids = [v.strip() for v in value if isinstance(v, str)]
        if len(ids) != len(value) or not all(ids):
            raise ScopeError("a scope list holds clinic ids (non-empty strings)")
        if not ids:
            raise ScopeError("a scope list needs at least one clinic id")
        return Scope("clinics", tuple(ids))
    if not isinstance(value, str):
        raise ScopeError(f"a scope is a string or a list of clinic ids, not {type(value).__name__}")
    text = value.strip()
    if text == "network":
        return Scope("network")
    kind, sep, rest = text.partition(":")
    rest = rest.strip()
    if sep and kind == "region" and rest:
        return Scope("region", (rest,))
    if sep and kind in ("clinic", "clinics") and rest:
        ids = tuple(c.strip() for c in rest.split(",") if c.strip())
        if ids:
            return Scope("clinics", ids)
    raise ScopeError(f"scope {value!r} is not network, region:<name>, clinic:<id> or a list of clinic ids")


def split_requested(
    allowed: Iterable[str], requested: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(requested clinics inside the scope, requested clinics outside it), each sorted.

    The outside ones are what a URL asked for and the viewer may not see: the page drops them
    and says so, never shows them.
    """
    inside = set(allowed)
    asked = set(requested)
    return tuple(sorted(asked & inside)), tuple(sorted(asked - inside))


def scope_clinics(con: duckdb.DuckDBPyConnection, scope: Scope) -> tuple[str, ...]:
    """The clinic ids ``scope`` covers in the database ``con`` (the board pack and the signals
    resolve a ``--scope`` or a recipient's scope this way; the pages through the viewer)."""
    rows = con.execute("SELECT clinic_id, region FROM clinics").fetchall()  # fetch all: results stream
    return scope.resolve(dict(rows))
