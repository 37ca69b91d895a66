"""Rejects: their schema, one reject per bad row or per file rejected whole, and redaction by file.

Everything here ends up in front of an operator or in the published file, so identifiers
are redacted on the way: the free-text columns of every row, counted per file
(``redact_by_file``), and every column of a rejected row (``row_rejects``). Apart from the
rules because what a row breaks and how that is reported change for different reasons.
"""

from __future__ import annotations

import polars as pl

from pipelines.contract import REASONS, Table
from pipelines.readers import MALFORMED, ROW, FileRejected
from pipelines.redact import ANY_IDENTIFIER, redact_columns
from pipelines.validate.rules import FILE, Check

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "row_number": pl.Int64(),
    "reason": pl.String(),
    "column_name": pl.String(),
    "value": pl.String(),
    "raw_record": pl.String(),
    "message": pl.String(),
}


_EMPTY_REJECTS = pl.DataFrame(schema=REJECT_SCHEMA)


def empty_rejects() -> pl.DataFrame:
    return _EMPTY_REJECTS  # one frame for every file without rejects (frames are never changed in place)


def whole_file_reject(rejected: FileRejected) -> pl.DataFrame:
    """The one reject of a file rejected whole."""
    return pl.DataFrame(
        {
            "row_number": [None],
            "reason": [rejected.reason],
            "column_name": [rejected.column],
            "value": [None],
            "raw_record": [None],
            "message": [rejected.message],
        },
        schema=REJECT_SCHEMA,
    )


def redact_by_file(frame: pl.DataFrame, columns: list[str]) -> tuple[pl.DataFrame, dict[int, int]]:
    """``redact_columns`` with the count kept per file (only rows holding an identifier are visited)."""
    if not columns or frame.height == 0:
        return frame, {}
    hit = frame.select(pl.any_horizontal(pl.col(columns).str.contains(ANY_IDENTIFIER)).fill_null(False))
    positions = hit.to_series().arg_true()
    if len(positions) == 0:
        return frame, {}
    counts: dict[int, int] = {}
    parts = []
    # hit rows are in (file, row) order, so the parts concatenate back in ``positions`` order
    for (index,), part in frame[positions].partition_by(FILE, as_dict=True, maintain_order=True).items():
        redacted, counts[int(index)] = redact_columns(part, columns)
        parts.append(redacted)
    rows = pl.concat(parts)
    return frame.with_columns(frame[c].scatter(positions, rows[c]) for c in columns), counts


def row_rejects(
    bad: pl.DataFrame, table: Table, present: set[str], checks: list[Check], rel_path: str
) -> tuple[pl.DataFrame, int]:
    """One reject per bad row, for its first failing check; identifiers redacted everywhere."""
    if bad.height == 0:
        return empty_rejects(), 0
    raw_columns = [c.name for c in table.columns if c.name in present]
    # JSON escapes line breaks and tabs, which could split a phone number out of a
    # pattern's reach: such cells are redacted as text before the record is encoded
    escaped = bad.select(pl.col(raw_columns).str.contains(r"[\n\r\t]").any()).row(0)
    bad, extra_before = redact_columns(bad, [c for c, e in zip(raw_columns, escaped, strict=True) if e])
    fails = [c.fails.fill_null(False) for c in checks]
    first = pl.when(fails[0]).then(0)
    for i, f in enumerate(fails[1:], start=1):
        first = first.when(f).then(i)
    # the offending value: one branch per source (a column's raw text, or a check's own value)
    sources: dict[str, list[int]] = {}
    for i, c in enumerate(checks):
        if c.value is None and c.column in present:
            sources.setdefault(c.column, []).append(i)
    value = pl.lit(None, pl.String)
    for column, indices in sources.items():
        value = pl.when(pl.col("_check").is_in(indices)).then(pl.col(column)).otherwise(value)
    for i, c in enumerate(checks):
        if c.value is not None:
            value = pl.when(pl.col("_check") == i).then(c.value.cast(pl.String)).otherwise(value)
    frame = bad.with_columns(
        first.cast(pl.Int32).alias("_check"),
        (pl.sum_horizontal([f.cast(pl.Int32) for f in fails]) - 1).alias("_more"),
    ).select(
        ROW,
        MALFORMED,
        "_check",
        "_more",
        value.alias("value"),
        (pl.struct(raw_columns).struct.json_encode() if raw_columns else pl.lit(None, pl.String)).alias(
            "raw_record"
        ),
    )
    # a key holding an identifier: nothing of the row is kept (the value is null already)
    hidden = [i for i, c in enumerate(checks) if c.reason == "identifier_in_key"]
    if hidden:
        frame = frame.with_columns(
            pl.when(pl.col("_check").is_in(hidden))
            .then(None)
            .otherwise(pl.col("raw_record"))
            .alias("raw_record")
        )
    # every column of a rejected row is scanned: an identifier typed into the wrong column
    # never reaches the quarantine (counted once, in the raw record)
    frame, extra = redact_columns(frame, ["raw_record"])
    frame, _ = redact_columns(frame, ["value"])

    def lookup(values: list[str | None]) -> pl.Expr:
        return pl.col("_check").replace_strict(dict(enumerate(values)), return_dtype=pl.String)

    reason = lookup([c.reason for c in checks])
    column = lookup([c.column for c in checks])
    malformed = reason == "malformed_line"
    where = pl.concat_str(
        pl.lit(f"{rel_path} row "),
        pl.col(ROW).cast(pl.String),
        pl.when(column.is_not_null()).then(pl.lit(", column ") + column).otherwise(pl.lit("")),
        pl.lit(": "),
    )
    message = pl.concat_str(
        where,
        pl.when(malformed)
        .then(pl.lit("malformed line: ") + pl.col(MALFORMED))
        .otherwise(lookup([c.detail for c in checks])),
        pl.when((pl.col("_more") > 0) & ~malformed)
        .then(pl.format(" (and {} more problem(s) in this row)", pl.col("_more")))
        .otherwise(pl.lit("")),
    )
    rejects = frame.select(
        pl.col(ROW).alias("row_number"),
        reason.alias("reason"),
        column.alias("column_name"),
        pl.when(~malformed & (pl.col("value") != "")).then(pl.col("value")).alias("value"),
        "raw_record",
        message.alias("message"),
    )
    assert set(rejects["reason"].unique()) <= set(REASONS)
    return rejects.cast(REJECT_SCHEMA), extra_before + extra
