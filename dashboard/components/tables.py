"""Tables and CSV downloads with consistent formatting.

Every on-screen table shows labels for the export's codes (``labels.labelled``) and an en
dash for a missing value (the grid's ``placeholder``), never ``None``; the frame handed in
keeps its codes and nulls (the metrics' output), so presentation happens here only.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard import exports
from dashboard.access import recorder
from dashboard.access.current import current_viewer
from dashboard.access.viewer import Permission
from dashboard.components import labels
from dashboard.exports import Header
from dashboard.metrics.filters import Filters


def table(df: pl.DataFrame, *, key: str | None = None, height: int | str = "auto", **config: Any) -> Any:
    """A read-only table without the index; ``config`` maps column → st.column_config entry."""
    return st.dataframe(
        labels.labelled(df),
        hide_index=True,
        column_config=config or None,
        key=key,
        height=height,
        placeholder=labels.MISSING,
    )


def grid(df: pl.DataFrame, **kwargs: Any) -> Any:
    """``st.dataframe`` (selectable rows, column order, …) with ``table``'s labels and placeholder."""
    return st.dataframe(labels.labelled(df), hide_index=True, placeholder=labels.MISSING, **kwargs)


def csv_download(
    df: pl.DataFrame,
    *,
    label: str,
    file_name: str,
    key: str,
    title: str | None = None,
    header: Header | None = None,
    permission: Permission = Permission.ROW_DOWNLOADS,
    filters: Filters | None = None,
) -> None:
    """A download button holding exactly the rows of ``df`` (header row included).

    With ``title`` and ``header`` the CSV starts with ``# `` lines naming the
    filters and data date (``dashboard.exports.to_csv``), as quality reviews need.
    Shown only to viewers with ``permission``; each download is audited (rows, filters).
    """
    if not current_viewer().can(permission):
        st.caption(":material/lock: Downloading these rows needs the quality role.")
        return
    data = (
        exports.to_csv(df, title=title, header=header)
        if title is not None and header is not None
        else exports.plain_csv(df)
    )
    st.download_button(
        label,
        data=data,
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
        disabled=df.height == 0,
        on_click=recorder.download,
        args=(recorder.current_page(), file_name, df.height, filters),
    )


def percent(label: str, help: str | None = None) -> Any:
    """Column config for a fraction shown as a percentage."""
    return st.column_config.NumberColumn(label, format="percent", help=help)


def number(label: str, fmt: str = "%d", help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format=fmt, help=help)


ROW_PX = 35  # Streamlit's data grid: header and each row are 35 px, plus a 3 px border
MAX_ALL_ROWS = 60  # beyond this the grid scrolls and the caption says how many rows there are


def all_rows_height(rows: int) -> int:
    """A grid height that shows every row without an inner scrollbar (up to ``MAX_ALL_ROWS``)."""
    return ROW_PX * (min(rows, MAX_ALL_ROWS) + 1) + 3
