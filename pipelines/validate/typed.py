"""Typing the raw text of an export: one typed ``_v_<column>`` per contract column.

Two passes keep the common case cheap: a fast parse of the text exactly as sent
(canonical spelling, no padding); only rows where it fails, or whose text is
padded with blanks, are parsed again after trimming and case folding. Apart from the
rules because what a value *is* (its type, its default, the derived dose per kg) is
decided once here, and every rule and the accepted rows read the typed columns.
"""

from __future__ import annotations

import polars as pl

from pipelines.contract import Column, Table
from pipelines.readers import ROW

POLARS_TYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "enum": pl.String(),
    "int": pl.Int32(),
    "float": pl.Float64(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us"),
    "bool": pl.Boolean(),
}

BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
BOOLEANS_AS_SENT = BOOLEANS | {k.upper(): v for k, v in BOOLEANS.items()} | {"True": True, "False": False}


def accepted_schema(table: Table) -> dict[str, pl.DataType]:
    """Columns of ``FileResult.accepted``: contract order, row-level derived, then ``_row_number``."""
    schema = {c.name: POLARS_TYPES[c.kind] for c in table.columns}
    if table.name == "sessions":
        schema["dose_mg_per_kg"] = pl.Float64()
    schema[ROW] = pl.Int64()
    return schema


def typed_name(name: str) -> str:
    """Column of ``name``'s typed value, beside its raw text (rules report the text as sent)."""
    return f"_v_{name}"


def given(name: str) -> pl.Expr:
    """Whether the raw text holds a value: an empty cell is a missing value, not an unreadable one."""
    return pl.col(name).is_not_null() & (pl.col(name) != "")


def _timestamp(s: pl.Expr) -> pl.Expr:
    n = s.str.len_bytes()
    short = s.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M", strict=False, exact=True, cache=False)
    full = s.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False, exact=True, cache=False)
    return pl.when(n == 16).then(short).when(n == 19).then(full)


def _fast(column: Column) -> pl.Expr:
    """Typed value of text sent exactly as the contract spells it; null otherwise."""
    s = pl.col(column.name)
    if column.kind == "text":
        return pl.when(s != "").then(s)
    if column.kind == "enum":
        assert column.enum is not None
        return s.cast(pl.Enum(list(column.enum)), strict=False).cast(pl.String)
    if column.kind == "bool":
        return s.replace_strict(BOOLEANS_AS_SENT, default=None, return_dtype=pl.Boolean)
    if column.kind == "float":
        f = s.cast(pl.Float64, strict=False)
        return pl.when(f.is_finite()).then(f)
    if column.kind == "int":
        return s.cast(pl.Int64, strict=False)
    if column.kind == "date":
        parsed = s.str.strptime(pl.Date, "%Y-%m-%d", strict=False, exact=True, cache=False)
        return pl.when(s.str.len_bytes() == 10).then(parsed)
    if column.kind == "timestamp":  # a space for the T is common (DuckDB, spreadsheets): keep it fast
        return _timestamp(s.str.replace(" ", "T", literal=True, n=1))
    raise AssertionError(column.kind)


def _needs_second_look(column: Column) -> pl.Expr:
    s = pl.col(column.name)
    if column.kind == "text":
        return s.str.starts_with(" ") | s.str.ends_with(" ") | s.str.starts_with("\t") | s.str.ends_with("\t")
    return given(column.name) & pl.col(typed_name(column.name)).is_null()


def _lenient(column: Column) -> pl.Expr:
    """Typed value after trimming blanks and folding case (run on the few rows that need it)."""
    s = pl.col(column.name).str.strip_chars()
    s = pl.when(s != "").then(s)
    if column.kind == "text":
        return s
    if column.kind == "enum":
        assert column.enum is not None
        lower = {v.lower(): v for v in column.enum}
        return s.str.to_lowercase().replace_strict(lower, default=None, return_dtype=pl.String)
    if column.kind == "bool":
        return s.str.to_lowercase().replace_strict(BOOLEANS, default=None, return_dtype=pl.Boolean)
    if column.kind == "float":
        f = s.cast(pl.Float64, strict=False)
        return pl.when(f.is_finite()).then(f)
    if column.kind == "int":
        f = s.cast(pl.Float64, strict=False)
        return pl.when(f.is_finite() & (f == f.floor()) & (f.abs() < 2**62)).then(f.cast(pl.Int64))
    if column.kind == "date":
        parsed = s.str.strptime(pl.Date, "%Y-%m-%d", strict=False, exact=True, cache=False)
        return pl.when(s.str.len_bytes() == 10).then(parsed)
    if column.kind == "timestamp":
        return _timestamp(s.str.replace(" ", "T", literal=True))
    raise AssertionError(column.kind)


def typed_frame(frame: pl.DataFrame, table: Table, present: set[str]) -> pl.DataFrame:
    """Add ``_v_<column>`` typed columns (defaults applied) for every contract column."""
    columns = [c for c in table.columns if c.name in present]
    frame = frame.with_columns(
        *[_fast(c).alias(typed_name(c.name)) for c in columns],
        *[
            pl.lit(None, POLARS_TYPES[c.kind]).alias(typed_name(c.name))
            for c in table.columns
            if c.name not in present
        ],
    )
    if columns:
        frame = frame.with_columns(
            pl.any_horizontal([_needs_second_look(c) for c in columns]).fill_null(False).alias("_again")
        )
        positions = frame["_again"].arg_true()
        if len(positions):
            again = frame[positions].with_columns(
                # a value of only blanks is an empty value
                *[
                    pl.when(pl.col(c.name).str.strip_chars() != "").then(pl.col(c.name)).alias(c.name)
                    for c in columns
                ]
            )
            again = again.with_columns(*[_lenient(c).alias(typed_name(c.name)) for c in columns])
            # write the few re-read rows back in place: no re-sort of the whole file
            before = frame[positions]
            changed = [
                name
                for c in columns
                for name in (c.name, typed_name(c.name))
                if before[name].ne_missing(again[name]).any()
            ]
            frame = frame.with_columns(frame[name].scatter(positions, again[name]) for name in changed)
        frame = frame.drop("_again")
    defaults = [c for c in table.columns if c.default is not None]
    # the default fills an empty value only: an unreadable one stays null and is rejected
    return frame.with_columns(
        *[
            pl.when(given(c.name))
            .then(pl.col(typed_name(c.name)))
            .otherwise(pl.lit(c.default))
            .alias(typed_name(c.name))
            if c.name in present
            else pl.lit(c.default).alias(typed_name(c.name))
            for c in defaults
        ]
    )


def iv_im() -> pl.Expr:
    return pl.col(typed_name("route")).is_in(["iv", "im"])


def dose_per_kg() -> pl.Expr:
    return pl.when(iv_im()).then(pl.col(typed_name("dose_mg")) / pl.col(typed_name("weight_kg")))
