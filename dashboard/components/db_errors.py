"""A database that cannot be read: a clear message and what the operator should do, never a traceback.

``app.py`` catches every ``DATABASE_ERRORS`` a page raises and shows ``show(exc)`` instead;
the details (which may hold server paths or values) go to the server log only, and
``client.showErrorDetails = "none"`` (``.streamlit/config.toml``) hides anything else that
escapes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import streamlit as st

from dashboard.db import db_path

log = logging.getLogger("ketaops.dashboard")

DATABASE_ERRORS: tuple[type[BaseException], ...] = (duckdb.Error, OSError)


@dataclass(frozen=True)
class Failure:
    kind: str  # locked | corrupt | older_schema | unreadable | unknown
    title: str
    action: str


def classify(exc: BaseException) -> Failure:
    """What went wrong, in the operator's words, from the exception's type and DuckDB's wording."""
    text = str(exc).lower()
    if isinstance(exc, duckdb.IOException) and "lock" in text:
        return Failure(
            "locked",
            "The database file is locked by another program.",
            "Something opened it for writing (the refresh never does: it writes a copy and renames it). "
            "Close that program, or wait and reload this page.",
        )
    if isinstance(exc, duckdb.Error) and ("not a valid duckdb database" in text or "corrupt" in text):
        return Failure(
            "corrupt",
            "The database file is damaged or is not a KetaOps database.",
            "Restore it from a backup, or rebuild it from the exports: move the file aside and run "
            "`ketaops refresh --exports DIR --db PATH`.",
        )
    # a missing table whose name is also a Python name in scope: DuckDB tries it as a replacement
    # scan and complains about the Python object instead
    missing = isinstance(exc, duckdb.InvalidInputException) and "replacement scan" in text
    if missing or isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
        return Failure(
            "older_schema",
            "The database lacks tables or columns this version reads (an older version wrote it).",
            "Run `ketaops refresh --exports DIR --db PATH` once: it brings the database up to date.",
        )
    if isinstance(exc, PermissionError) or (isinstance(exc, duckdb.IOException) and "permission" in text):
        return Failure(
            "unreadable",
            "The dashboard may not read the database file.",
            "Give the dashboard's user read access to the file and its folder, then reload.",
        )
    return Failure(
        "unknown",
        "The dashboard could not read the database.",
        "Check `ketaops status --db PATH` and the dashboard's log, then reload this page.",
    )


def show(exc: BaseException) -> Failure:
    """The message for ``exc`` on the page; its details in the server log only."""
    failure = classify(exc)
    log.error("database %s unreadable (%s): %s", db_path(), failure.kind, type(exc).__name__, exc_info=exc)
    st.title("KetaOps")
    st.error(f"**{failure.title}**\n\n{failure.action}", icon=":material/database:")
    st.caption(f"Error type: {type(exc).__name__}. The details are in the dashboard's log.")
    return failure
