"""Outcomes: are patients getting better, per condition (layout only).

Figures come from ``dashboard/metrics/outcomes/`` through the cached
queries in ``dashboard/queries/outcomes.py``. Small cells arrive already
suppressed (null + ``suppressed``); this page only says so, in tiles, tables,
charts and downloads alike.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.components import empty, tables, url_state
from dashboard.components.labels import label
from dashboard.components.outcome_figures import (
    FLAG_TEXT,
    caterpillar_figure,
    funnel_figure,
    km_figure,
    trajectory_figure,
)
from dashboard.components.outcome_notes import side_counts
from dashboard.components.page import context, require_sessions, stop_page
from dashboard.components.safe_text import md, show_figure
from pipelines.model.outcome_rules import (
    IDEATION_INSTRUMENT,
    MEASURES,
    RULES,
    caseness_thresholds,
    instruments_for,
)

ctx = context()
f = require_sessions(ctx)
cfg = ctx.cfg
K = cfg.suppression_k
HIDDEN = f"suppressed (n < {K})"


def instrument_label(instrument: str) -> str:
    return RULES[instrument].label if instrument in RULES else "C-SSRS ideation"


def pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.0%}"


def ci_text(row: dict[str, Any], points: bool = False) -> str:
    if row["suppressed"]:
        return HIDDEN
    if row["ci_low"] is None or row["ci_high"] is None:
        return "95% CI –"
    if points:
        return f"95% CI {row['ci_low']:+.1f} to {row['ci_high']:+.1f}"
    return f"95% CI {row['ci_low']:.0%}–{row['ci_high']:.0%}"


def value_text(row: dict[str, Any]) -> str:
    if row["suppressed"]:
        return HIDDEN
    if row["measure"] == "mean_change":
        return "–" if row["estimate"] is None else f"{row['estimate']:+.1f} pts"
    return pct(row["estimate"])


def with_note(df: pl.DataFrame) -> pl.DataFrame:
    """Downloads carry the same words as the screen for hidden cells."""
    return df.with_columns(note=pl.when(pl.col("suppressed")).then(pl.lit(HIDDEN)).otherwise(pl.lit("")))


st.title("Outcomes")
st.caption(
    f"{ctx.state.period_label} · {len(f.clinic_ids)} clinic(s) in scope · cohort = patients whose first "
    "administered session (day 0) is in the period; end of induction = latest score within 42 days of day 0. "
    "Evaluable: day 0 at least 42 days before the data's last date (younger patients are maturing, "
    "never in a rate) and a baseline at or above the instrument's caseness threshold."
)
if K > 0:
    st.caption(f"Small-cell suppression: figures from fewer than {K} patients show “{HIDDEN}”.")

measures = queries.outcome_measures(f, cfg)
if measures.is_empty():
    named = empty.no_data(
        "new patients with an outcome instrument",
        ctx.state,
        lambda g: queries.outcome_measures(g, cfg).height,
        key="outcomes",
        numbered=False,  # rows of condition × instrument × measure, not patients
    )
    if not named:
        st.info(
            "Outcomes need patients whose first session is in the period. Widen the period "
            "(e.g. Last 12 months): patients who started in the last 42 days cannot have an "
            "end-of-induction score yet.",
            icon=":material/info:",
        )
    stop_page()

# --- all conditions at a glance ---------------------------------------------------------------
st.subheader("Response and remission by condition")
secondary = st.toggle(
    "Include secondary instruments (MADRS, QIDS-SR16, GAD-7)", key=url_state.flag("outcome_secondary")
)
listed = measures.filter(
    (pl.col("instrument") != IDEATION_INSTRUMENT) & (pl.col("is_primary") | pl.lit(secondary))
)
overview_rows = []
for (condition, instrument), grp in listed.group_by("condition", "instrument", maintain_order=True):
    by = {r["measure"]: r for r in grp.to_dicts()}
    resp, rem, change = by["response"], by.get("remission"), by["mean_change"]
    overview_rows.append(
        {
            "Condition": label(condition),
            "Instrument": instrument_label(instrument) + ("" if resp["is_primary"] else " (secondary)"),
            "Rule": RULES[instrument].response_text,
            "Evaluable": HIDDEN if resp["denominator"] is None else f"{resp['denominator']:,}",
            "Cohort": HIDDEN if resp["cohort"] is None else f"{resp['cohort']:,}",
            "Maturing": HIDDEN if resp["maturing"] is None else f"{resp['maturing']:,}",
            "Below caseness": HIDDEN if resp["below_caseness"] is None else f"{resp['below_caseness']:,}",
            "Response": value_text(resp),
            "Response 95% CI": "" if resp["suppressed"] else ci_text(resp).removeprefix("95% CI "),
            "Remission": "no rule" if rem is None else value_text(rem),
            "Remission 95% CI": ""
            if rem is None or rem["suppressed"]
            else ci_text(rem).removeprefix("95% CI "),
            "Mean change": value_text(change),
        }
    )
tables.table(pl.DataFrame(overview_rows), key="outcomes_overview")
tables.csv_download(
    with_note(measures),
    label="Download all outcome figures (CSV)",
    file_name="outcomes.csv",
    key="dl_outcomes",
)

# --- one condition in detail ------------------------------------------------------------------
present = measures["condition"].unique(maintain_order=True).to_list()
left, right = st.columns([1, 2])
condition = left.selectbox(
    "Condition",
    present,
    format_func=label,
    key=url_state.choice("outcome_condition", present, present[0], label),
)
shown = set(measures.filter(pl.col("condition") == condition)["instrument"].to_list())
choices = [i for i, _ in instruments_for(condition) if i in shown]
instrument = right.segmented_control(
    "Instrument",
    choices,
    format_func=instrument_label,
    key=url_state.choice("outcome_instrument", choices, choices[0], instrument_label),
    required=True,
)
if instrument not in choices:  # a stale choice from another condition
    instrument = choices[0]
rule = RULES[instrument]
st.subheader(f"{label(condition)}: {rule.label}")
st.caption(
    f"Response = {rule.response_text} from baseline; remission = {rule.remission_text}. "
    f"Baseline = the score linked to the day-0 session, else the latest up to 30 days before day 0; "
    f"caseness: baseline ≥ {caseness_thresholds(cfg.caseness)[instrument]:g}. "
    f"Worsening = {rule.worsening_text} at the end of induction."
)

pair = measures.filter((pl.col("condition") == condition) & (pl.col("instrument") == instrument))
tiles = {r["measure"]: r for r in pair.to_dicts()}
ideation = measures.filter(
    (pl.col("condition") == condition) & (pl.col("instrument") == IDEATION_INSTRUMENT)
).to_dicts()
if ideation and rule.instrument == instruments_for(condition)[0][0]:
    tiles["ideation_improved"] = ideation[0]
resp = tiles["response"]
items: list[tuple[str, str, str, str | None]] = [
    (
        "Evaluable",
        "suppressed" if resp["denominator"] is None else f"{resp['denominator']:,}",
        ("" if resp["cohort"] is None else f"of {resp['cohort']:,} new patients · ")
        + side_counts(resp["maturing"], resp["below_caseness"], K),
        "Mature (day 0 ≥ 42 days before the data's last date), a baseline at or above caseness and an "
        "end-of-induction score (and baseline > 0 for a %-reduction rule).",
    )
]
HELP = {
    "response": f"{rule.response_text} at the end of induction; Wilson 95% CI.",
    "remission": f"End-of-induction score {rule.remission_text.removeprefix('score ')}; Wilson 95% CI.",
    "mean_change": "Mean of (endpoint − baseline); negative = better. Student-t 95% CI.",
    "rapid_response": "First score within 7 days after day 0 meets the response rule.",
    "durability": "Of end-of-induction responders scored 60–120 days after day 0: still responding.",
    "worsening": f"Endpoint − baseline: {rule.worsening_text} (a reliable change).",
    "ideation_improved": "C-SSRS ideation > 0 at baseline and lower at the end of induction.",
}
for measure in MEASURES:
    if measure not in tiles:
        continue
    row = tiles[measure]
    n_text = (
        ""
        if row["suppressed"] or measure == "mean_change"
        else f" · {row['numerator']:,}/{row['denominator']:,}"
    )
    items.append(
        (
            MEASURES[measure],
            "suppressed"
            if row["suppressed"]
            else value_text(row),  # the tile is too narrow for the full words
            ci_text(row, measure == "mean_change") + n_text,
            HELP[measure],
        )
    )
per_row = 4
for start in range(0, len(items), per_row):
    cols = st.columns(per_row)
    for col, (title, value, sub, help_text) in zip(cols, items[start : start + per_row], strict=False):
        with col:
            st.metric(title, value, help=help_text, border=True)
            if sub:
                st.caption(sub)


detail = queries.outcome_detail(f, cfg, condition, instrument)
left, right = st.columns(2)
with left:
    km = detail["time_to_response"]
    if km["suppressed"]:
        st.markdown("**Time to response (Kaplan–Meier)**")
        st.info(f"Time to response: {HIDDEN}.", icon=":material/visibility_off:")
    elif km["n"] == 0 or km["curve"].is_empty():
        empty.no_data("patients with a baseline and a later score")
    else:
        show_figure(km_figure(km, K), key="km")
        st.caption(
            f"{km['n']:,} patients with a baseline and a later score; "
            "censored at their last score (≤ day 120). Band: 95% CI (Greenwood, log-log)."
            + (f" The curve stops where fewer than {K} remain at risk." if K > 0 else "")
        )
with right:
    traj = detail["trajectory"].filter(~pl.col("suppressed"))
    if traj.is_empty():
        st.markdown(f"**{rule.label} by administered session**")
        st.info(f"Trajectory: {HIDDEN}." if K > 0 else "No scores.", icon=":material/visibility_off:")
    else:
        show_figure(trajectory_figure(traj, rule), key="trajectory")
        st.caption(
            "Median and interquartile range of each patient's latest score at each session"
            + (f"; sessions with fewer than {K} patients are left out." if K > 0 else ".")
        )


# --- clinics compared -----------------------------------------------------------------------------
st.subheader("Clinics compared on response")
# Against the whole network (as the Safety funnel): a viewer of part of it sees the others unnamed.
network_f = ctx.state.network_filters
if network_f == f:
    comp, network = detail["clinics"], detail["network"]
else:
    comp, network = queries.clinic_comparison(network_f, cfg, condition, instrument)
visible = comp.filter(~pl.col("suppressed"))
hidden_names = comp.filter(pl.col("suppressed"))["clinic_name"].to_list()
if network["suppressed"]:
    st.info(f"Clinic comparison: {HIDDEN} for the network.", icon=":material/visibility_off:")
elif visible.is_empty():
    st.info(f"Every clinic is {HIDDEN}.", icon=":material/visibility_off:")
else:
    view = st.segmented_control(
        "Chart",
        ["funnel", "caterpillar"],
        format_func=str.capitalize,
        key=url_state.choice("outcome_chart", ["funnel", "caterpillar"], "funnel", str.capitalize),
        required=True,
    )
    fig = funnel_figure(visible, network) if view == "funnel" else caterpillar_figure(visible, network)
    show_figure(fig, key=f"clinics_{view}")
    st.caption(
        f"Network response {network['response_rate']:.0%} "
        f"({network['responders']:,}/{network['evaluable']:,}). "
        "Funnel: exact binomial limits around the network rate (Spiegelhalter 2005); a clinic outside the "
        "99.8% limits differs by more than chance."
    )
if hidden_names:
    st.caption(
        f"Not shown, {HIDDEN}: {', '.join(md(n) for n in hidden_names)}. "
        "When one clinic is hidden the next-smallest is "
        "hidden too, so the network total cannot reveal it."
    )
clinic_table = comp.with_columns(
    pl.when(pl.col("suppressed"))
    .then(pl.lit(HIDDEN))
    .otherwise(pl.col("flag").replace_strict(FLAG_TEXT, default=None))
    .alias("funnel")
)
tables.table(
    clinic_table.select(
        pl.col("clinic_name").alias("Clinic"),
        pl.col("evaluable").alias("Evaluable"),
        pl.col("responders").alias("Responders"),
        pl.col("response_rate").alias("Response"),
        pl.col("ci_low").alias("CI low"),
        pl.col("ci_high").alias("CI high"),
        pl.col("funnel").alias("Funnel"),
    ),
    key="outcome_clinic_table",
    Response=tables.percent("Response"),
    **{"CI low": tables.percent("95% CI low"), "CI high": tables.percent("95% CI high")},
)
tables.csv_download(
    with_note(comp),
    label="Download clinic comparison (CSV)",
    file_name=f"outcomes_{condition}_{instrument}_clinics.csv",
    key="dl_outcome_clinics",
)


# --- measurement-based care ------------------------------------------------------------------------
st.subheader("Measurement-based-care completeness by clinic")
st.caption(
    "Do the figures above rest on most patients or on a few? Of each clinic's cohort (primary "
    "instrument of each patient's condition): the share with a baseline; of its mature patients, the "
    "share with an end-of-induction score; of its administered sessions in the period, the share "
    "scored on the session's date or linked to it."
)
mbc = queries.mbc_completeness(f, cfg)
if mbc.is_empty():
    empty.no_data("patients with an outcome instrument")
else:
    tables.table(
        mbc.select(
            pl.col("clinic_name").alias("Clinic"),
            pl.col("cohort").alias("Cohort"),
            pl.col("baseline_share").alias("With baseline"),
            pl.col("mature").alias("Mature"),
            pl.col("endpoint_share").alias("With endpoint"),
            pl.col("sessions").alias("Sessions"),
            pl.col("scored_session_share").alias("Sessions scored"),
        ),
        key="outcome_mbc",
        **{
            "With baseline": tables.percent("With baseline"),
            "With endpoint": tables.percent("With end-of-induction score"),
            "Sessions scored": tables.percent("Sessions scored"),
        },
    )
    if mbc["suppressed"].any():
        st.caption(f"Clinics with a cohort {HIDDEN} show no shares.")
    tables.csv_download(
        with_note(mbc),
        label="Download completeness (CSV)",
        file_name="outcomes_mbc.csv",
        key="dl_outcome_mbc",
    )
