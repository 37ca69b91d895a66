"""Clinic: one clinic's figures beside the network's (layout only). The clinic is in the URL (?clinic=…)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.components import empty, figure_context, kpi, spc_controls, url_state
from dashboard.components import throughput_figures as fig
from dashboard.components.filters import clinic_label, network_clinics
from dashboard.components.outcome_notes import outcome_table
from dashboard.components.page import context, require_sessions, stop_page
from dashboard.components.safe_text import md

ctx = context()
f = require_sessions(ctx)
cfg = ctx.cfg
names = ctx.state.clinic_names
options = sorted(names, key=lambda c: names[c])
# Default: the busiest clinic in scope, so the page opens on a clinic with data.
busiest = queries.throughput_by_clinic(f, cfg, active_patients=False).sort(
    "administered_sessions", descending=True
)["clinic_id"]
chosen = st.columns([2, 3])[0].selectbox(
    "Clinic",
    options,
    format_func=lambda c: clinic_label(c, names.get(c)),
    key=url_state.choice(
        "clinic",
        options,
        busiest[0] if busiest.len() else None,
        lambda c: clinic_label(c, names.get(c)),
    ),
)
if chosen is None:
    empty.no_data("clinic to show")
    stop_page()
name = names.get(chosen, chosen)
st.title(md(name))
# The clinic alone (its region need not be in the region filter) and the whole network (other clinics
# anonymous beyond the viewer's scope), both with the same period, condition, route and modality.
cf = replace(f, clinic_ids=(chosen,), regions=())
nf = replace(f, clinic_ids=network_clinics(), regions=())
drawn_for = figure_context.current()
if drawn_for is not None:  # the charts show this clinic and the network, whatever the sidebar's clinics
    figure_context.use(figure_context.for_clinic(drawn_for, f, chosen, name))
clinic_row = ctx.state.clinics.filter(ctx.state.clinics["clinic_id"] == chosen).row(0, named=True)
st.caption(
    f"{ctx.state.period_label} · {md(clinic_row['region'])} region · {clinic_row['chairs']} chairs · "
    f"compared with all {len(nf.clinic_ids)} clinics of the network"
)

queries.prefetch(  # the reads below that the grain does not change, at once
    lambda: queries.throughput_summary_with_clinic(nf, chosen, cfg),
    lambda: queries.ae_rate(cf),
    lambda: queries.ae_rate(nf),
    lambda: queries.weekday_hour_load_with_clinic(nf, chosen),
    lambda: queries.throughput_by_clinic(nf, cfg, active_patients=False),
    lambda: queries.induction_with_clinic(nf, chosen),
    lambda: queries.maintenance_with_clinic(nf, chosen),
    lambda: queries.route_modality_mix_with_clinic(nf, chosen),
    lambda: queries.outcome_summary(cf, cfg),
)
# Every figure pair (the clinic's and the network's) comes from one query returning both.
summaries = queries.throughput_summary_with_clinic(nf, chosen, cfg)
mine, network = summaries["clinic"], summaries["scope"]  # the network's without active patients (not shown)
if mine["scheduled_sessions"] == 0:
    fresh = queries.clinic_freshness(date.today(), cfg.stale_days).filter(pl.col("clinic_id") == chosen)
    newest = fresh["newest_data_date"][0] if fresh.height else None
    empty.clinic_without_sessions(name, newest, ctx.state, cf)
    stop_page()
kpi.tiles(
    [
        kpi.Tile("Administered sessions", mine["administered_sessions"], None, kpi.count, kpi.signed_count),
        kpi.Tile("Active patients", mine["active_patients"], None, kpi.count, kpi.signed_count),
        kpi.Tile("New starts", mine["new_starts"], None, kpi.count, kpi.signed_count),
        kpi.Tile(
            "No-show rate", mine["no_show_rate"], network["no_show_rate"], kpi.pct, kpi.signed_points, "down"
        ),
        kpi.Tile(
            "Cancellation rate",
            mine["cancellation_rate"],
            network["cancellation_rate"],
            kpi.pct,
            kpi.signed_points,
            "down",
        ),
        kpi.Tile(
            "Chair utilisation",
            mine["chair_utilisation"],
            network["chair_utilisation"],
            kpi.pct,
            kpi.signed_points,
        ),
    ],
    note="arrows show the difference from the network",
    versus="vs network",
)
ae, ae_net = queries.ae_rate(cf), queries.ae_rate(nf)
kpi.tiles(
    [
        kpi.Tile("AEs", ae["ae_count"], None, kpi.count, kpi.signed_count),
        kpi.Tile(
            "AEs per 100 sessions",
            ae["ae_per_100"],
            ae_net["ae_per_100"],
            kpi.rate,
            kpi.signed_rate,
            "down",
        ),
        kpi.Tile("Serious AEs", ae["serious_ae_count"], None, kpi.count, kpi.signed_count),
    ],
    note=None,
    versus="vs network",
)

grain = fig.grain_control()
pgrain = "month" if grain == "month" else "week"
queries.prefetch(  # and those it does
    lambda: queries.sessions_over_time_with_clinic(nf, chosen, grain),
    lambda: queries.no_show_pchart_with_clinic(nf, chosen, cfg, pgrain, options=spc_controls.last_options()),
    lambda: queries.new_starts_over_time_with_clinic(nf, chosen, pgrain),
)


st.subheader("Sessions")
sessions = queries.sessions_over_time_with_clinic(nf, chosen, grain)
left, right = st.columns(2)
with left:
    fig.sessions_over_time(
        cf,
        grain,
        None,
        key="sessions_clinic",
        title=f"{name}: administered sessions",
        data=sessions["clinic"],
    )
with right:
    fig.sessions_over_time(
        nf,
        grain,
        None,
        key="sessions_network",
        title="Network: administered sessions",
        data=sessions["scope"],
    )
load = queries.weekday_hour_load_with_clinic(nf, chosen)
left, right = st.columns(2)
with left:
    fig.weekday_hour_heatmap(cf, key="heatmap_clinic", title=f"{name}: chair load", data=load["clinic"])
with right:
    fig.weekday_hour_heatmap(nf, key="heatmap_network", title="Network: chair load", data=load["scope"])
left, right = st.columns(2)
with left:
    fig.utilisation_by_clinic(
        nf, cfg, network["chair_utilisation"], key="utilisation", highlight=chosen, network_label="network"
    )
with right:
    fig.no_show_cancellation_by_clinic(nf, cfg, key="no_shows", highlight=chosen)

st.subheader("No-shows over time")
spc = spc_controls.spc_controls()
pcharts = queries.no_show_pchart_with_clinic(nf, chosen, cfg, pgrain, options=spc)
left, right = st.columns(2)
with left:
    fig.no_show_pchart(
        cf,
        cfg,
        pgrain,
        key="pchart_clinic",
        title=f"{name}: no-show rate per {pgrain}",
        data=pcharts["clinic"],
        options=spc,
        network=pcharts["scope"],
    )
with right:
    fig.no_show_pchart(
        nf,
        cfg,
        pgrain,
        key="pchart_network",
        title=f"Network: no-show rate per {pgrain}",
        data=pcharts["scope"],
        options=spc,
    )

st.subheader("New patients and induction")
starts = queries.new_starts_over_time_with_clinic(nf, chosen, pgrain)
left, right = st.columns(2)
with left:
    fig.new_starts(
        cf, pgrain, key="starts_clinic", title=f"{name}: new starts per {pgrain}", data=starts["clinic"]
    )
with right:
    fig.new_starts(
        nf, pgrain, key="starts_network", title=f"Network: new starts per {pgrain}", data=starts["scope"]
    )
induction = queries.induction_with_clinic(nf, chosen)
left, right = st.columns(2)
with left:
    fig.induction(cf, key="induction_clinic", title=f"{name}: induction funnel", figures=induction["clinic"])
with right:
    fig.induction(nf, key="induction_network", title="Network: induction funnel", figures=induction["scope"])

st.subheader("Maintenance and treatment mix")
maintenance = queries.maintenance_with_clinic(nf, chosen)
left, right = st.columns(2)
with left:
    fig.maintenance(
        cf, key="maintenance_clinic", title=f"{name}: maintenance cadence", figures=maintenance["clinic"]
    )
with right:
    fig.maintenance(
        nf, key="maintenance_network", title="Network: maintenance cadence", figures=maintenance["scope"]
    )
mix = queries.route_modality_mix_with_clinic(nf, chosen)
left, right = st.columns(2)
with left:
    fig.route_modality(cf, key="mix_clinic", title=f"{name}: route and modality", data=mix["clinic"])
with right:
    fig.route_modality(nf, key="mix_network", title="Network: route and modality", data=mix["scope"])

st.subheader("Outcomes")
outcome_table(queries.outcome_summary(cf, cfg), cfg.suppression_k, key="clinic_outcomes")
