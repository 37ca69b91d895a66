"""Plotly figures of the Outcomes page (the page itself only lays them out)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from dashboard.components import charts
from dashboard.metrics.outcomes.time_to_response import AT_RISK_DAYS
from pipelines.model.outcome_rules import InstrumentRule

BAND_COLORS = ("#dcefe3", "#eef3d6", "#fbeecd", "#f8dcc5", "#f2c9c4")  # best → worst severity
MAX_LABELLED = 15  # clinics; above this the funnel names only the clinics outside the 99.8% limits
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


def km_figure(km: dict[str, Any], k: int) -> go.Figure:
    """Cumulative share responded with its band, numbers at risk underneath (under k shown as "<k")."""
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
    labels = [f"<{k}" if s else f"{n:,}" for n, s in zip(risk["at_risk"], risk["suppressed"], strict=True)]
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


def trajectory_figure(traj: pl.DataFrame, rule: InstrumentRule) -> go.Figure:
    """Median and IQR by session over the instrument's severity bands."""
    fig = go.Figure()
    low, high = rule.score_range
    # one layout update for all bands: add_hrect validates the whole layout per call (0.1 s each)
    shapes, notes = [], []
    for i, band in enumerate(rule.bands):
        shade = BAND_COLORS[round(i * (len(BAND_COLORS) - 1) / max(len(rule.bands) - 1, 1))]
        y0, y1 = max(low, band.low - 0.5), min(high, band.high + 0.5)
        shapes.append(
            {
                "type": "rect",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": y0,
                "y1": y1,
                "fillcolor": shade,
                "opacity": 0.8,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        notes.append(
            {
                "xref": "paper",
                "x": 1,
                "y": y1,
                "text": band.label,
                "showarrow": False,
                "xanchor": "right",
                "yanchor": "top",
                "font": {"size": 10, "color": "#5b6670"},
            }
        )
    fig.update_layout(shapes=shapes, annotations=notes)
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


def funnel_figure(comp: pl.DataFrame, network: dict[str, Any]) -> go.Figure:
    """Clinics' response rates against exact binomial limits around the network rate."""
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
    # labels alternate above/below the points so neighbouring clinics do not overwrite each other;
    # in a large network only clinics outside the 99.8% limits are named (1 in 20 clinics falls
    # outside the 95% limits by chance alone); hovering names every one
    named = [comp.height <= MAX_LABELLED or fl in ("above_998", "below_998") for fl in comp["flag"]]
    positions = ["top center" if i % 2 == 0 else "bottom center" for i in range(comp.height)]
    fig.add_trace(
        go.Scatter(
            x=comp["evaluable"].to_list(),
            y=comp["response_rate"].to_list(),
            mode="markers+text",
            text=[n if show else "" for n, show in zip(comp["clinic_name"], named, strict=True)],
            textposition=positions,
            textfont={"size": 11},
            marker={
                "size": 11 if comp.height <= MAX_LABELLED else 8,
                "color": [FLAG_COLORS.get(fl or "within") for fl in comp["flag"]],
                "line": {"width": 1, "color": "white"},
            },
            customdata=comp.select("clinic_name", "responders", "flag").rows(),
            name="clinics",
            hovertemplate="%{customdata[0]}: %{y:.0%} (%{customdata[1]}/%{x})<br>%{customdata[2]}"
            "<extra></extra>",
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
    """Clinics' response rates with Wilson 95% CIs, sorted, against the network rate."""
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
