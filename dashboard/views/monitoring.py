"""Monitoring: compliance with the session monitoring rules, by clinic, over time, by route and
provider, review lists with each session's vitals timeline, sedation by dose, medications (layout only).

Tabs and every selection are kept in the URL (``url_state``):
``?mon_view=Review lists&mon_rule=vitals_complete``.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import exports, queries
from dashboard.components import empty, figure_context, kpi, spc_controls, tables, url_state
from dashboard.components import monitoring_figures as mf
from dashboard.components.labels import label as words
from dashboard.components.line_list import scope_header
from dashboard.components.page import context, require_sessions, stop_page
from dashboard.components.safe_text import md, show_figure
from dashboard.components.safety_figures import FLAG_LABELS
from dashboard.metrics import monitoring as definitions
from dashboard.metrics.monitoring import MEASURES, NO_PROVIDER, REVIEW_COLUMNS

ctx = context()
f = require_sessions(ctx)
cfg = ctx.cfg
names = ctx.state.clinic_names
st.title("Monitoring")
st.caption(f"{ctx.state.period_label} · {len(f.clinic_ids)} clinic(s) in scope · administered sessions")

headline = queries.monitoring_kpis(f, cfg)
now, before = headline["current"], headline["previous"]
if now["administered_sessions"] == 0:
    empty.no_data("administered sessions")
    stop_page()
n = now["administered_sessions"]


def _ci(measure: str) -> str:
    lo, hi = now[f"{measure}_ci_low"], now[f"{measure}_ci_high"]
    return f"95% CI {lo:.1%}–{hi:.1%} (Wilson)" if lo is not None else "no sessions"


def _tile(measure: str, label: str | None = None) -> kpi.Tile:
    m = MEASURES[measure]
    return kpi.Tile(
        label or m.label,
        now[f"{measure}_rate"],
        before[f"{measure}_rate"],
        lambda v: f"{v:.1%}",
        kpi.signed_points,
        "up" if m.higher_is_better else "down",
        help=f"{now[measure]:,} of {n:,} administered sessions: {m.help}. {_ci(measure)}.",
    )


kpi.tiles(
    [
        _tile("vitals_complete"),
        _tile("observed_long_enough"),
        _tile("dosed_despite_elevated_bp", "Dosed despite elevated pre-dose BP"),
        _tile("discharged_with_excursion", "Discharged with an unresolved excursion"),
        _tile("cadss_scored", "Dissociation scored (CADSS)"),
        _tile("moaas_scored", "Sedation scored (MOAA/S)"),
    ],
    note=f"shares of {n:,} administered sessions; arrows show the change against the previous "
    f"{(f.end - f.start).days + 1} days",
)
st.caption(
    f"Vitals complete: a pre-dose BP, a BP {cfg.peak_check_from_min}–{cfg.peak_check_to_min} min after the "
    "start and a discharge BP. Observed long enough: duration + recovery ≥ "
    f"{cfg.min_observation_iv} min IV, {cfg.min_observation_im} min IM, {cfg.min_observation_intranasal} min "
    f"intranasal. Elevated pre-dose BP: ≥ {cfg.pre_dose_bp_sys}/{cfg.pre_dose_bp_dia}. Unresolved excursion: "
    f"the discharge reading at BP ≥ {cfg.bp_sys_max}/{cfg.bp_dia_max}, HR ≥ {cfg.hr_max} or SpO₂ < "
    f"{cfg.spo2_min}. Sessions without vitals rows (v1 exports) count as incomplete and unscored."
)

TABS = (
    "Clinics",
    "Over time",
    "Routes and providers",
    "Review lists",
    "Dissociation and sedation",
    "Medications",
)
clinic_tab, time_tab, route_tab, review_tab, sedation_tab, meds_tab = st.tabs(
    list(TABS), key=url_state.choice("mon_view", list(TABS), TABS[0]), on_change="rerun"
)


def _measure_picker(where: st.delta_generator.DeltaGenerator, key: str, label: str = "Measure") -> str:
    return where.selectbox(
        label,
        list(MEASURES),
        format_func=lambda m: MEASURES[m].label,
        key=url_state.choice(key, list(MEASURES), next(iter(MEASURES)), lambda m: MEASURES[m].label),
    )


def _rate_table(frame: pl.DataFrame, key: str, level: str) -> None:
    shown = frame.select(
        "label",
        "administered_sessions",
        *[pl.col(f"{m}_rate").alias(m) for m in MEASURES],
    )
    tables.table(
        shown,
        key=key,
        label=level,
        administered_sessions=tables.number("Sessions"),
        **{m: tables.percent(MEASURES[m].label, help=MEASURES[m].help) for m in MEASURES},
    )


# --- clinics: funnel -----------------------------------------------------------------------------
if clinic_tab.open is not False:
    with clinic_tab:
        pick, _ = st.columns([1, 2])
        measure = _measure_picker(pick, "mon_measure")
        network_f = ctx.state.network_filters
        frame = queries.monitoring_funnel(network_f, cfg, measure)
        if frame.filter(pl.col("administered_sessions") > 0).is_empty():
            empty.no_data("administered sessions")
        else:
            picked = set(f.clinic_ids) if set(f.clinic_ids) != set(network_f.clinic_ids) else set()
            show_figure(
                mf.funnel_figure(
                    frame,
                    definitions.funnel_curve(frame),
                    title=f"{MEASURES[measure].label} by clinic: binomial funnel",
                    unit="",
                    highlight=picked,
                    names=names,
                    higher_is_better=MEASURES[measure].higher_is_better,
                ),
                key="mon_funnel_chart",
            )
            flagged = frame.filter(pl.col("flag").is_in(["above_998", "above_95", "below_95", "below_998"]))
            st.caption(
                f"Target = the share over all {len(network_f.clinic_ids)} clinic(s) you can see, with the "
                "sidebar's period, condition, route and modality. "
                + (
                    "Outside a limit: "
                    + ", ".join(
                        f"**{names.get(c, c)}** ({FLAG_LABELS[fl]})"
                        for c, fl in flagged.select("level", "flag").rows()
                    )
                    + "."
                    if flagged.height
                    else "No clinic is outside the 95% limits."
                )
            )
        _rate_table(queries.monitoring_by(f, cfg, "clinic"), "mon_clinic_table", "Clinic")

# --- over time: p′-chart -------------------------------------------------------------------------
if time_tab.open is not False:
    with time_tab:
        c1, c2, c3 = st.columns([2, 1, 2])
        measure = _measure_picker(c1, "mon_chart_measure")
        grain = c2.segmented_control(
            "Time step",
            ["week", "month"],
            format_func=str.capitalize,
            key=url_state.choice("mon_grain", ["week", "month"], "week", str.capitalize),
            required=True,
        )
        chosen = c3.selectbox(
            "Clinic",
            ["all", *f.clinic_ids],
            format_func=lambda c: "All clinics in scope" if c == "all" else names.get(c, c),
            key=url_state.choice("mon_chart_clinic", ["all", *f.clinic_ids], "all"),
        )
        spc = spc_controls.spc_controls()
        clinic_id = None if chosen == "all" else chosen
        who = "all clinics in scope" if clinic_id is None else names.get(clinic_id, clinic_id)
        chart = queries.monitoring_p_chart(f, cfg, measure, grain, clinic_id=clinic_id, options=spc)
        if chart.is_empty():
            empty.no_data("administered sessions")
        else:
            label = MEASURES[measure].label
            title = spc_controls.chart_title(chart, "p", f"{label} per {grain}, {who}", grain, spc)
            with figure_context.narrowed(clinic_id, names.get(clinic_id or ""), f):
                share = "share of administered sessions"
                show_figure(
                    mf.p_chart_figure(chart, title=title, grain=grain, y_title=share), key="mon_p_chart"
                )
            better = "higher" if MEASURES[measure].higher_is_better else "lower"
            st.caption(
                f"{spc_controls.chart_name(chart, 'p')} over {spc_controls.span_caption(grain)} "
                "(the period is "
                f"shaded): {spc_controls.baseline_label(chart, grain, spc)}, then held. Grey = common cause; "
                f"orange = special cause of concern; blue = improvement ({better} is better)."
            )

# --- routes and providers ------------------------------------------------------------------------
if route_tab.open is not False:
    with route_tab:
        st.subheader("By route")
        _rate_table(
            queries.monitoring_by(f, cfg, "route").with_columns(
                pl.col("label").map_elements(words, pl.String)
            ),
            "mon_route_table",
            "Route",
        )
        st.subheader("By provider")
        st.caption(
            "Providers are the exports' pseudonyms (`provider_key`), never names, within the clinics "
            "you can see. "
            f"Sessions without one are '{NO_PROVIDER}' and stay out of the funnel."
        )
        pick, _ = st.columns([1, 2])
        measure = _measure_picker(pick, "mon_provider_measure")
        providers = queries.monitoring_funnel(f, cfg, measure, "provider")
        if providers.is_empty():
            empty.no_data(
                "sessions with a provider",
                ctx.state,
                lambda g: int(
                    queries.monitoring_funnel(g, cfg, measure, "provider")["administered_sessions"].sum()
                ),
                key="providers",
            )
        else:
            show_figure(
                mf.funnel_figure(
                    providers,
                    definitions.funnel_curve(providers),
                    title=f"{MEASURES[measure].label} by provider: binomial funnel",
                    unit="",
                    names={p: p for p in providers["level"].to_list()},
                    higher_is_better=MEASURES[measure].higher_is_better,
                ),
                key="mon_provider_funnel",
            )
        by_provider = queries.monitoring_by(f, cfg, "provider").with_columns(
            label=pl.concat_str(
                pl.col("label"),
                pl.lit(" · "),
                pl.col("clinic_id").replace_strict(names, default=pl.col("clinic_id")),
            )
        )
        _rate_table(by_provider, "mon_provider_table", "Provider · main clinic")

# --- review lists and the vitals timeline --------------------------------------------------------
RULE_WORDS = {
    "vitals_complete": "vitals incomplete",
    "observed_long_enough": "observed too briefly",
    "dosed_despite_elevated_bp": "dosed despite elevated pre-dose BP",
    "discharged_with_excursion": "discharged with an unresolved excursion",
    "cadss_scored": "no CADSS score",
    "moaas_scored": "no MOAA/S score",
}


def _pick_session() -> None:
    """A row picked in the review list opens its vitals timeline (and puts it in the URL)."""
    picked = st.session_state.get("mon_review_table")
    rows = picked.selection.rows if picked is not None else []
    shown = st.session_state.get("_mon_review_ids", [])
    if rows and rows[0] < len(shown):
        st.session_state["mon_session"] = shown[rows[0]]


if review_tab.open is not False:
    with review_tab:
        c1, c2 = st.columns([2, 1])
        rule = c1.selectbox(
            "Sessions that fail",
            list(RULE_WORDS),
            format_func=lambda m: f"{MEASURES[m].label}: {RULE_WORDS[m]}",
            key=url_state.choice("mon_rule", list(RULE_WORDS), next(iter(RULE_WORDS))),
        )
        provider_text = c2.text_input(
            "Provider (pseudonym)",
            key=url_state.text("mon_provider"),
            placeholder="all providers",
            help=f"One provider's sessions; '{NO_PROVIDER}' for sessions without one.",
        )
        provider = (provider_text or "").strip() or None
        failing = queries.monitoring_review_list(f, cfg, rule, provider=provider)
        st.markdown(f"**{failing.height:,} session(s)** fail this rule in the sidebar's scope, newest first.")
        header = [*scope_header(ctx), ("rule", f"{MEASURES[rule].label}: {RULE_WORDS[rule]}"),
                  ("provider", provider or "all")]  # fmt: skip
        title = "KetaOps monitoring review list"
        stamp = f"{f.start:%Y%m%d}-{f.end:%Y%m%d}"
        d1, d2, _ = st.columns([1, 1, 3])
        with d1:
            st.download_button(
                "Download CSV",
                data=lambda: exports.to_csv(failing, title=title, header=header),
                file_name=f"ketaops-monitoring-{rule}-{stamp}.csv",
                mime="text/csv",
                key="mon_download_csv",
                icon=":material/download:",
                disabled=failing.is_empty(),
                on_click="ignore",
            )
        with d2:
            st.download_button(
                "Download Excel",
                data=lambda: exports.to_excel(failing, title=title, header=header, sheet="review list"),
                file_name=f"ketaops-monitoring-{rule}-{stamp}.xlsx",
                mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                key="mon_download_xlsx",
                icon=":material/table:",
                disabled=failing.is_empty() or failing.height > exports.EXCEL_MAX_ROWS,
                on_click="ignore",
            )
        shown = failing.head(5_000)
        st.session_state["_mon_review_ids"] = shown["session_id"].to_list()
        if not failing.is_empty():
            tables.grid(
                shown.select(REVIEW_COLUMNS),
                key="mon_review_table",
                on_select=_pick_session,
                selection_mode="single-row",
                height=360,
                column_config={
                    # when and where lead the grid (pinned), so a phone keeps them in view
                    "scheduled_at": st.column_config.DatetimeColumn(
                        "Session", format="YYYY-MM-DD HH:mm", pinned=True
                    ),
                    "session_id": "Session id",
                    "clinic_name": st.column_config.TextColumn("Clinic", pinned=True),
                    "provider_key": "Provider",
                    "patient_key": "Patient (pseudonym)",
                    "has_pre_bp": st.column_config.CheckboxColumn("Pre-dose BP"),
                    "has_peak_bp": st.column_config.CheckboxColumn(
                        f"BP {cfg.peak_check_from_min}–{cfg.peak_check_to_min} min"
                    ),
                    "has_discharge_bp": st.column_config.CheckboxColumn("Discharge BP"),
                },
            )
            st.caption(
                "**Select a row** to see the session's vitals timeline (the URL then names the session)."
            )
        session_id = st.text_input(
            "Vitals timeline of session",
            key=url_state.text("mon_session"),
            placeholder="select a row above, or type a session id",
        )
        if session_id and session_id.strip():
            timeline = queries.vitals_timeline(f, session_id.strip())
            if timeline["session"] is None:
                st.info("No session with this id in the clinics and filters you can see.")
            elif timeline["readings"].is_empty():
                s = timeline["session"]
                st.info(
                    "This session has no vitals rows (a v1 export): its own columns give pre-dose BP "
                    f"{s['bp_sys_pre'] or '–'}/{s['bp_dia_pre'] or '–'} and maxima "
                    f"{s['bp_sys_max'] or '–'}/{s['bp_dia_max'] or '–'}, HR {s['hr_max'] or '–'}, "
                    "lowest SpO₂ "
                    f"{s['spo2_min'] or '–'}."
                )
            else:
                show_figure(mf.vitals_timeline_figure(timeline, cfg), key="mon_vitals_timeline")
                s = timeline["session"]
                st.caption(
                    f"{md(s['clinic_name'])} · provider {md(s['provider_key'] or NO_PROVIDER)} · "
                    f"{words(s['route'] or '–')} · {words(s['status'])} · "
                    f"duration {s['duration_min'] or '–'} + "
                    f"recovery {s['recovery_min'] or '–'} min."
                )

# --- dissociation and sedation by dose -----------------------------------------------------------
if sedation_tab.open is not False:
    with sedation_tab:
        sedation = queries.sedation_by_dose(f, cfg)
        if sedation.is_empty():
            empty.no_data("administered sessions")
        else:
            show_figure(mf.sedation_figure(sedation), key="mon_sedation_chart")
            st.caption(
                f"CADSS 0–92 (higher = more dissociation); MOAA/S ≤ {cfg.deep_sedation_moaas} = "
                "moderate sedation "
                "or deeper, as a share of the sessions scored. Intranasal doses are not weight-based. "
                "Whiskers: t interval of the mean, Wilson interval of the share."
            )
            tables.table(
                sedation.select(
                    pl.col("route").map_elements(words, pl.String),
                    "dose_band",
                    "administered_sessions",
                    "cadss_scored",
                    "mean_cadss",
                    "moaas_scored",
                    "deep_sedation",
                    "deep_sedation_rate",
                ),
                key="mon_sedation_table",
                route="Route",
                dose_band="Dose (mg/kg)",
                administered_sessions=tables.number("Sessions"),
                cadss_scored=tables.number("CADSS scored"),
                mean_cadss=tables.number("Mean CADSS", "%.1f"),
                moaas_scored=tables.number("MOAA/S scored"),
                deep_sedation=tables.number(f"MOAA/S ≤ {cfg.deep_sedation_moaas}"),
                deep_sedation_rate=tables.percent("Share"),
            )

# --- concomitant medications ---------------------------------------------------------------------
if meds_tab.open is not False:
    with meds_tab:
        st.subheader("On each drug class at day 0")
        meds = queries.medications_at_day0(f, cfg)
        st.caption(
            "The cohort: patients whose first administered session is in the period. On a drug class = "
            "started "
            f"on or before day 0 and not stopped before it. Counts of 1–{cfg.suppression_k - 1} patients are "
            "suppressed."
        )
        tables.table(
            meds.select(
                pl.col("drug_class").map_elements(words, pl.String),
                "patients",
                "cohort",
                "share",
                pl.when(pl.col("suppressed")).then(pl.lit("suppressed")).otherwise(pl.lit("")).alias("note"),
            ),
            key="mon_meds_table",
            drug_class="Drug class",
            patients=tables.number("Patients"),
            cohort=tables.number("Cohort"),
            share=tables.percent("Share"),
            note="",
        )
        st.subheader("Outcomes by benzodiazepine and lamotrigine use")
        split = queries.outcomes_by_medication(f, cfg)
        if split.is_empty():
            empty.no_data(
                "patients in the cohort",
                ctx.state,
                lambda g: queries.outcomes_by_medication(g, cfg).height,
                key="medication_split",
                numbered=False,  # rows of condition × instrument × drug, not patients
            )
        else:
            tables.table(
                split.select(
                    pl.col("condition").map_elements(words, pl.String),
                    "instrument",
                    pl.concat_str(
                        pl.when(pl.col("on_drug")).then(pl.lit("on ")).otherwise(pl.lit("not on ")),
                        pl.col("drug"),
                    ).alias("group"),
                    "evaluable",
                    "responders",
                    "response_rate",
                    "remitters",
                    "remission_rate",
                ),
                key="mon_outcome_split_table",
                condition="Condition",
                instrument="Instrument",
                group="Group",
                evaluable=tables.number("Evaluable"),
                responders=tables.number("Responders"),
                response_rate=tables.percent("Response"),
                remitters=tables.number("Remitters"),
                remission_rate=tables.percent("Remission"),
            )
            st.caption(
                "Primary instrument of each condition, the outcome rules of the Outcomes page. "
                "Blank = suppressed."
            )
        st.subheader("AEs and BP excursions by MAOI or stimulant use")
        risk = queries.safety_by_medication(f, cfg)
        tables.table(
            risk.select(
                pl.when(pl.col("on_maoi_or_stimulant"))
                .then(pl.lit("on an MAOI or stimulant"))
                .otherwise(pl.lit("neither"))
                .alias("group"),
                "administered_sessions",
                "ae_count",
                "ae_per_100",
                "bp_excursions",
                "bp_excursions_per_100",
            ),
            key="mon_risk_table",
            group="Group (on the session's date)",
            administered_sessions=tables.number("Sessions"),
            ae_count=tables.number("AEs"),
            ae_per_100=tables.number("AEs per 100", "%.2f"),
            bp_excursions=tables.number("BP excursions"),
            bp_excursions_per_100=tables.number("BP excursions per 100", "%.2f"),
        )
