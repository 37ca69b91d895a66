"""Outcomes: are patients getting better, per condition (layout only).

Figures come from ``dashboard/metrics/outcomes.py`` through the cached
wrappers in ``dashboard/queries_outcomes.py``. Small cells arrive already
suppressed (null + ``suppressed``); this page only says so, in tiles, tables,
charts and downloads alike.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st
from plotly.subplots import make_subplots

from dashboard import queries_outcomes as qo
from dashboard.components import charts, empty, tables
from dashboard.components.filters import label
from dashboard.components.page import context, require_sessions
from dashboard.metrics.outcomes import (
    AT_RISK_DAYS,
    IDEATION_INSTRUMENT,
    MEASURES,
    RULES,
    instruments_for,
)

ctx = context()
f = require_sessions(ctx)
cfg = ctx.cfg
K = cfg.suppression_k
HIDDEN = f"suppressed (n < {K})"
BAND_COLORS = ("#dcefe3", "#eef3d6", "#fbeecd", "#f8dcc5", "#f2c9c4")  # best → worst severity
FLAG_COLORS = {
    "above_998": "#1f6fb2",
    "above_95": "#7fa7c9",
    "within": "#a0a7ae",
    "below_95": "#f0b27a",
    "below_998": "#e8871e",
}
FLAG_TEXT = {
    "above_998": "above 99.8% limit",
    "above_95": "above 95% limit",
    "within": "within limits",
    "below_95": "below 95% limit",
    "below_998": "below 99.8% limit",
}


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
    "administered session (day 0) is in the period; end of induction = latest score within 42 days of day 0."
)
if K > 0:
    st.caption(f"Small-cell suppression: figures from fewer than {K} patients show “{HIDDEN}”.")

measures = qo.outcome_measures(f, cfg)
if measures.is_empty():
    empty.no_data("new patients with an outcome instrument")
    st.info(
        "Outcomes need patients whose first session is in the period. Widen the period "
        "(e.g. Last 12 months): patients who started in the last 42 days cannot have an "
        "end-of-induction score yet.",
        icon=":material/info:",
    )
    st.stop()

# --- all conditions at a glance ---------------------------------------------------------------
st.subheader("Response and remission by condition")
secondary = st.toggle("Include secondary instruments (MADRS, QIDS-SR16, GAD-7)", key="outcome_secondary")
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
            "Evaluable": HIDDEN if resp["suppressed"] else f"{resp['denominator']:,} of {resp['cohort']:,}",
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
condition = left.selectbox("Condition", present, format_func=label, key="outcome_condition")
shown = set(measures.filter(pl.col("condition") == condition)["instrument"].to_list())
choices = [i for i, _ in instruments_for(condition) if i in shown]
instrument = right.segmented_control(
    "Instrument",
    choices,
    format_func=instrument_label,
    default=choices[0],
    key="outcome_instrument",
    required=True,
)
if instrument not in choices:  # a stale choice from another condition
    instrument = choices[0]
rule = RULES[instrument]
st.subheader(f"{label(condition)}: {rule.label}")
st.caption(
    f"Response = {rule.response_text} from baseline; remission = {rule.remission_text}. "
    "Baseline = latest score up to 30 days before day 0."
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
        "suppressed" if resp["suppressed"] else f"{resp['denominator']:,}",
        HIDDEN if resp["suppressed"] else f"of {resp['cohort']:,} new patients",
        "Baseline and end-of-induction score (and baseline > 0 for a %-reduction rule).",
    )
]
HELP = {
    "response": f"{rule.response_text} at the end of induction; Wilson 95% CI.",
    "remission": f"End-of-induction score {rule.remission_text.removeprefix('score ')}; Wilson 95% CI.",
    "mean_change": "Mean of (endpoint − baseline); negative = better. Student-t 95% CI.",
    "rapid_response": "First score within 7 days after day 0 meets the response rule.",
    "durability": "Of end-of-induction responders scored 60–120 days after day 0: still responding.",
    "worsening": "Endpoint at least 20% above baseline.",
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


# --- time to response and trajectory -----------------------------------------------------------
def km_figure(km: dict[str, Any]) -> go.Figure:
    curve = km["curve"]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.84, 0.16], vertical_spacing=0.04)
    day = [0.0, *curve["day"].to_list()]
    lo, hi = [0.0, *curve["ci_low"].to_list()], [0.0, *curve["ci_high"].to_list()]
    responded = [0.0, *curve["responded"].to_list()]
    band = {"shape": "hv", "width": 0}
    fig.add_trace(
        go.Scatter(x=day, y=hi, mode="lines", line=band, hoverinfo="skip", showlegend=False), row=1, col=1
    )
    fig.add_trace(
        go.Scatter(
            x=day,
            y=lo,
            mode="lines",
            line=band,
            fill="tonexty",
            fillcolor="rgba(42,127,142,0.18)",
            name="95% CI",
            hoverinfo="skip",
        ),
        row=1,
        col=1,
    )
    at_risk = [None, *curve["at_risk"].to_list()]
    fig.add_trace(
        go.Scatter(
            x=day,
            y=responded,
            mode="lines",
            line={"shape": "hv", "color": charts.ACCENT, "width": 2.5},
            name="responded",
            customdata=at_risk,
            hovertemplate="day %{x}: %{y:.0%} responded<extra></extra>",
        ),
        row=1,
        col=1,
    )
    risk = km["at_risk"]
    labels = [f"<{K}" if s else f"{n:,}" for n, s in zip(risk["at_risk"], risk["suppressed"], strict=True)]
    fig.add_trace(
        go.Scatter(
            x=risk["day"].to_list(),
            y=[0] * risk.height,
            mode="text",
            text=labels,
            textfont={"size": 12},
            hoverinfo="skip",
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    charts.base_layout(fig, "Time to response (Kaplan–Meier)", "", "", height=400)
    fig.update_yaxes(title_text="responded (cumulative)", tickformat=".0%", range=[0, 1], row=1, col=1)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title_text="at risk", row=2, col=1)
    fig.update_xaxes(range=[-7, max(AT_RISK_DAYS) + 7], tickvals=list(AT_RISK_DAYS))
    fig.update_xaxes(title_text="days since day 0", row=2, col=1)
    fig.update_layout(showlegend=True)
    return fig


def trajectory_figure(traj: pl.DataFrame) -> go.Figure:
    fig = go.Figure()
    low, high = rule.score_range
    for i, band in enumerate(rule.bands):
        shade = BAND_COLORS[round(i * (len(BAND_COLORS) - 1) / max(len(rule.bands) - 1, 1))]
        fig.add_hrect(
            y0=max(low, band.low - 0.5),
            y1=min(high, band.high + 0.5),
            fillcolor=shade,
            opacity=0.8,
            line_width=0,
            layer="below",
            annotation_text=band.label,
            annotation_position="top right",
            annotation_font={"size": 10, "color": "#5b6670"},
        )
    x = traj["session_number"].to_list()
    fig.add_trace(
        go.Scatter(
            x=x, y=traj["q3"].to_list(), mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=traj["q1"].to_list(),
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(42,127,142,0.22)",
            name="IQR",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=traj["median"].to_list(),
            mode="lines+markers",
            name="median",
            line={"color": charts.ACCENT, "width": 2.5},
            customdata=traj.select("n", "q1", "q3").rows(),
            hovertemplate="session %{x}: median %{y:g} (IQR %{customdata[1]:g}–%{customdata[2]:g}), "
            "n = %{customdata[0]}<extra></extra>",
        )
    )
    charts.base_layout(
        fig,
        f"{rule.label} by administered session",
        "session number (0 = before treatment)",
        f"{rule.label} score",
        height=400,
    )
    fig.update_yaxes(range=[low, high])
    fig.update_xaxes(tickvals=x, ticktext=["before" if v == 0 else str(v) for v in x])
    return fig


detail = qo.outcome_detail(f, cfg, condition, instrument)
left, right = st.columns(2)
with left:
    km = detail["time_to_response"]
    if km["suppressed"]:
        st.markdown("**Time to response (Kaplan–Meier)**")
        st.info(f"Time to response: {HIDDEN}.", icon=":material/visibility_off:")
    elif km["n"] == 0 or km["curve"].is_empty():
        empty.no_data("patients with a baseline and a later score")
    else:
        st.plotly_chart(km_figure(km), key="km")
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
        st.plotly_chart(trajectory_figure(traj), key="trajectory")
        st.caption(
            "Median and interquartile range of each patient's latest score at each session"
            + (f"; sessions with fewer than {K} patients are left out." if K > 0 else ".")
        )


# --- clinics compared -----------------------------------------------------------------------------
def funnel_figure(comp: pl.DataFrame, network: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    curve = network["curve"]
    if curve is not None:
        for col, dash, name in (
            ("upper998", "dot", "99.8% limits"),
            ("upper95", "dash", "95% limits"),
            ("lower95", "dash", None),
            ("lower998", "dot", None),
        ):
            fig.add_trace(
                go.Scatter(
                    x=curve["n"].to_list(),
                    y=curve[col].to_list(),
                    mode="lines",
                    name=name or col,
                    showlegend=name is not None,
                    legendgroup=dash,
                    hoverinfo="skip",
                    line={"color": charts.NETWORK_COLOR, "dash": dash, "width": 1.2},
                )
            )
    theta0 = network["response_rate"]
    n_max = comp["evaluable"].max() * 1.12
    fig.add_trace(  # a trace, not an annotation, so its label sits in the legend clear of the clinics
        go.Scatter(
            x=[0, n_max],
            y=[theta0, theta0],
            mode="lines",
            name=f"network {theta0:.0%}",
            line={"color": charts.NETWORK_COLOR, "width": 2},
            hoverinfo="skip",
        )
    )
    comp = comp.sort("evaluable")
    # labels alternate above/below the points so neighbouring clinics do not overwrite each other
    positions = ["top center" if i % 2 == 0 else "bottom center" for i in range(comp.height)]
    fig.add_trace(
        go.Scatter(
            x=comp["evaluable"].to_list(),
            y=comp["response_rate"].to_list(),
            mode="markers+text",
            text=comp["clinic_name"].to_list(),
            textposition=positions,
            textfont={"size": 11},
            marker={
                "size": 11,
                "color": [FLAG_COLORS.get(fl or "within") for fl in comp["flag"]],
                "line": {"width": 1, "color": "white"},
            },
            customdata=comp.select("responders", "flag").rows(),
            name="clinics",
            hovertemplate="%{text}: %{y:.0%} (%{customdata[0]}/%{x})<br>%{customdata[1]}<extra></extra>",
        )
    )
    charts.base_layout(
        fig, "Response rate by clinic: funnel plot", "evaluable patients", "response rate", height=420
    )
    # zoom on the clinics and the limits at the smallest clinic (the funnel's mouth is not informative)
    smallest = comp.row(0, named=True)
    lows = [smallest["lower998"], *comp["response_rate"].to_list()]
    highs = [smallest["upper998"], *comp["response_rate"].to_list()]
    y0 = max(0.0, min(v for v in lows if v is not None) - 0.08)
    y1 = min(1.0, max(v for v in highs if v is not None) + 0.08)
    fig.update_yaxes(tickformat=".0%", range=[y0, y1])
    fig.update_xaxes(range=[0, n_max])
    return fig


def caterpillar_figure(comp: pl.DataFrame, network: dict[str, Any]) -> go.Figure:
    comp = comp.sort("response_rate")
    fig = go.Figure(
        go.Scatter(
            x=comp["response_rate"].to_list(),
            y=comp["clinic_name"].to_list(),
            mode="markers",
            marker={"size": 10, "color": charts.ACCENT},
            error_x={
                "type": "data",
                "symmetric": False,
                "color": charts.ACCENT,
                "array": (comp["ci_high"] - comp["response_rate"]).to_list(),
                "arrayminus": (comp["response_rate"] - comp["ci_low"]).to_list(),
            },
            customdata=comp.select("responders", "evaluable").rows(),
            name="clinic",
            hovertemplate="%{y}: %{x:.0%} (%{customdata[0]}/%{customdata[1]})<extra></extra>",
        )
    )
    fig.add_vline(
        network["response_rate"],
        line={"color": charts.NETWORK_COLOR, "dash": "dash"},
        annotation_text=f"network {network['response_rate']:.0%}",
        annotation_position="top",
        annotation_font={"size": 11, "color": charts.NETWORK_COLOR},
    )
    charts.base_layout(
        fig,
        "Response rate by clinic with 95% CI",
        "response rate",
        "",
        height=max(300, 40 * comp.height + 120),
    )
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_yaxes(type="category")
    fig.update_layout(showlegend=False)
    return fig


st.subheader("Clinics compared on response")
comp, network = detail["clinics"], detail["network"]
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
        default="funnel",
        key="outcome_chart",
        required=True,
    )
    fig = funnel_figure(visible, network) if view == "funnel" else caterpillar_figure(visible, network)
    st.plotly_chart(fig, key=f"clinics_{view}")
    st.caption(
        f"Network response {network['response_rate']:.0%} "
        f"({network['responders']:,}/{network['evaluable']:,}). "
        "Funnel: exact binomial limits around the network rate (Spiegelhalter 2005); a clinic outside the "
        "99.8% limits differs by more than chance."
    )
if hidden_names:
    st.caption(
        f"Not shown, {HIDDEN}: {', '.join(hidden_names)}. When one clinic is hidden the next-smallest is "
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
