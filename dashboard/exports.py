"""CSV and Excel downloads that say what they contain: a header block, then exactly the rows.

A file that leaves the dashboard loses its context, so every download starts
with the filters that produced it and the data date:

- CSV: ``# name: value`` comment lines, then an ordinary CSV (header row +
  rows). Readers skip them with ``pandas.read_csv(..., comment="#")`` or
  ``polars.read_csv(..., comment_prefix="#")``.
- Excel: the same lines in the first rows of the sheet, a blank row, then the
  table (with an autofilter); up to ``EXCEL_MAX_ROWS`` rows, bigger lists are CSV only.

Every text cell comes from a clinic export, so none may act in a spreadsheet (OWASP CSV
injection): a text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
prefixed with ``'`` in both formats (``neutralise``), and the workbook stores strings as
strings (no formulas, URLs or numbers made of them).

Downloads keep the export's codes (``nausea_vomiting``, not its label: they are for
analysis) and round derived measures to what they can mean (``ROUNDING``: mg/kg to 3
decimals, minutes to whole minutes, rates per 100 to 2 decimals, fractions to 4, i.e. a
percentage to 2). Values as recorded (dose in mg, weight, vitals, scores) and any other
computed number keep full precision. The header block says which columns were rounded
and which kept full precision (``rounding_header``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl
import xlsxwriter

Header = Sequence[tuple[str, str]]  # (name, value) pairs, in display order

# Excel's sheet limit is 1,048,576 rows, but xlsxwriter writes ~50k cells a second (pure Python):
# 50k rows × 30 columns is already ~30 s, so bigger lists are offered as CSV only.
EXCEL_MAX_ROWS = 50_000


# A spreadsheet takes a cell starting with one of these for a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """The text with a leading ``'`` if a spreadsheet would read it as a formula."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _neutral_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Every text column's cells neutralised (vectorised: a download may hold 50,000 rows)."""
    pattern = "^[=+\\-@\t\r]"
    text = [
        c
        for c, dtype in df.schema.items()
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    ]
    return df.with_columns(
        pl.when(pl.col(c).cast(pl.String).str.contains(pattern))
        .then(pl.lit("'") + pl.col(c).cast(pl.String))
        .otherwise(pl.col(c).cast(pl.String))
        .alias(c)
        for c in text
    )


@dataclass(frozen=True)
class Rounding:
    decimals: int
    what: str  # how the header names it
    applies: Callable[[str], bool]  # by column name


# The first rule whose test a float column's name passes rounds it; other float columns keep full
# precision. Rounding happens here only: metric functions return full precision (one definition).
ROUNDING = (
    Rounding(3, "3 decimals (mg/kg)", lambda c: c.endswith("mg_per_kg")),
    Rounding(0, "whole minutes", lambda c: c.endswith("_min") or c == "minutes"),
    Rounding(1, "1 decimal (seconds, days)", lambda c: c.endswith(("_s", "_days")) or c == "days"),
    Rounding(2, "2 decimals (rates per 100)", lambda c: "per_100" in c or c == "expected"),
    Rounding(
        4,
        "4 decimals (fractions: a percentage to 2)",
        lambda c: c.endswith(("_rate", "share", "_pct", "_fraction", "ci_low", "ci_high")) or c == "rate",
    ),
)
# What a float column no rule rounds holds: said in the header so no one takes it for rounded.
FULL_PRECISION = "full precision (as recorded or as computed)"


def _rule(column: str) -> Rounding | None:
    return next((r for r in ROUNDING if r.applies(column)), None)


def rounded(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with its derived measures rounded (``ROUNDING``); other columns as they are."""
    floats = [c for c, t in df.schema.items() if t.is_float()]
    return df.with_columns(pl.col(c).round(rule.decimals) for c in floats if (rule := _rule(c)) is not None)


def rounding_header(df: pl.DataFrame) -> list[tuple[str, str]]:
    """Header lines naming the rounded columns per rule and the float columns kept at full precision."""
    floats = [c for c, t in df.schema.items() if t.is_float()]
    lines = []
    for rule in ROUNDING:
        cols = [c for c in floats if _rule(c) is rule]
        if cols:
            lines.append((f"rounded to {rule.what}", ", ".join(cols)))
    full = [c for c in floats if _rule(c) is None]
    if full:
        lines.append((FULL_PRECISION, ", ".join(full)))
    return lines


def header_lines(title: str, header: Header, rows: int) -> list[str]:
    """The header block as text lines: title, each (name, value), and the row count."""
    return [title, *(f"{name}: {value}" for name, value in header), f"rows: {rows}"]


def plain_csv(df: pl.DataFrame) -> bytes:
    """A CSV without a header block (a table's own download): rounded like every download."""
    return _neutral_frame(rounded(df)).write_csv().encode("utf-8")


def _clean(value: str) -> str:
    """One line per header entry (a newline in a value would end the comment), never a formula."""
    return neutralise(" ".join(value.splitlines()))


def to_csv(df: pl.DataFrame, *, title: str, header: Header) -> bytes:
    """``# `` comment lines naming the filters, data date and rounding, then the CSV of ``df`` (UTF-8)."""
    header = [*header, *rounding_header(df)]
    lines = header_lines(title, [(n, _clean(v)) for n, v in header], df.height)
    block = "".join(f"# {line}\n" for line in lines)
    body = _neutral_frame(rounded(df)).write_csv(datetime_format="%Y-%m-%d %H:%M:%S")
    return (block + body).encode("utf-8")


def to_excel(df: pl.DataFrame, *, title: str, header: Header, sheet: str = "data") -> bytes:
    """An .xlsx workbook: the header block in the first rows, a blank row, then the table of ``df``.

    Rows are streamed with xlsxwriter's ``constant_memory`` mode (faster than
    ``DataFrame.write_excel`` here, and memory stays flat); strings are stored inline.
    """
    if df.height > EXCEL_MAX_ROWS:
        raise ValueError(f"{df.height:,} rows are too many for the Excel download; use the CSV")
    header = [*header, *rounding_header(df)]
    df = rounded(df)
    buffer = io.BytesIO()
    # constant_memory streams rows through a temp file (in_memory would switch it off)
    options = {
        "constant_memory": True,
        "default_date_format": "yyyy-mm-dd hh:mm",
        # strings stay strings: no formula, hyperlink or number is ever made of export text
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    }
    with xlsxwriter.Workbook(buffer, options) as wb:
        ws = wb.add_worksheet(sheet)
        bold = wb.add_format({"bold": True})
        day = wb.add_format({"num_format": "yyyy-mm-dd"})
        lines = header_lines(title, header, df.height)
        ws.write_string(0, 0, neutralise(lines[0]), bold)
        for i, (name, value) in enumerate(header, start=1):
            ws.write_string(i, 0, name, bold)
            ws.write_string(i, 1, _clean(value))
        ws.write_string(len(lines) - 1, 0, "rows", bold)
        ws.write_number(len(lines) - 1, 1, df.height)
        top = len(lines) + 1  # one blank row between the header block and the table
        for c, name in enumerate(df.columns):
            ws.write_string(top, c, neutralise(name), bold)
        df = _neutral_frame(df)
        dates = {i for i, dtype in enumerate(df.dtypes) if dtype == pl.Date}
        text = {i for i, dtype in enumerate(df.dtypes) if dtype == pl.String}
        for r, row in enumerate(df.iter_rows(), start=top + 1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if c in dates:
                    ws.write_datetime(r, c, value, day)
                elif c in text:
                    ws.write_string(r, c, value)
                else:
                    ws.write(r, c, value)
        ws.autofilter(top, 0, top + df.height, max(df.width - 1, 0))
        ws.freeze_panes(top + 1, 0)
    return buffer.getvalue()
