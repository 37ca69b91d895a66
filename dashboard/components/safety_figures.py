"""Plotly figures of the Safety page: rate dot-and-whisker, clinic funnel plot, AE u-chart.

Builders take frames already computed by ``dashboard/metrics/safety.py`` and
only draw them; no figure is computed here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import plotly.graph_objects as go
import polars as pl

from dashboard.components import charts, spc_controls
from dashboard.metrics import safety

# Funnel flags: the chart's colours and the words used in hovers, tables and captions.
FLAG_LABELS = {
    "above_998": "above 99.8% limit",
    "above_95": "above 95% limit",
    "within": "within limits",
    "below_95": "below 95% limit",
    "below_998": "below 99.8% limit",
}
FLAG_COLORS = {
    "above_998": "#c0392b",
    "above_95": charts.SPC_COLORS["concern"],
    "within": "#7d8790",
    "below_95": charts.SPC_COLORS["improvement"],
    "below_998": "#154f80",
}

# Levels in their natural order (others are sorted by rate, highest first).
NATURAL_ORDER: dict[str, Sequence[str]] = {
    "severity_grade": [str(g) for g in range(1, 6)],
    "serious": ["serious", "not serious"],
    "action_taken": list(safety.ae_filter_options()["actions"]),
    "dose_band": list(safety.ae_filter_options()["dose_bands"]),
    "session_number": list(safety.ae_filter_options()["session_bands"]),
}


def order_levels(df: pl.DataFrame, dimension: str) -> pl.DataFrame:
    """Rows in reading order: the natural order of a dimension, else highest rate first."""
    natural = NATURAL_ORDER.get(dimension)
    if natural:
        rank = {v: i for i, v in enumerate(natural)}
        return df.sort(pl.col("level").replace_strict(rank, default=len(rank), return_dtype=pl.Int32))
    return df.sort("ae_per_100", "ae_count", descending=True, nulls_last=True)


def rate_dot_whisker(
    df: pl.DataFrame, *, title: str, level_title: str, network: float | None, label_of: dict[str, str]
) -> go.Figure:
    """One dot per level (AEs per 100 sessions) with its 95% CI as a whisker; network rate dashed."""
    rated = df.filter(pl.col("ae_per_100").is_not_null())
    labels = [label_of.get(v, v) for v in rated["label"].to_list()]
    rate = rated["ae_per_100"].to_list()
    fig = go.Figure(
        go.Scatter(
            x=rate,
            y=labels,
            mode="markers",
            marker={"color": charts.ACCENT, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [h - r for h, r in zip(rated["ci_high"], rate, strict=True)],
                "arrayminus": [r - lo for lo, r in zip(rated["ci_low"], rate, strict=True)],
                "color": charts.ACCENT,
                "thickness": 1.5,
                "width": 5,
            },
            customdata=list(
                zip(
                    rated["ae_count"],
                    rated["administered_sessions"],
                    rated["ci_low"],
                    rated["ci_high"],
                    strict=True,
                )
            ),
            hovertemplate=(
                "<b>%{y}</b><br>%{x:.2f} AEs per 100 sessions<br>95% CI %{customdata[2]:.2f}–"
                "%{customdata[3]:.2f}<br>%{customdata[0]:,} AEs in %{customdata[1]:,} sessions<extra></extra>"
            ),
            name="AEs per 100 sessions",
        )
    )
    x_title = "AEs per 100 administered sessions (dot) with 95% CI (whiskers)"
    if network is not None:
        x_title += f"; dashed line: all in scope, {network:.2f}"
    charts.base_layout(fig, title, x_title, level_title, height=max(240, 28 * len(labels) + 130))
    fig.update_layout(showlegend=False)
    # first level at the top, no padding rows (autorange left ~8 empty rows above 200 clinics)
    fig.update_yaxes(range=[len(labels) - 0.5, -0.5], type="category", automargin=True)
    fig.update_xaxes(rangemode="tozero")
    if len(labels) > 25:  # a long list: the scale where reading starts, and again at the end
        fig.update_xaxes(side="top", mirror="ticks", showline=True, ticks="outside")
        fig.update_layout(margin={"t": 110})
    if network is not None:
        fig.add_vline(network, line={"color": charts.NETWORK_COLOR, "dash": "dash", "width": 1.2})
    return fig


def funnel_figure(frame: pl.DataFrame, curve: pl.DataFrame, *, highlight: Collection[str]) -> go.Figure:
    """Clinics' AE rates against the network target with 95% and 99.8% funnels.

    ``highlight``: clinic ids ringed and named (the viewer's selection); clinics
    outside the limits are named too, so the outlier is named on the chart.
    """
    overdispersed = bool(frame["overdispersion"][0]) if frame.height else False
    tau2 = float(frame["tau2"][0]) if frame.height else 0.0
    fig = go.Figure()
    charts.add_funnel_limits(fig, curve)
    if frame.height:
        fig.add_hline(
            float(frame["target_per_100"][0]),
            line={"color": charts.NETWORK_COLOR, "width": 1.5},
            annotation_text=f"network target {frame['target_per_100'][0]:.2f}",
            annotation_position="top left",
            annotation_font={"size": 11, "color": charts.NETWORK_COLOR},
        )
    points = frame.filter(pl.col("ae_per_100").is_not_null())
    for flag, color in FLAG_COLORS.items():
        part = points.filter(pl.col("flag") == flag)
        if part.is_empty():
            continue
        named = [flag != "within" and c not in highlight for c in part["clinic_id"]]
        fig.add_trace(
            go.Scatter(
                x=part["administered_sessions"].to_list(),
                y=part["ae_per_100"].to_list(),
                mode="markers+text",
                text=[n if show else "" for n, show in zip(part["clinic_name"], named, strict=True)],
                textposition="bottom center" if flag.startswith("below") else "top center",
                textfont={"size": 11, "color": "#33404a"},
                marker={"color": color, "size": 10, "line": {"color": "white", "width": 1}},
                name=FLAG_LABELS[flag],
                customdata=_funnel_hover(part),
                hovertemplate=FUNNEL_HOVER,
            )
        )
    picked = points.filter(pl.col("clinic_id").is_in(list(highlight)))
    if picked.height:
        # a ring around each picked clinic, named, on top of its flag-coloured dot
        fig.add_trace(
            go.Scatter(
                x=picked["administered_sessions"].to_list(),
                y=picked["ae_per_100"].to_list(),
                mode="markers+text",
                text=picked["clinic_name"].to_list(),
                textposition="top center",
                textfont={"size": 12, "color": "#1b2730"},
                marker={"symbol": "circle-open", "size": 20, "color": "#1b2730", "line": {"width": 2}},
                name="your selection",
                customdata=_funnel_hover(picked),
                hovertemplate=FUNNEL_HOVER,
            )
        )
    limits = (
        f"over-dispersion adjusted limits (τ² = {tau2:.2g})"
        if overdispersed and tau2 > 0
        else "exact Poisson limits, no over-dispersion adjustment"
        + (" (switched on, but τ² = 0)" if overdispersed else "")
    )
    charts.base_layout(
        fig,
        f"Clinic AE rates against the network: {limits}",
        "administered sessions in the period",
        "AEs per 100 sessions",
        height=440,
    )
    if points.height:
        top = max(float(points["ae_per_100"].max() or 0), float(frame["target_per_100"][0]))
        fig.update_yaxes(range=[0, top * 1.35 + 1])
        fig.update_xaxes(range=[0, float(points["administered_sessions"].max()) * 1.08])
    fig.update_layout(title={"font": {"size": 14}})
    return fig


FUNNEL_HOVER = (
    "<b>%{customdata[0]}</b><br>%{customdata[1]:,} AEs in %{x:,} sessions "
    "(expected %{customdata[2]:.1f})<br>%{y:.2f} AEs per 100 sessions<br>%{customdata[3]}<extra></extra>"
)


def _funnel_hover(part: pl.DataFrame) -> list[tuple[object, ...]]:
    flags = [FLAG_LABELS.get(f, "") for f in part["flag"]]
    return list(zip(part["clinic_name"], part["ae_count"], part["expected"], flags, strict=True))


def u_chart_figure(
    df: pl.DataFrame, *, title: str, grain: str, network: pl.DataFrame | None = None
) -> go.Figure:
    """u-chart of AEs per 100 sessions: SPC colours, the baseline and the period shaded, and the
    network's rate per point (``queries.ae_rate_per_period``) on a chart of part of the network."""
    fig = spc_controls.control_chart_figure(
        df,
        title=title,
        grain=grain,
        y_title="AEs per 100 sessions",
        counted="AEs in",
        percent=False,
        network=network,
    )
    if df.height and bool(df["trial"].any()):
        fig.update_traces(selector={"name": "upper limit (3σ)"}, name="upper limit (3σ, trial)")
        fig.update_traces(selector={"name": "lower limit (3σ)"}, name="lower limit (3σ, trial)")
    fig.update_yaxes(rangemode="tozero")
    return fig
