"""How results that are not per-clinic frames are kept to a viewer's clinics.

The query layer keeps every result to the viewer's clinics (``cached_query``); by default it
drops other clinics' rows from the frames (``benchmarks.drop_outside``). A query whose result
holds clinics some other way declares its own rule with ``cached_query(..., in_scope=...)``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import polars as pl


def stale_clinics_in_scope(as_of: dict[str, Any], allowed: Collection[str]) -> dict[str, Any]:
    """``data_as_of`` with only the viewer's clinics in its stale list and count."""
    keep = set(allowed)
    stale = [c for c in as_of.get("stale_clinic_ids") or [] if c in keep]
    return {**as_of, "stale_clinics": len(stale), "stale_clinic_ids": stale}


def network_scope_only(result: pl.DataFrame, allowed: Collection[str]) -> pl.DataFrame:
    """No rows for a viewer of part of the network: rejected input carries no trusted clinic.

    A rejected row is a line of an export the contract refused, so its clinic column is the
    very thing that may be wrong; only network-scope viewers see rejects.
    """
    return result.head(0)
