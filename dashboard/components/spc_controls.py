"""The SPC controls every control chart shares (Laney or plain limits, the baseline) and their labels.

Both controls live in the URL (``?spc_laney=false``, ``?spc_baseline=2025-03-03&spc_baseline=2025-05-25``)
with the same keys on the Safety, Throughput and Clinic pages, so a link shows the same limits
everywhere. The chart's title says which chart and baseline are in use; the period is shaded.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.components import charts, url_state
from dashboard.metrics.control_charts import CHART_SPAN, SpcOptions

PERIOD_FILL = "rgba(47, 128, 237, 0.07)"
NETWORK_COLOR = "#7b4fa0"  # a hue no SPC point or limit uses
NETWORK_LABEL = "network"
BASELINE_FILL = "rgba(91, 102, 112, 0.10)"


def spc_controls(where: Any = st) -> SpcOptions:
    """Render the toggle and the baseline picker (in ``where``) and return the viewer's choice.

    The baseline can be any range of the data's dates, before the chart's window too.
    """
    last = queries.data_last_date() or date.today()
    first = queries.first_session_date() or last
    left, right = where.columns([1, 2])
    laney = left.toggle(
        "Laney limits (large denominators)",
        key=url_state.flag("spc_laney", True),
        help="With thousands of sessions per point the plain limits are so narrow that nearly every point "
        "signals. Laney's u′/p′ widens them by the point-to-point variation seen in the baseline. "
        "Switch off for the plain u-/p-chart.",
    )
    picked = right.date_input(
        "Baseline for the limits (optional)",
        min_value=first,
        max_value=last,
        key=url_state.dates("spc_baseline", (), first, last),
        format="YYYY-MM-DD",
        help="By default the limits come from the chart's first 12 points. Pick a date range before a "
        "known change of practice to take them from there instead; clear it to go back.",
    )
    days = tuple(picked) if isinstance(picked, (tuple, list)) else ()
    baseline = (days[0], days[1]) if len(days) == 2 else None
    return SpcOptions(laney=bool(laney), baseline=baseline)


def last_options() -> SpcOptions:
    """The controls' values as this session last held them (defaults before they are drawn): what a
    page reads ahead (``queries.prefetch``) before the controls further down the page are drawn."""
    days = st.session_state.get("spc_baseline") or ()
    baseline = (days[0], days[1]) if isinstance(days, (tuple, list)) and len(days) == 2 else None
    return SpcOptions(laney=bool(st.session_state.get("spc_laney", True)), baseline=baseline)


def chart_name(chart: pl.DataFrame, kind: str) -> str:
    """``Laney u′-chart`` / ``u-chart`` (``kind`` "u" or "p"), as the frame was computed."""
    laney = chart.height > 0 and bool(chart["laney"][0])
    return f"Laney {kind}′-chart" if laney else f"{kind}-chart"


def baseline_label(chart: pl.DataFrame, grain: str, options: SpcOptions) -> str:
    """Which points the limits come from, in words, with ``trial`` when they are too few."""
    if chart.is_empty():
        return ""
    first, last, points = chart["baseline_start"][0], chart["baseline_end"][0], chart["baseline_points"][0]
    unit = grain if points == 1 else f"{grain}s"
    span = f"{first:%d %b %Y} – {last:%d %b %Y}"
    if bool(chart["baseline_picked"][0]):
        text = f"limits from the picked baseline, {points} {unit} ({span})"
    else:
        text = f"limits from the first {points} {unit} ({span})"
        if options.baseline is not None:
            text += "; the picked baseline holds no point"
    return text + (", trial limits" if bool(chart["trial"][0]) else "")


def chart_title(chart: pl.DataFrame, kind: str, subject: str, grain: str, options: SpcOptions) -> str:
    """The title every control chart carries: what it shows, which chart and which baseline."""
    return f"{subject}<br><sup>{chart_name(chart, kind)}, {baseline_label(chart, grain, options)}</sup>"


def mark_period_and_baseline(fig: go.Figure, chart: pl.DataFrame, grain: str) -> go.Figure:
    """Shade the period's points and the baseline's on a chart whose x is each point's first day."""
    half = timedelta(days=3.5 if grain == "week" else 15)
    for column, fill, label, anchor in (
        ("in_baseline", BASELINE_FILL, "baseline", "left"),
        ("in_period", PERIOD_FILL, "period", "right"),
    ):
        days = chart.filter(pl.col(column))["period"] if column in chart.columns else pl.Series([])
        if days.is_empty():
            continue
        x0, x1 = days.min() - half, days.max() + half
        fig.add_vrect(x0=x0, x1=x1, fillcolor=fill, line_width=0, layer="below")
        fig.add_annotation(
            x=x0 if anchor == "left" else x1,
            y=1,
            yref="paper",
            text=label,
            showarrow=False,
            xanchor=anchor,
            yanchor="bottom",
            font={"size": 11, "color": "#5b6670"},
        )
    fig.update_layout(margin={"t": 76})  # the two-line title above the bands' labels
    return fig


def add_network_line(
    fig: go.Figure, network: pl.DataFrame, *, y_title: str, counted: str, percent: bool = True
) -> go.Figure:
    """The network's rate in each of the chart's points (``period``, ``value``, ``count``, ``n``) as a
    dashed line named "network": a clinic's limits come from its own baseline, so a clinic high
    against the network can look in control on its own chart; the line shows where the network was.
    """
    if network.is_empty():
        return fig
    network = network.filter(pl.col("value").is_not_null()).sort("period")
    fmt = ".1%" if percent else ".2f"
    fig.add_trace(
        go.Scatter(
            x=network["period"].to_list(),
            y=network["value"].to_list(),
            mode="lines",
            line={"color": NETWORK_COLOR, "dash": "dash", "width": 2},
            name=NETWORK_LABEL,
            customdata=list(zip(network["count"].to_list(), network["n"].to_list(), strict=True)),
            hovertemplate=f"%{{x}}<br>network {y_title}: %{{y:{fmt}}}<br>"
            f"%{{customdata[0]:,}} {counted} %{{customdata[1]:,}} sessions<extra></extra>",
        )
    )
    return fig


def span_caption(grain: str) -> str:
    """How far back a chart reaches, for captions."""
    return f"at least {CHART_SPAN[grain]} {grain}s ending at the period's end"


def control_chart_figure(
    df: pl.DataFrame,
    *,
    title: str,
    grain: str,
    y_title: str,
    counted: str,
    percent: bool = True,
    network: pl.DataFrame | None = None,
) -> go.Figure:
    """A u- or p′-chart of ``metrics.control_charts`` output: SPC colours, each point's rule and
    counts on hover ("3 {counted} 120 sessions"), the baseline and the period shaded, and the
    network's rate per point when ``network`` is given (``add_network_line``)."""
    notes = df.with_columns(
        note=pl.concat_str(
            pl.when(pl.col("rule").is_not_null())
            .then(pl.concat_str(pl.lit("special cause: "), pl.col("rule").str.replace_all("_", " ")))
            .otherwise(pl.lit("common cause")),
            pl.lit("<br>"),
            pl.col("count").cast(pl.String),
            pl.lit(f" {counted} "),
            pl.col("n").cast(pl.String),
            pl.lit(" sessions"),
        )
    )
    fig = charts.spc_chart(
        notes,
        x="period",
        value="value",
        centre="centre",
        lower="lcl",
        upper="ucl",
        signal="category",
        rule="note",
        title=title,
        x_title=f"{grain} starting",
        y_title=y_title,
        percent=percent,
    )
    if network is not None:
        add_network_line(fig, network, y_title=y_title, counted=counted, percent=percent)
    mark_period_and_baseline(fig, df, grain)
    return fig
