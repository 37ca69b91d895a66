"""CSV and Excel downloads that say what they contain: a header block, then exactly the rows.

A file that leaves the dashboard loses its context, so every download starts
with the filters that produced it and the data date:

- CSV: ``# name: value`` comment lines, then an ordinary CSV (header row +
  rows). Readers skip them with ``pandas.read_csv(..., comment="#")`` or
  ``polars.read_csv(..., comment_prefix="#")``.
- Excel: the same lines in the first rows of the sheet, a blank row, then the
  table (with an autofilter); up to ``EXCEL_MAX_ROWS`` rows, bigger lists are CSV only.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import polars as pl
import xlsxwriter

Header = Sequence[tuple[str, str]]  # (name, value) pairs, in display order

# Excel's sheet limit is 1,048,576 rows, but xlsxwriter writes ~50k cells a second (pure Python):
# 50k rows × 30 columns is already ~30 s, so bigger lists are offered as CSV only.
EXCEL_MAX_ROWS = 50_000


def header_lines(title: str, header: Header, rows: int) -> list[str]:
    """The header block as text lines: title, each (name, value), and the row count."""
    return [title, *(f"{name}: {value}" for name, value in header), f"rows: {rows}"]


def _clean(value: str) -> str:
    """One line per header entry: a newline in a value (e.g. a search text) would end the comment."""
    return " ".join(value.splitlines())


def to_csv(df: pl.DataFrame, *, title: str, header: Header) -> bytes:
    """``# `` comment lines naming the filters and data date, then the CSV of ``df`` (UTF-8)."""
    lines = header_lines(title, [(n, _clean(v)) for n, v in header], df.height)
    block = "".join(f"# {line}\n" for line in lines)
    return (block + df.write_csv(datetime_format="%Y-%m-%d %H:%M:%S")).encode("utf-8")


def to_excel(df: pl.DataFrame, *, title: str, header: Header, sheet: str = "data") -> bytes:
    """An .xlsx workbook: the header block in the first rows, a blank row, then the table of ``df``.

    Rows are streamed with xlsxwriter's ``constant_memory`` mode (faster than
    ``DataFrame.write_excel`` here, and memory stays flat); strings are stored inline.
    """
    if df.height > EXCEL_MAX_ROWS:
        raise ValueError(f"{df.height:,} rows are too many for the Excel download; use the CSV")
    buffer = io.BytesIO()
    # constant_memory streams rows through a temp file (in_memory would switch it off)
    options = {"constant_memory": True, "default_date_format": "yyyy-mm-dd hh:mm"}
    with xlsxwriter.Workbook(buffer, options) as wb:
        ws = wb.add_worksheet(sheet)
        bold = wb.add_format({"bold": True})
        day = wb.add_format({"num_format": "yyyy-mm-dd"})
        lines = header_lines(title, header, df.height)
        ws.write_string(0, 0, lines[0], bold)
        for i, (name, value) in enumerate(header, start=1):
            ws.write_string(i, 0, name, bold)
            ws.write_string(i, 1, _clean(value))
        ws.write_string(len(lines) - 1, 0, "rows", bold)
        ws.write_number(len(lines) - 1, 1, df.height)
        top = len(lines) + 1  # one blank row between the header block and the table
        ws.write_row(top, 0, df.columns, bold)
        dates = {i for i, dtype in enumerate(df.dtypes) if dtype == pl.Date}
        for r, row in enumerate(df.iter_rows(), start=top + 1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if c in dates:
                    ws.write_datetime(r, c, value, day)
                else:
                    ws.write(r, c, value)
        ws.autofilter(top, 0, top + df.height, max(df.width - 1, 0))
        ws.freeze_panes(top + 1, 0)
    return buffer.getvalue()
