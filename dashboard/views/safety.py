"""Safety: AE rates, clinics against the network, trends, review lists and the line list (layout only).

Tabs are bound to the URL (``?safety_view=Line list``) and lazy: only the open
tab's figures are computed.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.components import (
    empty,
    figure_context,
    ideation_signal,
    kpi,
    line_list,
    review_counts,
    spc_controls,
    tables,
    url_state,
)
from dashboard.components import safety_figures as sf
from dashboard.components.labels import label as words
from dashboard.components.line_list import scope_header
from dashboard.components.page import context, require_sessions, stop_page
from dashboard.components.safe_text import md, show_figure
from dashboard.metrics import safety

ctx = context()
f = require_sessions(ctx)
cfg = ctx.cfg
names = ctx.state.clinic_names
st.title("Safety")
st.caption(f"{ctx.state.period_label} · {len(f.clinic_ids)} clinic(s) in scope")

headline = queries.kpis(f, cfg)  # one call: rate, previous_rate, patients, excursion, protocol
rate = headline["rate"]
if rate["administered_sessions"] == 0 and rate["ae_count"] == 0:
    empty.no_match(ctx.state)
    stop_page()
# kpis() reads the previous period in the same scan; another comparison period is the same metric again
before = (
    headline["previous_rate"] if ctx.state.compare == "previous" else queries.ae_rate(ctx.state.comparison)
)
patients = headline["patients"]
excursion, protocol = headline["excursion"], headline["protocol"]
kpi.tiles(
    [
        kpi.Tile(
            "AEs per 100 sessions",
            rate["ae_per_100"],
            before["ae_per_100"],
            kpi.rate,
            kpi.signed_rate,
            "down",
            help=f"{rate['ae_count']:,} AEs in {rate['administered_sessions']:,} administered sessions; "
            f"95% CI {rate['ci_low']:.2f}–{rate['ci_high']:.2f} (exact Poisson)."
            if rate["ci_low"] is not None
            else "No administered sessions in scope.",
        ),
        kpi.Tile("Adverse events", rate["ae_count"], before["ae_count"], kpi.count, kpi.signed_count, "down"),
        kpi.Tile(
            "Serious AEs",
            rate["serious_ae_count"],
            before["serious_ae_count"],
            kpi.count,
            kpi.signed_count,
            "down",
        ),
        kpi.Tile(
            "Patients with an AE",
            patients["share"],
            None,
            kpi.pct,
            kpi.signed_points,
            help=f"{patients['patients_with_ae']:,} of {patients['active_patients']:,} active patients "
            "had at least one AE in the period (Wilson 95% CI "
            + (
                f"{patients['ci_low']:.0%}–{patients['ci_high']:.0%})."
                if patients["ci_low"] is not None
                else "undefined)."
            ),
        ),
        kpi.Tile(
            "Vital-sign excursions per 100",
            excursion["excursions_per_100"],
            None,
            kpi.rate,
            kpi.signed_rate,
            help=f"{excursion['excursion_sessions']:,} sessions reached "
            f"BP ≥ {cfg.bp_sys_max}/{cfg.bp_dia_max}, "
            f"HR ≥ {cfg.hr_max} or SpO₂ < {cfg.spo2_min}; {excursion['excursions_without_ae']:,} of them "
            "have no AE recorded.",
        ),
        kpi.Tile(
            "Protocol deviations",
            protocol["deviations"],
            None,
            kpi.count,
            kpi.signed_count,
            help=f"Of {protocol['iv_sessions']:,} administered IV sessions: dose outside "
            f"{cfg.protocol_dose_min}–{cfg.protocol_dose_max} mg/kg or duration outside "
            f"{cfg.protocol_duration_min}–{cfg.protocol_duration_max} min.",
        ),
    ],
    note=f"change {ctx.state.comparison_label}",
    versus=kpi.versus(ctx.state.compare),
)
review_counts.render(f.clinic_ids, names, key="safety")

TABS = ("Rates", "Clinics and trend", "Excursions", "Protocol deviations", "Serious AEs", "Line list")
rates_tab, funnel_tab, excursion_tab, protocol_tab, serious_tab, list_tab = st.tabs(
    list(TABS), key=url_state.choice("safety_view", list(TABS), TABS[0]), on_change="rerun"
)

# --- AE rate by dimension ------------------------------------------------------------------------
DIMENSIONS = {
    "clinic": "Clinic",
    "category": "Category",
    "severity_grade": "Severity grade",
    "serious": "Serious or not",
    "action_taken": "Action taken",
    "route": "Route",
    "modality": "Modality",
    "phase": "Phase (induction or maintenance)",
    "dose_band": "Dose band (mg/kg)",
    "session_number": "Session number",
    "condition": "Condition",
    "region": "Region",
}
if rates_tab.open is not False:
    with rates_tab:
        pick, _ = st.columns([1, 2])
        dimension = pick.selectbox(
            "Break the AE rate down by",
            list(DIMENSIONS),
            format_func=DIMENSIONS.__getitem__,
            key=url_state.choice("ae_by", list(DIMENSIONS), "clinic", DIMENSIONS.__getitem__),
        )
        by = sf.order_levels(queries.ae_rate_by(f, dimension), dimension)
        label_of = (
            {"1-3": "sessions 1–3", "4+": "session 4 or later"}
            if dimension == "session_number"
            else {v: f"grade {v}" for v in by["label"].to_list()}
            if dimension == "severity_grade"
            else {}
            if dimension in ("clinic", "dose_band", "region")
            else {v: words(v) for v in by["label"].to_list()}
        )
        # Chart and table one above the other: both need the width (long clinic names, six columns).
        with st.container():
            show_figure(
                sf.rate_dot_whisker(
                    by,
                    title=f"AEs per 100 administered sessions by {DIMENSIONS[dimension].lower()}",
                    level_title="",
                    # an AE attribute splits the network's AEs: its levels add up to the network rate
                    network=None if dimension in safety.AE_DIMENSIONS else rate["ae_per_100"],
                    label_of=label_of,
                ),
                key="ae_rate_by_chart",
            )
        with st.container():
            tables.table(
                by.select(
                    pl.col("label").replace(label_of),
                    "ae_count",
                    "serious_ae_count",
                    "administered_sessions",
                    "ae_per_100",
                    pl.Series(
                        "ci",
                        [
                            "–" if lo is None else f"{lo:.2f}–{hi:.2f}"
                            for lo, hi in zip(by["ci_low"], by["ci_high"], strict=True)
                        ],
                        dtype=pl.String,
                    ),
                ),
                key="ae_rate_by_table",
                label=DIMENSIONS[dimension],
                ae_count=tables.number("AEs"),
                serious_ae_count=tables.number("Serious AEs"),
                administered_sessions=tables.number(
                    "Administered sessions", help="The denominator of the row's rate"
                ),
                ae_per_100=tables.number("AEs per 100", "%.2f"),
                ci=st.column_config.TextColumn("95% CI", help="Exact Poisson (Garwood) interval, per 100"),
            )
        if dimension in safety.AE_DIMENSIONS:
            st.caption(
                "Denominator for every row: all administered sessions in scope (an AE attribute splits the "
                "numerator only). Whiskers: exact Poisson (Garwood) 95% intervals."
            )
        else:
            st.caption(
                "Each row's denominator is the administered sessions of that group; AEs are attributed "
                "through their session. Whiskers: exact Poisson (Garwood) 95% intervals. "
                + (
                    "AEs recorded without a session have no rate and are listed only in the table."
                    if "no session" in by["level"].to_list()
                    else ""
                )
            )

        st.subheader("By route and by modality, side by side")
        sides = st.columns(2)
        for side, (dim, what) in zip(sides, (("route", "route"), ("modality", "modality")), strict=True):
            with side:
                levels = sf.order_levels(queries.ae_rate_by(f, dim), dim)
                show_figure(
                    sf.rate_dot_whisker(
                        levels,
                        title=f"AEs per 100 administered sessions by {what}",
                        level_title="",
                        network=rate["ae_per_100"],
                        label_of={v: words(v) for v in levels["label"].to_list()},
                    ),
                    key=f"ae_rate_side_{dim}",
                )
        st.caption(
            "IV, IM and intranasal (route) next to infusion and KAP (modality), whatever the breakdown "
            "above: each level's rate over its own administered sessions; dashed line: the rate in scope."
        )

# --- Funnel plot and u-chart ---------------------------------------------------------------------
if funnel_tab.open is not False:
    with funnel_tab:
        # The target is the whole network the viewer may see (every region; the same period, condition,
        # route and modality), never just the picked clinics: one clinic picked alone would be its own target.
        network_f = ctx.state.network_filters
        overdispersion = st.toggle(
            "Adjust the limits for over-dispersion",
            key=url_state.flag("ae_overdispersion"),
            help="Widens the limits by the between-clinic variation τ² (Spiegelhalter 2005, z-scores "
            "winsorised at 10%). Use it when many clinics fall outside the exact limits.",
        )
        funnel = queries.ae_funnel(network_f, overdispersion=overdispersion)
        in_funnel = set(funnel["clinic_id"].to_list())
        picked = set(f.clinic_ids) if set(f.clinic_ids) != in_funnel else set()
        if funnel.filter(pl.col("administered_sessions") > 0).is_empty():
            empty.no_data("administered sessions")
        else:
            show_figure(
                sf.funnel_figure(funnel, safety.funnel_curve(funnel), highlight=picked), key="ae_funnel_chart"
            )
            flagged = funnel.filter(pl.col("flag").is_in(["above_998", "above_95"]))
            st.caption(
                f"Target = AEs ÷ administered sessions of all {len(in_funnel)} clinic(s) you can see"
                + ", with the sidebar's period, condition, route and modality"
                + (" — the clinics you picked are ringed and named" if picked else "")
                + ". A clinic above the 99.8% limit is very unlikely to differ by chance alone. "
                "One large outlier raises the target for every other clinic (it is part of the network); "
                "if many clinics fall outside the limits, switch on the over-dispersion adjustment. "
                + (
                    "Above a limit: "
                    + ", ".join(
                        f"**{md(n)}** ({sf.FLAG_LABELS[fl]})"
                        for n, fl in flagged.select("clinic_name", "flag").rows()
                    )
                    + "."
                    if flagged.height
                    else "No clinic is above the 95% limit."
                )
            )
            with st.expander("Funnel table"):
                tables.table(
                    funnel.select(
                        "clinic_name",
                        "region",
                        "administered_sessions",
                        "ae_count",
                        "expected",
                        "ae_per_100",
                        "upper95",
                        "upper998",
                        pl.col("flag").replace_strict(sf.FLAG_LABELS, default=None),
                    ),
                    key="ae_funnel_table",
                    clinic_name="Clinic",
                    region="Region",
                    administered_sessions=tables.number("Sessions"),
                    ae_count=tables.number("AEs"),
                    expected=tables.number("Expected AEs", "%.1f"),
                    ae_per_100=tables.number("Per 100", "%.2f"),
                    upper95=tables.number("95% upper", "%.2f"),
                    upper998=tables.number("99.8% upper", "%.2f"),
                    flag="Position",
                )

        st.subheader("AE rate over time")
        c1, c2 = st.columns([1, 2])
        grain = c1.segmented_control(
            "Time step",
            ["week", "month"],
            format_func=str.capitalize,
            key=url_state.choice("ae_u_grain", ["week", "month"], "week", str.capitalize),
            required=True,
        )
        chosen = c2.selectbox(
            "Clinic",
            ["all", *f.clinic_ids],
            format_func=lambda c: "All clinics in scope" if c == "all" else names.get(c, c),
            key=url_state.choice("ae_u_clinic", ["all", *f.clinic_ids], "all"),
        )
        spc = spc_controls.spc_controls()
        clinic_id = None if chosen == "all" else chosen
        who = "all clinics in scope" if clinic_id is None else names.get(clinic_id, clinic_id)
        u = queries.ae_u_chart(f, cfg, grain, clinic_id=clinic_id, options=spc)
        # Part of the network on the chart (one clinic, a region, a director's clinics): the network's
        # rate in each point beside it, from every clinic (an aggregate, for a director too).
        charted = {clinic_id} if clinic_id is not None else set(f.clinic_ids)
        network_f = ctx.state.network_filters
        partial = charted != set(network_f.clinic_ids)
        if u.is_empty():
            empty.no_data("administered sessions")
        else:
            title = spc_controls.chart_title(u, "u", f"AEs per 100 sessions per {grain}, {who}", grain, spc)
            network = queries.ae_rate_per_period(network_f, cfg, grain, options=spc) if partial else None
            with figure_context.narrowed(clinic_id, names.get(clinic_id or ""), f):
                show_figure(sf.u_chart_figure(u, title=title, grain=grain, network=network), key="ae_u_chart")
            st.caption(
                (
                    "Dashed purple line: the network's rate in each "
                    f"{grain} (all {len(network_f.clinic_ids)} clinics, the same condition, route and "
                    "modality), to read the chart's level against; the limits are the chart's own. "
                    if partial
                    else ""
                )
                + f"The chart covers {spc_controls.span_caption(grain)} (the period is shaded); centre line "
                f"and 3σ {spc_controls.baseline_label(u, grain, spc)}, then held. "
                + (
                    "Laney's u′ widens the limits by the week-to-week variation of the baseline. "
                    if spc.laney
                    else ""
                )
                + "Grey = common cause; orange = special cause of concern (more AEs); blue = improvement. "
                "A week or month the period cuts has fewer sessions, hence wider limits."
            )

# --- Excursions ----------------------------------------------------------------------------------
if excursion_tab.open is not False:
    with excursion_tab:
        st.markdown(
            f"A **vital-sign excursion** is an administered session with BP ≥ {cfg.bp_sys_max} systolic or "
            f"≥ {cfg.bp_dia_max} diastolic, heart rate ≥ {cfg.hr_max} or SpO₂ < {cfg.spo2_min}%."
        )
        c1, c2, c3 = st.columns(3)
        per_100 = excursion["excursions_per_100"]
        c1.metric(
            "Excursions per 100 sessions",
            "–" if per_100 is None else f"{per_100:.2f}",
            help=None
            if per_100 is None
            else f"95% CI {excursion['ci_low']:.2f}–{excursion['ci_high']:.2f} (Wilson)",
            border=True,
        )
        c2.metric("Excursion sessions", f"{excursion['excursion_sessions']:,}", border=True)
        c3.metric(
            "Excursions without an AE",
            f"{excursion['excursions_without_ae']:,}",
            help="No AE of any date is recorded for the session: possible under-reporting.",
            border=True,
        )
        review = queries.excursions_without_ae(f, cfg)
        st.subheader("Review list: excursions without an AE")
        st.caption(
            "Sessions whose vitals crossed a threshold but for which no adverse event is recorded. "
            "Check each with the clinic: a missing report, or a reading that needs no report."
        )
        if review.is_empty():
            empty.no_data(
                "excursions without an AE",
                ctx.state,
                lambda g: queries.excursions_without_ae(g, cfg).height,
                key="excursions",
            )
        else:
            crossed = review.with_columns(
                crossed=pl.concat_str(
                    pl.when(pl.col("high_bp_sys")).then(pl.lit("BP sys")),
                    pl.when(pl.col("high_bp_dia")).then(pl.lit("BP dia")),
                    pl.when(pl.col("high_hr")).then(pl.lit("HR")),
                    pl.when(pl.col("low_spo2")).then(pl.lit("SpO₂")),
                    separator=", ",
                    ignore_nulls=True,
                )
            )
            tables.table(
                crossed.select(
                    "scheduled_at",
                    "clinic_name",
                    "session_id",
                    "patient_key",
                    "crossed",
                    "bp_sys_max",
                    "bp_dia_max",
                    "hr_max",
                    "spo2_min",
                    "route",
                    "dose_mg_per_kg",
                    "session_number",
                ),
                key="ae_excursions_table",
                height=360,
                scheduled_at=st.column_config.DatetimeColumn("Session", format="YYYY-MM-DD HH:mm"),
                clinic_name="Clinic",
                session_id="Session id",
                patient_key="Patient (pseudonym)",
                crossed="Crossed",
                bp_sys_max=tables.number("BP sys"),
                bp_dia_max=tables.number("BP dia"),
                hr_max=tables.number("HR"),
                spo2_min=tables.number("SpO₂"),
                route="Route",
                dose_mg_per_kg=tables.number("mg/kg", "%.2f"),
                session_number=tables.number("Session no."),
            )
            tables.csv_download(
                review,
                label="Download review list (CSV)",
                file_name=f"ketaops-excursions-without-ae-{f.start:%Y%m%d}-{f.end:%Y%m%d}.csv",
                key="ae_excursions_download",
                filters=f,
                title="KetaOps vital-sign excursions without an AE",
                header=scope_header(ctx),
            )

# --- Protocol deviations -------------------------------------------------------------------------
if protocol_tab.open is not False:
    with protocol_tab:
        st.markdown(
            f"A **protocol deviation** is an administered IV session with a dose outside "
            f"{cfg.protocol_dose_min}–{cfg.protocol_dose_max} mg/kg or a duration outside "
            f"{cfg.protocol_duration_min}–{cfg.protocol_duration_max} minutes (bounds included). "
            "Deviations are loaded and counted, never rejected."
        )
        c1, c2, c3 = st.columns(3)
        iv = protocol["iv_sessions"]
        share = f" ({protocol['deviations'] / iv:.1%} of {iv:,} IV sessions)" if iv else ""
        c1.metric("Deviations", f"{protocol['deviations']:,}", help=share.strip(" ()") or None, border=True)
        c2.metric("Dose outside range", f"{protocol['dose_deviations']:,}", border=True)
        c3.metric("Duration outside range", f"{protocol['duration_deviations']:,}", border=True)
        deviations = queries.protocol_deviations(f, cfg)
        if deviations.is_empty():
            # the protocol is an IV protocol: a route filter without IV empties this list
            empty.no_data(
                "protocol deviations",
                ctx.state,
                lambda g: queries.protocol_deviations(g, cfg).height,
                key="deviations",
            )
        else:
            st.caption(f"{deviations.height:,} deviation(s){share}, newest first.")
            tables.table(
                deviations.select(
                    "scheduled_at",
                    "clinic_name",
                    pl.concat_str(
                        pl.when(pl.col("dose_deviation")).then(pl.lit("dose")),
                        pl.when(pl.col("duration_deviation")).then(pl.lit("duration")),
                        separator=", ",
                        ignore_nulls=True,
                    ).alias("outside"),
                    "dose_mg_per_kg",
                    "duration_min",
                    "dose_mg",
                    "weight_kg",
                    "phase",
                    "session_id",
                    "patient_key",
                ),
                key="ae_deviations_table",
                height=360,
                scheduled_at=st.column_config.DatetimeColumn("Session", format="YYYY-MM-DD HH:mm"),
                clinic_name="Clinic",
                session_id="Session id",
                patient_key="Patient (pseudonym)",
                phase="Phase",
                dose_mg=tables.number("Dose mg", "%.1f"),
                weight_kg=tables.number("Weight kg", "%.1f"),
                dose_mg_per_kg=tables.number("mg/kg", "%.2f"),
                duration_min=tables.number("Minutes"),
                outside="Outside protocol",
            )
            tables.csv_download(
                deviations,
                label="Download deviations (CSV)",
                file_name=f"ketaops-protocol-deviations-{f.start:%Y%m%d}-{f.end:%Y%m%d}.csv",
                key="ae_deviations_download",
                filters=f,
                title="KetaOps protocol deviations",
                header=scope_header(ctx),
            )

# --- Serious AEs ---------------------------------------------------------------------------------
if serious_tab.open is not False:
    with serious_tab:
        serious = queries.serious_events(f)
        st.markdown(
            f"**{serious.height:,} serious adverse event(s)** with onset in the period, newest first."
        )
        if serious.is_empty():
            empty.no_data(
                "serious adverse events", ctx.state, lambda g: queries.serious_events(g).height, key="serious"
            )
        else:
            tables.table(
                serious.select(
                    "onset_at",
                    "clinic_name",
                    "category",
                    "severity_grade",
                    "action_taken",
                    "outcome",
                    "description",
                    "patient_key",
                    "ae_id",
                ),
                key="ae_serious_table",
                onset_at=st.column_config.DatetimeColumn("Onset", format="YYYY-MM-DD HH:mm"),
                clinic_name="Clinic",
                category="Category",
                severity_grade=tables.number("Grade"),
                action_taken="Action",
                outcome="Outcome",
                description=st.column_config.TextColumn("Description", width="large"),
                patient_key="Patient (pseudonym)",
                ae_id="AE id",
            )
            tables.csv_download(
                serious,
                label="Download serious AEs (CSV)",
                file_name=f"ketaops-serious-aes-{f.start:%Y%m%d}-{f.end:%Y%m%d}.csv",
                key="ae_serious_download",
                filters=f,
                title="KetaOps serious adverse events",
                header=scope_header(ctx),
            )

# --- Line list -----------------------------------------------------------------------------------
if list_tab.open is not False:
    with list_tab:
        st.caption(
            "Every adverse event in the sidebar's scope (period by onset date). The filters below and in "
            "the sidebar are kept in the URL: copy it to share this list."
        )
        line_list.render(ctx, f)

# --- Suicidal ideation (an outcome rule's safety signal, for the quality team) -------------------
ideation_signal.render(f)
