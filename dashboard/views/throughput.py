"""Throughput: are clinics busy, do patients come, do they complete induction (layout only)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.components import empty, figure_context, kpi, spc_controls, tables, url_state
from dashboard.components import throughput_figures as fig
from dashboard.components.page import context, require_sessions, stop_page

ctx = context()
f = require_sessions(ctx)
cfg = ctx.cfg
st.title("Throughput")
st.caption(f"{ctx.state.period_label} · {len(f.clinic_ids)} clinic(s) in scope")

queries.prefetch(  # the tiles' reads, at once
    lambda: queries.throughput_summary(f, cfg, active_patients=False),
    lambda: queries.throughput_summary(ctx.state.comparison, cfg, active_patients=False),
)
summary = queries.throughput_summary(f, cfg, active_patients=False)
if summary["scheduled_sessions"] == 0:
    empty.no_match(ctx.state)
    stop_page()
previous = queries.throughput_summary(ctx.state.comparison, cfg, active_patients=False)
kpi.tiles(
    [
        kpi.Tile(
            "Scheduled",
            summary["scheduled_sessions"],
            previous["scheduled_sessions"],
            kpi.count,
            kpi.signed_count,
        ),
        kpi.Tile(
            "Administered",
            summary["administered_sessions"],
            previous["administered_sessions"],
            kpi.count,
            kpi.signed_count,
        ),
        kpi.Tile(
            "No-show rate",
            summary["no_show_rate"],
            previous["no_show_rate"],
            kpi.pct,
            kpi.signed_points,
            "down",
        ),
        kpi.Tile(
            "Cancelled",
            summary["cancellation_rate"],
            previous["cancellation_rate"],
            kpi.pct,
            kpi.signed_points,
            "down",
        ),
        kpi.Tile(
            "Utilisation",
            summary["chair_utilisation"],
            previous["chair_utilisation"],
            kpi.pct,
            kpi.signed_points,
            help="Chair time used (infusion + recovery) ÷ chairs × open hours × open days (Mon–Sat).",
        ),
        kpi.Tile("New starts", summary["new_starts"], previous["new_starts"], kpi.count, kpi.signed_count),
    ],
    note=f"change {ctx.state.comparison_label}",
    versus=kpi.versus(ctx.state.compare),
)

# Only the open tab runs and is drawn (on_change="rerun"): a new tab draws its tiles and one
# section's charts instead of nine (docs/performance.md, "First paint").
TABS = (
    "Sessions over time",
    "No-shows and cancellations",
    "New patients and induction",
    "Maintenance and mix",
)
sessions_tab, no_show_tab, starts_tab, mix_tab = st.tabs(
    list(TABS), key=url_state.choice("throughput_view", list(TABS), TABS[0]), on_change="rerun"
)

if sessions_tab.open is not False:
    with sessions_tab:
        c1, c2 = st.columns([1, 1])
        grain = fig.grain_control(c1)
        by = c2.segmented_control(
            "Split by",
            ["network", "clinic", "region"],
            format_func=str.capitalize,
            key=url_state.choice("by", ["network", "clinic", "region"], "clinic", str.capitalize),
            required=True,
        )
        too_many_lines = by == "clinic" and len(f.clinic_ids) > fig.MAX_CLINIC_LINES
        split = "region" if too_many_lines else None if by == "network" else by
        queries.prefetch(
            lambda: queries.sessions_over_time(f, grain, split),
            lambda: queries.weekday_hour_load(f),
            lambda: queries.throughput_by_clinic(f, cfg, active_patients=False),
        )
        if too_many_lines:
            st.caption(
                f"{len(f.clinic_ids)} clinics are too many lines to read, so this chart is split by "
                f"region. Pick at most {fig.MAX_CLINIC_LINES} clinics (or one region) in the sidebar "
                "to compare clinics."
            )
        fig.sessions_over_time(f, grain, split, key="sessions_over_time")
        left, right = st.columns(2)
        with left:
            fig.weekday_hour_heatmap(f, key="heatmap")
        with right:
            fig.utilisation_by_clinic(f, cfg, summary["chair_utilisation"], key="utilisation")

if no_show_tab.open is not False:
    with no_show_tab:
        c1, _ = st.columns([1, 1])
        pgrain = "month" if fig.grain_control(c1) == "month" else "week"
        names = ctx.state.clinic_names
        spc = spc_controls.spc_controls()
        queries.prefetch(
            *fig.pchart_reads(f, cfg, pgrain, spc),
            lambda: queries.throughput_by_clinic(f, cfg, active_patients=False),
        )
        signals = fig.pchart_signals(f, cfg, pgrain, names, spc)
        left, right = st.columns(2)
        with left:
            fig.no_show_cancellation_by_clinic(f, cfg, key="no_show_by_clinic")
            if len(f.clinic_ids) > fig.MAX_SIGNAL_CLINICS:
                st.caption(
                    f"Per-clinic special-cause summary: select at most {fig.MAX_SIGNAL_CLINICS} clinics "
                    "(or a region)."
                )
            elif signals.height:
                st.markdown(f"**Special causes in each clinic's no-show p-chart** (per {pgrain})")
                tables.grid(
                    signals.drop("clinic_id"),
                    key="pchart_signals",
                    column_config={
                        "clinic_name": st.column_config.TextColumn("Clinic", pinned=True),
                        "concern": st.column_config.NumberColumn(
                            "Concern", help="Points flagged worse than expected"
                        ),
                        "improvement": st.column_config.NumberColumn("Improvement"),
                        "latest_signal": st.column_config.DateColumn("Latest signal", format="YYYY-MM-DD"),
                        "latest_rule": "Rule",
                    },
                )
        with right:
            flagged = signals.filter(pl.col("concern") > 0)["clinic_id"].to_list()
            options = ["all", *f.clinic_ids]
            # open on the clinic with the most points of concern: a network-wide chart can dilute
            # one clinic's shift
            chart_scope = st.selectbox(
                "p-chart for",
                options,
                format_func=lambda c: "All clinics in scope" if c == "all" else names.get(c, c),
                key=url_state.choice("pchart_clinic", options, flagged[0] if flagged else "all"),
            )
            scope = f if chart_scope == "all" else f.with_clinics((chart_scope,))
            label = "all clinics in scope" if chart_scope == "all" else names.get(chart_scope, chart_scope)
            picked = None if chart_scope == "all" else chart_scope
            with figure_context.narrowed(picked, names.get(chart_scope), f):
                fig.no_show_pchart(
                    scope, cfg, pgrain, key="pchart", title=f"No-show rate per {pgrain}: {label}", options=spc
                )

if starts_tab.open is not False:
    with starts_tab:
        c1, _ = st.columns([1, 1])
        pgrain = "month" if fig.grain_control(c1) == "month" else "week"
        queries.prefetch(lambda: queries.new_starts_over_time(f, pgrain), lambda: queries.induction(f))
        left, right = st.columns(2)
        with left:
            fig.new_starts(f, pgrain, key="new_starts")
        with right:
            fig.induction(f, key="induction")

if mix_tab.open is not False:
    with mix_tab:
        queries.prefetch(lambda: queries.maintenance(f), lambda: queries.route_modality_mix(f))
        left, right = st.columns(2)
        with left:
            fig.maintenance(f, key="maintenance")
        with right:
            fig.route_modality(f, key="mix")
