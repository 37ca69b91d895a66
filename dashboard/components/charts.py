"""Plotly figure builders with one calm palette and readable defaults.

Every chart gets a title, axis titles with units, a fixed height and hover
labels; callers pass already-aggregated frames (aggregation happens in the
metric functions, never here), so figures stay small and never overplot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl

# Muted, colour-blind-friendly categorical palette (same as .streamlit/config.toml).
PALETTE = (
    "#2a7f8e",
    "#7fa7c9",
    "#9bb89a",
    "#c9a66b",
    "#8e8ab5",
    "#b5838d",
    "#5f8f74",
    "#a3a380",
    "#6b7f99",
    "#d4a5a5",
)
NETWORK_COLOR = "#6b7f99"
ACCENT = "#2a7f8e"
# SPC point colours (metrics.md, NHS "Making Data Count"):
# grey common cause, orange concern, blue improvement.
SPC_COLORS = {"common": "#a0a7ae", "concern": "#e8871e", "improvement": "#1f6fb2"}
# Traffic lights for the league table.
LIGHTS = {"green": "🟢", "amber": "🟠", "red": "🔴", "grey": "⚪"}
SEQUENTIAL = ((0.0, "#f2f6f7"), (0.5, "#8cc2c9"), (1.0, "#1f5f6b"))

HEIGHT = 340


def base_layout(fig: go.Figure, title: str, x_title: str, y_title: str, *, height: int = HEIGHT) -> go.Figure:
    """The house layout. Set property by property: ``update_layout`` on a figure that already
    has traces runs Plotly's relayout machinery, ~10× the cost (a tenth of a cached page view)."""
    layout = fig.layout
    layout.title = {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}}
    layout.xaxis.title.text = x_title
    layout.yaxis.title.text = y_title
    layout.height = height
    layout.margin = {"l": 10, "r": 10, "t": 48, "b": 10}
    # below the x-axis title, growing downwards (plotly widens the bottom margin to fit)
    layout.legend = {"orientation": "h", "yanchor": "top", "y": -0.28, "x": 0}
    layout.hovermode = "closest"
    layout.colorway = PALETTE
    return fig


def line_chart(
    df: pl.DataFrame,
    *,
    x: str,
    y: str,
    series: str | None,
    title: str,
    x_title: str,
    y_title: str,
    y_format: str = ",.0f",
    percent: bool = False,
) -> go.Figure:
    """One line per value of ``series`` (or a single line); ``percent`` formats fractions as %."""
    fig = go.Figure()
    groups = [(None, df)] if series is None else _groups(df, series)
    hover_fmt = ".1%" if percent else y_format
    for i, (name, part) in enumerate(groups):
        part = part.sort(x)
        fig.add_trace(
            go.Scatter(
                x=part[x].to_list(),
                y=part[y].to_list(),
                mode="lines+markers" if part.height <= 40 else "lines",
                name=str(name) if name is not None else y_title,
                line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                marker={"size": 5},
                hovertemplate=f"%{{x}}<br>{y_title}: %{{y:{hover_fmt}}}<extra>{name or ''}</extra>",
            )
        )
    base_layout(fig, title, x_title, y_title)
    if percent:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    else:
        fig.update_yaxes(rangemode="tozero")
    fig.update_layout(showlegend=series is not None)
    if series is not None and df.schema.get(x, pl.Null).is_temporal():
        # date ticks take two lines (day, then the year under the first): the legend goes lower
        # than base_layout's, or its first row overlaps the x-axis title. Its offset is a share of
        # the plot's height, which the legend's own rows take from: each row of ~3 names makes
        # the figure taller, so the plot keeps its height and the gap its ~90 px.
        fig.layout.legend.y = -0.42
        fig.layout.height = HEIGHT + 22 * math.ceil(len(groups) / 3)
    return fig


def bar_chart(
    df: pl.DataFrame,
    *,
    x: str,
    y: str,
    title: str,
    x_title: str,
    y_title: str,
    color: str | None = None,
    horizontal: bool = False,
    percent: bool = False,
    stack: bool = True,
    reference: float | None = None,
    reference_label: str = "",
    integer: bool = False,
) -> go.Figure:
    """Bars of an aggregated frame; ``color`` splits into stacked (or grouped) series."""
    fig = go.Figure()
    groups = [(None, df)] if color is None else _groups(df, color)
    fmt = ".1%" if percent else ",.0f"
    for i, (name, part) in enumerate(groups):
        xs, ys = part[x].to_list(), part[y].to_list()
        fig.add_trace(
            go.Bar(
                x=ys if horizontal else xs,
                y=xs if horizontal else ys,
                orientation="h" if horizontal else "v",
                name=str(name) if name is not None else y_title,
                marker_color=PALETTE[i % len(PALETTE)],
                hovertemplate=(
                    f"%{{y}}: %{{x:{fmt}}}<extra>{name or ''}</extra>"
                    if horizontal
                    else f"%{{x}}: %{{y:{fmt}}}<extra>{name or ''}</extra>"
                ),
            )
        )
    base_layout(
        fig, title, x_title, y_title, height=max(HEIGHT, 28 * df.height + 90) if horizontal else HEIGHT
    )
    fig.update_layout(barmode="stack" if stack else "group", showlegend=color is not None)
    value_axis = fig.update_xaxes if horizontal else fig.update_yaxes
    if percent:
        value_axis(tickformat=".0%")
    if integer and df.height:
        top = float(df[y].max() or 0)
        value_axis(tick0=0, dtick=max(1, math.ceil(top / 6)), tickformat=",d")
    if horizontal:
        fig.update_yaxes(autorange="reversed", type="category")
    if reference is not None:
        add = fig.add_vline if horizontal else fig.add_hline
        add(
            reference,
            line={"color": NETWORK_COLOR, "dash": "dash"},
            annotation_text=reference_label,
            annotation_position="bottom right" if horizontal else "top left",
            annotation_font={"size": 11, "color": NETWORK_COLOR},
        )
    return fig


def heatmap(
    z: list[list[float]],
    *,
    x: Sequence[object],
    y: Sequence[object],
    title: str,
    x_title: str,
    y_title: str,
    value_label: str,
) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(x),
            y=list(y),
            colorscale=[list(s) for s in SEQUENTIAL],
            colorbar={"title": {"text": value_label}},
            hovertemplate=f"%{{y}} %{{x}}:00<br>{value_label}: %{{z:,.1f}}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    base_layout(fig, title, x_title, y_title)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(dtick=1)
    return fig


def funnel_steps(labels: Sequence[str], values: Sequence[float], *, title: str) -> go.Figure:
    """Induction funnel: patients remaining at each step, with % of the first step."""
    fig = go.Figure(
        go.Funnel(
            y=list(labels),
            x=list(values),
            # whole patients with thousands separators: the default SI format showed "102.544k"
            texttemplate="%{value:,}<br>%{percentInitial:.0%}",
            marker={"color": [PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[3]][: len(values)]},
            connector={"line": {"color": "#dfe6ea"}},
        )
    )
    base_layout(fig, title, "patients", "")
    fig.update_layout(showlegend=False)
    return fig


def spc_chart(
    df: pl.DataFrame,
    *,
    x: str,
    value: str,
    centre: str,
    lower: str,
    upper: str,
    signal: str,
    title: str,
    x_title: str,
    y_title: str,
    percent: bool = True,
    rule: str | None = None,
) -> go.Figure:
    """Control chart: centre line, step limits, points coloured common / concern / improvement."""
    df = df.sort(x)
    xs = df[x].to_list()
    fig = go.Figure()
    for col, name, dash in ((upper, "upper limit (3σ)", "dot"), (lower, "lower limit (3σ)", "dot")):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=df[col].to_list(),
                mode="lines",
                line={"color": "#9aa5b1", "dash": dash, "width": 1, "shape": "hv"},
                name=name,
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=df[centre].to_list(),
            mode="lines",
            line={"color": "#5b6670", "width": 1.5, "shape": "hv"},
            name="centre line",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=df[value].to_list(),
            mode="lines",
            line={"color": "#c3c9ce", "width": 1},
            showlegend=False,
            hoverinfo="skip",
        )
    )
    fmt = ".1%" if percent else ".2f"
    signals = df[signal].to_list()
    custom = df[rule].to_list() if rule and rule in df.columns else ["" for _ in xs]
    for kind, color in SPC_COLORS.items():
        idx = [i for i, s in enumerate(signals) if (s or "common") == kind]
        if not idx:
            continue
        fig.add_trace(
            go.Scatter(
                x=[xs[i] for i in idx],
                y=[df[value][i] for i in idx],
                mode="markers",
                marker={"color": color, "size": 8 if kind == "common" else 10, "line": {"width": 0}},
                name={"common": "common cause", "concern": "special cause: concern"}.get(
                    kind, "special cause: improvement"
                ),
                customdata=[custom[i] or "" for i in idx],
                hovertemplate=f"%{{x}}<br>{y_title}: %{{y:{fmt}}}<br>%{{customdata}}<extra></extra>",
            )
        )
    base_layout(fig, title, x_title, y_title, height=360)
    if percent:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


def _groups(df: pl.DataFrame, column: str) -> list[tuple[object, pl.DataFrame]]:
    keys = df[column].unique(maintain_order=True).sort().to_list()
    return [(k, df.filter(pl.col(column) == k)) for k in keys]


def add_funnel_limits(fig: go.Figure, curve: pl.DataFrame) -> None:
    """The 95% and 99.8% funnel limits of ``curve`` (``n`` and the ``lower``/``upper`` columns of
    ``stats.funnel``), drawn the same on every funnel plot."""
    ns = curve["n"].to_list()
    for lo, hi, name, dash in (
        ("lower998", "upper998", "99.8% limits", "dot"),
        ("lower95", "upper95", "95% limits", "dash"),
    ):
        for i, col in enumerate((hi, lo)):
            fig.add_trace(
                go.Scatter(
                    x=ns,
                    y=curve[col].to_list(),
                    mode="lines",
                    line={"color": "#5b6670" if "998" in col else "#9aa5b1", "dash": dash, "width": 1.3},
                    name=name,
                    legendgroup=name,
                    showlegend=i == 0,
                    hoverinfo="skip",
                )
            )
