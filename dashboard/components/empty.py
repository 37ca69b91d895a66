"""Empty states: say what is missing and what to do, never show a traceback."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.components.filters import PARAMS
from dashboard.components.safe_text import md


def no_database(path: Path) -> None:
    st.title("KetaOps")
    st.info(
        f"**No database yet** at `{path}`.\n\n"
        "Create one from clinic exports (or from demo data), then reload this page:",
        icon=":material/database:",
    )
    st.code(
        "ketaops demo-data --out data/exports          # demo exports; skip with real ones\n"
        f"ketaops refresh --exports data/exports --db {path}",
        language="bash",
    )
    st.caption("To open another database: `ketaops serve --db PATH` (or set `KETAOPS_DB`).")


def no_sessions() -> None:
    st.info(
        "**The database has no sessions yet.** The last refresh loaded no session rows: "
        "check that the exports folder holds `sessions*.csv` or `.parquet` files, "
        "run `ketaops refresh` again, and see the **Data** page for rejected rows and refresh errors.",
        icon=":material/inbox:",
    )


def no_match() -> None:
    st.info(
        "**Nothing matches these filters.** Widen the period, or clear the region, clinic, "
        "condition, route or modality filters in the sidebar.",
        icon=":material/filter_alt_off:",
    )
    st.button("Clear all filters", on_click=clear_filters, key="clear_filters_empty")


def no_data(what: str) -> None:
    """A single figure without data (the rest of the page still shows)."""
    st.caption(f"No {what} in this period and scope.")


def clinic_without_sessions(name: str, newest: object | None) -> None:
    since = f" Its newest data is from {md(newest)}." if newest else " No data has ever been loaded for it."
    st.info(
        f"**{md(name)} has no sessions in this period.**{since} "
        "Pick a longer period, another clinic, or check its exports on the **Data** page.",
        icon=":material/event_busy:",
    )


def clear_filters() -> None:
    """Reset every shared filter to its default (bound widgets are reset through session state)."""
    from dashboard.components.filters import DEFAULT_PERIOD

    for key in PARAMS:
        if key in st.session_state:
            if key == "period":
                st.session_state[key] = DEFAULT_PERIOD
            elif key != "range":
                st.session_state[key] = []
