"""CSV and Excel downloads that say what they contain: a header block, then exactly the rows.

A file that leaves the dashboard loses its context, so every download starts
with the filters that produced it and the data date:

- CSV: ``# name: value`` comment lines, then an ordinary CSV (header row +
  rows). Readers skip them with ``pandas.read_csv(..., comment="#")`` or
  ``polars.read_csv(..., comment_prefix="#")``.
- Excel: the same lines in the first rows of the sheet, a blank row, then the
  table (with an autofilter). Excel holds at most ``EXCEL_MAX_ROWS`` rows.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import polars as pl
import xlsxwriter

Header = Sequence[tuple[str, str]]  # (name, value) pairs, in display order

# Excel's sheet limit is 1,048,576 rows; keep room for the header block and the column names.
EXCEL_MAX_ROWS = 1_048_576 - 64


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
    """An .xlsx workbook: the header block in the first rows, a blank row, then the table of ``df``."""
    if df.height > EXCEL_MAX_ROWS:
        raise ValueError(f"{df.height:,} rows do not fit in an Excel sheet; use the CSV download")
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"remove_timezone": True}) as wb:
        ws = wb.add_worksheet(sheet)
        bold = wb.add_format({"bold": True})
        lines = header_lines(title, header, df.height)
        ws.write_string(0, 0, lines[0], bold)
        for i, (name, value) in enumerate(header, start=1):
            ws.write_string(i, 0, name, bold)
            ws.write_string(i, 1, _clean(value))
        ws.write_string(len(lines) - 1, 0, "rows", bold)
        ws.write_number(len(lines) - 1, 1, df.height)
        df.write_excel(
            workbook=wb,
            worksheet=ws,
            position=(len(lines) + 1, 0),
            table_style="Table Style Light 1",
            dtype_formats={pl.Datetime: "yyyy-mm-dd hh:mm", pl.Date: "yyyy-mm-dd"},
            autofit=df.height <= 5_000,  # autofit reads every cell: skip it for big lists
        )
    return buffer.getvalue()
