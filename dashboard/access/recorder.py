"""What the running app writes to the audit log: sign-ins, page views, events opened, downloads.

Each function records for the current viewer into the audit store beside the published database
(``audit_log.audit_path``). Page views and opened events are recorded once per change within a
browser session (a rerun of the same view with the same filters is not a new view).
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from typing import Any

import streamlit as st

from dashboard.access import audit_log
from dashboard.access.current import current_viewer
from dashboard.access.viewer import Viewer
from dashboard.db import db_path
from dashboard.metrics.filters import Filters

_LAST_VIEW = "_ketaops_audit_last_view"
_OPENED = "_ketaops_audit_opened"
_PAGE = "_ketaops_audit_page"
_log = logging.getLogger(__name__)


def filters_detail(f: Filters | None) -> dict[str, Any]:
    """The filters as the audit log keeps them (plain JSON values)."""
    if f is None:
        return {}
    return {k: (list(v) if isinstance(v, tuple) else str(v)) for k, v in dataclasses.asdict(f).items()}


def record(
    event: str, *, viewer: Viewer | None = None, page: str = "", rows: int | None = None, **detail: Any
) -> None:
    """Append one audit row; a failing store is logged, never shown as a broken page."""
    who = viewer or current_viewer()
    try:
        audit_log.append(
            audit_log.audit_path(db_path()),
            user=who.user,
            role=who.role,
            scope=who.scope.label,
            event=event,
            page=page,
            rows=rows,
            detail=detail,
        )
    except (OSError, sqlite3.Error):
        _log.exception("cannot write the audit log")


def page_view(page: str, f: Filters | None) -> None:
    """A page view with its filters, once per (page, filters) change in this browser session."""
    st.session_state[_PAGE] = page
    detail = filters_detail(f)
    key = (page, repr(sorted(detail.items())), current_viewer().user)
    if st.session_state.get(_LAST_VIEW) == key:
        return
    st.session_state[_LAST_VIEW] = key
    record("page_view", page=page, filters=detail)


def current_page() -> str:
    """The page this run shows (as ``page_view`` recorded it), for downloads and opened events."""
    return str(st.session_state.get(_PAGE, ""))


def event_opened(page: str, event_id: str, f: Filters) -> None:
    """A line-list event opened in detail (once per event in this browser session)."""
    opened = st.session_state.setdefault(_OPENED, set())
    if event_id in opened:
        return
    opened.add(event_id)
    record("event_opened", page=page, event_id=event_id, filters=filters_detail(f))


def download(page: str, file_name: str, rows: int, f: Filters | None, **extra: Any) -> None:
    """A download: its file, row count and filters (a download button's ``on_click``)."""
    record("download", page=page, rows=rows, file_name=file_name, filters=filters_detail(f), **extra)
