"""Network benchmarks for a viewer who sees part of the network: aggregates, other clinics unnamed.

A clinic director's funnel target and network rates are computed over every clinic; the other
clinics then appear only as anonymous points (``other-1`` … / "Other clinic 1" …, numbered in the
result's own order, with no region). ``redact_outside`` is applied by the query layer to every
network benchmark; every other result keeps only the viewer's clinics' rows (``drop_outside``),
so no page can forget either.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import polars as pl

ANONYMOUS_ID = "other-"
ANONYMOUS_NAME = "Other clinic "
# Columns naming or locating a clinic, cleared for clinics outside the scope.
IDENTIFYING = ("clinic_name", "region")
CLINIC_COLUMNS = ("clinic_id", "level")  # ``level`` is a clinic id in rates broken down by clinic


def redact_outside(result: Any, allowed: Collection[str]) -> Any:
    """``result`` with every clinic outside ``allowed`` anonymised (frames in dicts, lists, tuples too)."""
    return _walk(result, frozenset(allowed), _redact_frame)


def drop_outside(result: Any, allowed: Collection[str]) -> Any:
    """``result`` without the rows of clinics outside ``allowed`` (frames inside containers too)."""
    return _walk(result, frozenset(allowed), _drop_rows)


def _walk(
    result: Any, keep: frozenset[str], on_frame: Callable[[pl.DataFrame, frozenset[str]], pl.DataFrame]
) -> Any:
    if isinstance(result, pl.DataFrame):
        return on_frame(result, keep)
    if isinstance(result, dict):
        return {k: _walk(v, keep, on_frame) for k, v in result.items()}
    if isinstance(result, tuple):
        return tuple(_walk(v, keep, on_frame) for v in result)
    if isinstance(result, list):
        return [_walk(v, keep, on_frame) for v in result]
    return result


def _clinic_column(frame: pl.DataFrame) -> str | None:
    return next((c for c in CLINIC_COLUMNS if c in frame.columns and frame.schema[c] == pl.String), None)


def _drop_rows(frame: pl.DataFrame, keep: frozenset[str]) -> pl.DataFrame:
    col = _clinic_column(frame)
    if col is None:
        return frame
    return frame.filter(pl.col(col).is_in(list(keep)) | pl.col(col).is_null())


def _redact_frame(frame: pl.DataFrame, keep: frozenset[str]) -> pl.DataFrame:
    col = _clinic_column(frame)
    if col is None:
        return frame
    outside = ~pl.col(col).is_in(list(keep)) & pl.col(col).is_not_null()
    if frame.select(outside.any()).item() is not True:
        return frame
    number = pl.when(outside).then(outside.cast(pl.Int64).cum_sum())
    exprs = [
        pl.when(outside).then(pl.lit(ANONYMOUS_ID) + number.cast(pl.String)).otherwise(pl.col(col)).alias(col)
    ]
    for name in IDENTIFYING:
        if name in frame.columns:
            label = pl.lit(ANONYMOUS_NAME) + number.cast(pl.String) if name == "clinic_name" else pl.lit(None)
            exprs.append(
                pl.when(outside).then(label).otherwise(pl.col(name)).cast(frame.schema[name]).alias(name)
            )
    return frame.with_columns(exprs)


def is_anonymous(clinic_id: str) -> bool:
    return clinic_id.startswith(ANONYMOUS_ID)
