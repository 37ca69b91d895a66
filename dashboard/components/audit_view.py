"""The Data page's access sections: the access file's state and the audit log (newest first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import streamlit as st

from dashboard.access import audit_log
from dashboard.components import labels
from dashboard.components.gate import access_state, auth_configured
from dashboard.db import db_path

SHOWN_ROWS = 2_000


def access_file_status() -> None:
    """Say when the access file in force is an older good version (the current edit is refused)."""
    if not auth_configured():
        return
    state = access_state()
    if state.error is not None:
        kept = (
            "The last good version stays in force."
            if state.access
            else "Nobody has access until it is fixed."
        )
        st.error(f"**The access file is refused**: {state.error}. {kept}", icon=":material/gpp_bad:")


def render() -> None:
    """The audit log of the last days chosen, newest first, as text (values are never markup)."""
    st.subheader("Audit log")
    days = st.selectbox(
        "Show", (1, 7, 30, 365), index=1, format_func=lambda d: f"last {d} day(s)", key="audit_days"
    )
    since = datetime.now(UTC) - timedelta(days=days)
    records = audit_log.read(audit_log.audit_path(db_path()), since=since, limit=SHOWN_ROWS)
    if not records:
        st.caption("No audit entries in this period.")
        return
    frame = pl.DataFrame(
        {
            "at": [r.at for r in reversed(records)],
            "user": [r.user for r in reversed(records)],
            "role": [r.role for r in reversed(records)],
            "scope": [r.scope for r in reversed(records)],
            "event": [r.event for r in reversed(records)],
            "page": [r.page for r in reversed(records)],
            "rows": [r.rows for r in reversed(records)],
            "detail": [audit_log.detail_text(r.detail) for r in reversed(records)],
        },
        schema_overrides={"rows": pl.Int64},
    )
    st.caption(
        f"The newest {len(records):,} entries (at most {SHOWN_ROWS:,}); `ketaops audit` prints them all."
    )
    st.dataframe(frame, hide_index=True, key="audit_table", height=420, placeholder=labels.MISSING)
