"""Overview: the medical directors' landing page (layout only)."""

from __future__ import annotations

from datetime import date

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.boardpack import Month, board_pack_pdf
from dashboard.components import charts, empty, kpi, labels, review_counts, tables
from dashboard.components.filters import clinic_label, label
from dashboard.components.league import league_reads, league_table, styled
from dashboard.components.outcome_notes import side_counts
from dashboard.components.page import context, require_sessions, stop_page
from dashboard.components.safe_text import show_figure
from dashboard.components.throughput_figures import complete_periods
from pipelines.model.outcome_rules import RULES

ctx = context()
f = require_sessions(ctx)
cfg = ctx.cfg
st.title("Network overview")
st.caption(f"{ctx.state.period_label} · {len(f.clinic_ids)} clinic(s) in scope")
pack_month = Month.of(ctx.state.last_date).shift(-1)  # the data's last whole month
pack_scope = (
    "network"
    if set(f.clinic_ids) == set(ctx.state.clinics["clinic_id"])
    else "clinic:" + ",".join(f.clinic_ids)
)
st.download_button(
    f"Download board pack ({pack_month.label})",
    data=lambda: board_pack_pdf(pack_month, f.clinic_ids, cfg, pack_scope),  # built on click (~10 s)
    file_name=f"ketaops-board-pack-{pack_month.iso}.pdf",
    mime="application/pdf",
    on_click="ignore",
    icon=":material/picture_as_pdf:",
    key="board_pack",
    help="PDF of the month before the newest data for the clinics in scope (docs/board-pack.md)",
)

before_f = ctx.state.comparison  # the period the tiles compare against (sidebar 'Compare with')
queries.prefetch(  # the page's reads at once; the calls below get their results
    lambda: queries.throughput_summary(f, cfg),
    lambda: queries.throughput_summary(before_f, cfg),
    lambda: queries.ae_rate(f),
    lambda: queries.ae_rate(before_f),
    lambda: queries.outcome_summary(f, cfg),
    lambda: queries.outcome_summary(before_f, cfg),
    lambda: queries.sessions_over_time(f, "week", None),
    lambda: queries.new_starts_over_time(f, "week"),
    lambda: queries.ae_u_chart(f, cfg, "week"),
    *league_reads(f, ctx.state.network_filters, cfg, date.today()),
)
now = queries.throughput_summary(f, cfg)
if now["scheduled_sessions"] == 0:
    empty.no_match(ctx.state)
    stop_page()
before = queries.throughput_summary(before_f, cfg)
items = [
    kpi.Tile(
        "Administered sessions",
        now["administered_sessions"],
        before["administered_sessions"],
        kpi.count,
        kpi.signed_count,
    ),
    kpi.Tile(
        "Active patients", now["active_patients"], before["active_patients"], kpi.count, kpi.signed_count
    ),
    kpi.Tile("New starts", now["new_starts"], before["new_starts"], kpi.count, kpi.signed_count),
]
ae, ae_before = queries.ae_rate(f), queries.ae_rate(before_f)
items += [
    kpi.Tile(
        "AEs per 100 sessions",
        ae["ae_per_100"],
        ae_before["ae_per_100"],
        kpi.rate,
        kpi.signed_rate,
        "down",
        help=f"95% CI {ae['ci_low']:.2f}–{ae['ci_high']:.2f} (exact Poisson)"
        if ae["ci_low"] is not None
        else None,
    ),
    kpi.Tile(
        "Serious AEs",
        ae["serious_ae_count"],
        ae_before["serious_ae_count"],
        kpi.count,
        kpi.signed_count,
        "down",
    ),
]
summary = queries.outcome_summary(f, cfg)
if not summary.is_empty() and "response" in summary.columns:
    primary = summary.filter(pl.col("is_primary")).sort("cohort", descending=True, nulls_last=True)
    if not primary.is_empty():
        top = primary.row(0, named=True)
        old = queries.outcome_summary(before_f, cfg)
        old_top = (
            old.filter((pl.col("condition") == top["condition"]) & pl.col("is_primary"))
            if "response" in old.columns
            else old.clear()
        )
        # the condition under the figure, not in the label: a third of a 1024 px window cuts a long label
        side = side_counts(top.get("maturing"), top.get("below_caseness"), cfg.suppression_k)
        rule = RULES.get(top["instrument"])
        what = f"{label(top['condition'])}, {rule.label if rule else top['instrument']}"
        items.append(
            kpi.Tile(
                "Response",
                None if top.get("response_suppressed") else top["response"],
                None if old_top.is_empty() or old_top["response_suppressed"][0] else old_top["response"][0],
                kpi.pct,
                kpi.signed_points,
                help=f"Largest condition; {top['instrument']} response at the end of induction, mature "
                "patients (day 0 ≥ 42 days before the data's last date) above caseness only. "
                "'–' means a count under the suppression threshold.",
                caption=f"{what} · {side}" if side else what,
            )
        )
kpi.tiles(items, note=f"change {ctx.state.comparison_label}", versus=kpi.versus(ctx.state.compare))
review_counts.render(f.clinic_ids, ctx.state.clinic_names, key="overview")

st.subheader("Weekly trends")
st.caption("Whole weeks (Monday–Sunday) inside the period; a week the period cuts is left out.")
weekly = complete_periods(queries.sessions_over_time(f, "week", None), f, "week")
left, right = st.columns(2)
with left:
    show_figure(
        charts.line_chart(
            weekly,
            x="period_start",
            y="administered_sessions",
            series=None,
            title="Administered sessions per week",
            x_title="week starting",
            y_title="sessions per week",
        ),
        key="trend_sessions",
    )
with right:
    show_figure(
        charts.line_chart(
            weekly.filter(pl.col("scheduled_sessions") > 0),
            x="period_start",
            y="no_show_rate",
            series=None,
            title="No-show rate per week",
            x_title="week starting",
            y_title="no-shows (% of scheduled)",
            percent=True,
        ),
        key="trend_no_show",
    )
left, right = st.columns(2)
with left:
    starts = complete_periods(queries.new_starts_over_time(f, "week"), f, "week")
    show_figure(
        charts.line_chart(
            starts,
            x="period_start",
            y="new_starts",
            series=None,
            title="New starts per week",
            x_title="week starting",
            y_title="patients starting per week",
        ),
        key="trend_new_starts",
    )
with right:
    u = complete_periods(queries.ae_u_chart(f, cfg, "week"), f, "week", col="period")
    if u.is_empty():
        empty.no_data("administered sessions")
    else:
        show_figure(
            charts.line_chart(
                u,
                x="period",
                y="value",
                series=None,
                title="AEs per 100 sessions per week",
                x_title="week starting",
                y_title="AEs per 100 sessions",
                y_format=".2f",
            ),
            key="trend_ae",
        )

st.subheader("Clinics")
st.caption(
    "Cell colours: green on track · amber look closer · red act. "
    "Utilisation green 50–85%, red below 30%; no-show green below 8%, red from 15%; "
    "AE funnel red above the 99.8% limit, amber above 95%; "
    "newest data red when the clinic's exports are stale. "
    "Clinics with a red cell come first, then amber. **Click a row** to open that clinic."
)
league = league_table(f, ctx.state.network_filters, cfg, date.today())
event = st.dataframe(
    styled(
        league,
        [
            "clinic_name",
            "ae_flag",
            "no_show_rate",
            "chair_utilisation",
            "newest_data_date",
            "administered_sessions",
            "ae_per_100",
            "region",
        ],
    ),
    hide_index=True,
    key="league",
    placeholder=labels.MISSING,
    on_select="rerun",
    selection_mode="single-row",
    height=tables.all_rows_height(league.height),
    column_config={
        "clinic_name": st.column_config.TextColumn("Clinic", pinned=True),
        "region": "Region",
        "administered_sessions": tables.number("Sessions", help="Administered sessions in the period"),
        "chair_utilisation": tables.percent("Utilisation"),
        "no_show_rate": tables.percent("No-show"),
        "ae_per_100": tables.number("AEs /100", "%.2f", help="Adverse events per 100 administered sessions"),
        "ae_flag": st.column_config.TextColumn(
            "AE funnel", help="Position on the Safety page's funnel plot (exact Poisson limits)"
        ),
        "newest_data_date": st.column_config.DateColumn("Newest data", format="YYYY-MM-DD"),
    },
)
if league.height > tables.MAX_ALL_ROWS:
    st.caption(f"{league.height} clinics: scroll the table to see them all (flagged ones are at the top).")
rows = event.selection.rows if event is not None else []
if rows:
    chosen = league.row(rows[0], named=True)
    st.switch_page(
        "views/clinic.py", query_params={"clinic": clinic_label(chosen["clinic_id"], chosen["clinic_name"])}
    )
