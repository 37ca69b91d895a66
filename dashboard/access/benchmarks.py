"""Network benchmarks for a viewer who sees part of the network: aggregates, other clinics unnamed.

A clinic director's funnel target and network rates are computed over every clinic; the other
clinics then appear only as anonymous points (``other-1`` … / "Other clinic 1" …, numbered in the
result's own order, with no region and no chairs or opening hours to recognise them by). A query
declared a benchmark (``cached_query(metric, benchmark=...)``) has ``redact_outside`` applied to
its result; every other result keeps only the viewer's clinics' rows (``drop_outside``), so no
page can forget either.

An anonymous point's patient counts of 1 to k−1, and every rate computed from them, are
suppressed as the outcomes suppress them (``Benchmark.small_cells``). Session counts of safety
figures (the AE funnel) are shown in full, as metrics.md shows them everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import Any

import polars as pl

ANONYMOUS_ID = "other-"
ANONYMOUS_NAME = "Other clinic "
# Columns naming or locating a clinic, cleared for clinics outside the scope.
IDENTIFYING = ("clinic_name", "region")
# Columns that describe a clinic well enough to recognise it among a few, cleared likewise.
DESCRIBING = ("chairs", "hours_per_day", "open_days", "chair_minutes_available")
CLINIC_COLUMNS = ("clinic_id", "level")  # ``level`` is a clinic id in rates broken down by clinic


@dataclass(frozen=True)
class Benchmark:
    """How a network benchmark shows the clinics outside the viewer's scope.

    ``small_cells``: (patient count column, the columns computed from it) pairs; an anonymous
    clinic's count of 1 to k−1 is nulled with its dependants (0 is shown, as for outcomes).
    """

    small_cells: tuple[tuple[str, tuple[str, ...]], ...] = ()


# Counts shown in full (session counts of safety figures, or rows already suppressed by the metric).
IN_FULL = Benchmark()
# Per-clinic throughput: the patient counts of an anonymous clinic are small cells.
PATIENT_COUNTS = Benchmark(small_cells=(("active_patients", ()), ("new_starts", ())))


def redact_outside(result: Any, allowed: Collection[str], benchmark: Benchmark = IN_FULL, k: int = 0) -> Any:
    """``result`` with every clinic outside ``allowed`` anonymised (frames in dicts, lists, tuples too)."""
    return _walk(result, frozenset(allowed), partial(_redact_frame, benchmark=benchmark, k=k))


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


def _redact_frame(frame: pl.DataFrame, keep: frozenset[str], *, benchmark: Benchmark, k: int) -> pl.DataFrame:
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
    exprs += [_cleared(name, outside, frame) for name in DESCRIBING if name in frame.columns]
    for count, dependants in benchmark.small_cells:
        if count not in frame.columns or k <= 0:
            continue
        small = outside & pl.col(count).is_between(1, k - 1)
        exprs += [_cleared(name, small, frame) for name in (count, *dependants) if name in frame.columns]
    # every expression reads the original columns: a count nulled here still decides its dependants
    return frame.with_columns(exprs)


def _cleared(name: str, where: pl.Expr, frame: pl.DataFrame) -> pl.Expr:
    return pl.when(where).then(None).otherwise(pl.col(name)).cast(frame.schema[name]).alias(name)


def is_anonymous(clinic_id: str) -> bool:
    return clinic_id.startswith(ANONYMOUS_ID)
