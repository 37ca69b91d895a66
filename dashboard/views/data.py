"""Data: refresh history, per-clinic freshness, rejected rows (ops) and the audit log (ops, network scope).

Independent of the sidebar filters: operations are about the whole database.
Works on a database without sessions, where it matters most.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.access.current import current_viewer
from dashboard.access.viewer import Permission
from dashboard.components import audit_view, charts, labels, tables
from dashboard.components.page import context, stop_page
from dashboard.components.safe_text import md, show_figure

OUTCOME_LABELS = {
    "succeeded": "✓ succeeded",
    "succeeded with rejects": "⚠ succeeded with rejects",
    "failed": "✗ failed",
}

ctx = context()
cfg = ctx.cfg
today = date.today()
st.title("Data")
audit_view.access_file_status()
if not current_viewer().can(Permission.DATA_PAGE):  # a network-scope viewer outside ops: the audit log only
    audit_view.render()
    stop_page()
st.caption(
    "Refreshes, freshness of each clinic's exports, and the rows the pipeline rejected. Filters do not apply."
)

# --- refresh history -------------------------------------------------------------------------
st.subheader("Refresh history")
as_of = ctx.as_of  # the header's last run (idle or not), one definition with it
show_idle = st.toggle(
    "Show runs that found nothing new",
    key="show_idle",
    help="Scheduled runs (every 15 minutes) mostly find no new export: they publish nothing.",
)
runs = queries.refresh_history(50, include_idle=show_idle)
if as_of["last_refresh_status"] is None:
    st.info("No refresh has run yet: `ketaops refresh --exports DIR --db PATH`.", icon=":material/sync:")
else:
    failed = runs.filter(pl.col("status") == "failed").height
    last_rejects = (as_of["last_refresh_files_rejected"] or 0, as_of["last_refresh_rows_rejected"] or 0)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Last refresh",
        as_of["last_refresh_outcome"],
        delta=f"{last_rejects[0]:,} file(s), {last_rejects[1]:,} row(s) rejected"
        if any(last_rejects)
        else None,
        delta_color="off",
        delta_arrow="off",
        help=md(as_of["last_refresh_message"]),
        border=True,
    )
    c2.metric("Failed runs (shown)", failed, border=True)
    c3.metric(
        "Files rejected (shown)",
        f"{int(runs['files_rejected'].fill_null(0).sum()):,}",
        help="Files refused entirely (unreadable, wrong header): nothing of them was loaded.",
        border=True,
    )
    c4.metric("Rows rejected (shown)", f"{int(runs['rows_rejected'].fill_null(0).sum()):,}", border=True)
    if runs.is_empty():
        st.caption("Every recent run found nothing new: switch on the toggle above to list them.")
    tables.table(
        runs.with_columns(status=pl.col("outcome").replace(OUTCOME_LABELS)).select(
            "started_at",
            "status",
            "duration_s",
            "files_read",
            "files_skipped",
            "files_rejected",
            "rows_loaded",
            "rows_rejected",
            "redactions",
            "message",
            "run_id",
        ),
        key="runs",
        started_at=st.column_config.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm"),
        status="Status",
        duration_s=tables.number("Seconds", "%.1f"),
        files_read=tables.number("Files read"),
        files_skipped=tables.number("Unchanged", help="Files already loaded with the same content"),
        files_rejected=tables.number("Files rejected", help="Files refused whole: nothing of them loaded"),
        rows_loaded=tables.number("Rows loaded"),
        rows_rejected=tables.number("Rows rejected"),
        redactions=tables.number("Redactions", help="Identifiers replaced in free text"),
        message="Message",
        run_id="Run",
    )

# --- freshness -------------------------------------------------------------------------------
st.subheader("Freshness by clinic")
fresh = queries.clinic_freshness(today, cfg.stale_days)
if fresh.is_empty():
    st.info("No clinic has been loaded yet.", icon=":material/inbox:")
else:
    stale = fresh.filter(pl.col("stale"))
    if stale.height:
        st.warning(
            f"**{stale.height} clinic(s) stale**: no new data for more than {cfg.stale_days} days — "
            + ", ".join(f"{md(n)} ({md(c)})" for c, n in stale.select("clinic_id", "clinic_name").iter_rows())
            + ". Check that their exports still arrive.",
            icon=":material/schedule:",
        )
    else:
        st.success(
            f"Every open clinic sent data within the last {cfg.stale_days} days.", icon=":material/check:"
        )
    shown = fresh.with_columns(
        state=pl.when(~pl.col("is_open"))
        .then(pl.lit("closed"))
        .when(pl.col("stale"))
        .then(pl.lit("⚠ stale"))
        .otherwise(pl.lit("fresh"))
    ).select(
        "clinic_name",
        "state",
        "clinic_id",
        "region",
        "newest_data_date",
        "days_since_data",
        "last_file_at",
        "last_file",
    )
    st.dataframe(
        shown.to_pandas().style.apply(
            lambda col: ["background-color: #f6d5d3" if v == "⚠ stale" else "" for v in col], subset=["state"]
        ),
        hide_index=True,
        key="freshness",
        placeholder=labels.MISSING,
        column_config={
            "state": "State",
            "clinic_name": st.column_config.TextColumn("Clinic", pinned=True),
            "clinic_id": "ID",
            "region": "Region",
            "newest_data_date": st.column_config.DateColumn("Newest data", format="YYYY-MM-DD"),
            "days_since_data": tables.number("Days since", help=f"Stale after {cfg.stale_days} days"),
            "last_file_at": st.column_config.DatetimeColumn("Last file loaded", format="YYYY-MM-DD HH:mm"),
            "last_file": "Last file",
        },
    )
    days = fresh.filter(pl.col("days_since_data").is_not_null()).sort("days_since_data", descending=True)
    if days.height:
        fig = charts.bar_chart(
            days,
            x="clinic_name",
            y="days_since_data",
            title="Days since each clinic's newest data",
            x_title="days",
            y_title="",
            horizontal=True,
            reference=cfg.stale_days,
            reference_label=f"stale after {cfg.stale_days} days",
            integer=True,
        )
        fig.update_traces(
            marker_color=[charts.SPC_COLORS["concern"] if s else charts.PALETTE[0] for s in days["stale"]]
        )
        show_figure(fig, key="freshness_chart")

# --- rejected rows ---------------------------------------------------------------------------
st.subheader("Rejected rows")
by_reason = queries.rejected_summary("reason")
if by_reason.is_empty():
    st.success("No row has been rejected.", icon=":material/check:")
else:
    st.caption(
        "Rows the validator or loader refused, with the first rule they broke. "
        "Fix them at the clinic and re-send the file: "
        "corrected rows replace the old ones on the next refresh."
    )
    left, right = st.columns(2)
    with left:
        fig = charts.bar_chart(
            by_reason,
            x="reason",
            y="rows",
            title="Rejected rows by reason",
            x_title="rows",
            y_title="",
            horizontal=True,
            integer=True,
        )
        show_figure(fig, key="rejects_by_reason")
    with right:
        tables.table(
            by_reason.select("reason", "description", "rows", "files"),
            key="reasons",
            reason="Reason",
            description="Meaning",
            rows=tables.number("Rows"),
            files=tables.number("Files"),
        )
    st.markdown("**By file**")
    tables.table(
        queries.rejected_summary("file"),
        key="files",
        source_file="File",
        table_name="Table",
        rows=tables.number("Rejected"),
        reasons="Reasons",
        rows_read=tables.number("Rows read"),
        rows_loaded=tables.number("Rows loaded"),
    )
    run_ids = [None, *runs["run_id"].to_list()] if not runs.is_empty() else [None]
    run = st.selectbox(
        "Rows to download",
        run_ids,
        format_func=lambda r: "All runs" if r is None else f"Run {r}",
        key="reject_run",
    )
    rows = queries.rejected_rows(run)
    st.caption(
        f"{rows.height:,} rejected row(s) in this download: one per rejected input row, "
        "or one per file rejected whole."
    )
    st.dataframe(
        labels.with_meaning(rows.head(200)),
        hide_index=True,
        key="reject_rows",
        height=260,
        placeholder=labels.MISSING,
        column_config={"reason": "Reason", "meaning": "Meaning"},
    )
    tables.csv_download(
        rows,
        label="Download rejected rows (CSV)",
        file_name=f"ketaops-rejected-{run or 'all'}.csv",
        key="download_rejects",
        permission=Permission.DATA_PAGE,
    )

if current_viewer().can(Permission.AUDIT):
    audit_view.render()
