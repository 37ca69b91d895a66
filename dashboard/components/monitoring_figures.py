"""Plotly figures of the Monitoring page: compliance funnel, p′-chart, vitals timeline, sedation by dose.

Builders draw frames computed by ``dashboard/metrics/monitoring.py``; nothing is computed here.
Every value from an export is drawn as text (hover and labels), never as markup.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from dashboard.components import charts, spc_controls
from dashboard.components.safety_figures import FLAG_COLORS, FLAG_LABELS
from pipelines.model.config import MetricConfig

ROUTE_COLORS = {"iv": charts.PALETTE[0], "im": charts.PALETTE[3], "intranasal": charts.PALETTE[4]}


def funnel_figure(
    frame: pl.DataFrame,
    curve: pl.DataFrame,
    *,
    title: str,
    unit: str,
    highlight: Collection[str] = (),
    names: dict[str, str] | None = None,
    higher_is_better: bool = False,
) -> go.Figure:
    """Units' shares against the target with binomial 95% and 99.8% limits; flagged units named.

    Colours follow the better direction: for a measure where higher is better, above the limits
    is blue (improvement) and below is red (concern), the reverse of the AE funnel.

    ``names`` maps a level to the name shown; a unit not in it (another clinic outside the
    viewer's picks) is drawn anonymously.
    """
    names = names or {}
    fig = go.Figure()
    charts.add_funnel_limits(fig, curve)
    if frame.height:
        target = float(frame["target"][0])
        fig.add_hline(
            target,
            line={"color": charts.NETWORK_COLOR, "width": 1.5},
            annotation_text=f"target {target:.1%}",
            annotation_position="top left",
            annotation_font={"size": 11, "color": charts.NETWORK_COLOR},
        )
    points = frame.filter(pl.col("rate").is_not_null())
    mirrored = {
        "above_998": "below_998",
        "above_95": "below_95",
        "below_95": "above_95",
        "below_998": "above_998",
    }
    colors = {f: FLAG_COLORS[mirrored.get(f, f) if higher_is_better else f] for f in FLAG_COLORS}
    for flag, color in {**colors, None: FLAG_COLORS["within"]}.items():
        part = points.filter(pl.col("flag").is_null() if flag is None else pl.col("flag") == flag)
        if part.is_empty():
            continue
        shown = [names.get(v, "") for v in part["level"]]
        # only clinics on the worse side are named: near 100% the better side crowds the top
        concern = {"below_95", "below_998"} if higher_is_better else {"above_95", "above_998"}
        labelled = [
            n if (flag in concern or v in highlight) else ""
            for n, v in zip(shown, part["level"], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=part["administered_sessions"].to_list(),
                y=part["rate"].to_list(),
                mode="markers+text",
                text=labelled,
                textposition="top center",
                textfont={"size": 11, "color": "#33404a"},
                marker={
                    "color": color,
                    "size": [14 if v in highlight else 10 for v in part["level"]],
                    "line": {"color": "white", "width": 1},
                },
                name=FLAG_LABELS.get(flag or "", "no funnel (fewer than 3)"),
                customdata=[
                    (n or "another clinic", int(k), FLAG_LABELS.get(fl or "", "–"))
                    for n, k, fl in zip(shown, part["count"], part["flag"], strict=True)
                ],
                hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]:,} of %{x:,} sessions "
                f"{unit}<br>%{{y:.1%}}<br>%{{customdata[2]}}<extra></extra>",
            )
        )
    charts.base_layout(fig, title, "administered sessions in the period", "share of sessions", height=420)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    if points.height:
        fig.update_xaxes(range=[0, float(points["administered_sessions"].max()) * 1.08])
    return fig


def p_chart_figure(df: pl.DataFrame, *, title: str, grain: str, y_title: str) -> go.Figure:
    """p′-chart of a share: SPC colours, the baseline and the period shaded."""
    return spc_controls.control_chart_figure(df, title=title, grain=grain, y_title=y_title, counted="of")


def vitals_timeline_figure(timeline: dict[str, Any], cfg: MetricConfig) -> go.Figure:
    """BP, HR (top) and SpO₂ (bottom) against minutes from the session's start, with the thresholds."""
    session, readings = timeline["session"], timeline["readings"]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    minutes = readings["minute"].to_list()
    hover = [f"{tp} · {t:%H:%M}" for tp, t in zip(readings["timepoint"], readings["taken_at"], strict=True)]
    for col, name, color, row in (
        ("bp_sys", "BP systolic", "#c0392b", 1),
        ("bp_dia", "BP diastolic", "#e8871e", 1),
        ("hr", "heart rate", charts.PALETTE[4], 1),
        ("spo2", "SpO₂", charts.PALETTE[0], 2),
    ):
        fig.add_trace(
            go.Scatter(
                x=minutes,
                y=readings[col].to_list(),
                mode="lines+markers",
                name=name,
                line={"color": color, "width": 1.6},
                marker={"size": 8},
                customdata=hover,
                hovertemplate=f"{name}: %{{y}}<br>%{{x:.0f}} min · %{{customdata}}<extra></extra>",
                connectgaps=True,
            ),
            row=row,
            col=1,
        )
    for value, text, color, row in (
        (cfg.bp_sys_max, f"systolic excursion {cfg.bp_sys_max}", "#c0392b", 1),
        (cfg.bp_dia_max, f"diastolic excursion {cfg.bp_dia_max}", "#e8871e", 1),
        (cfg.hr_max, f"HR excursion {cfg.hr_max}", charts.PALETTE[4], 1),
        (cfg.pre_dose_bp_sys, f"pre-dose limit {cfg.pre_dose_bp_sys}/{cfg.pre_dose_bp_dia}", "#7d8790", 1),
        (cfg.spo2_min, f"SpO₂ {cfg.spo2_min}%", charts.PALETTE[0], 2),
    ):
        fig.add_hline(
            value,
            line={"color": color, "dash": "dot", "width": 1},
            annotation_text=text,
            annotation_position="top left",
            annotation_font={"size": 10, "color": color},
            row=row,
            col=1,
        )
    lo, hi = cfg.peak_check_from_min, cfg.peak_check_to_min
    fig.add_vrect(
        x0=lo, x1=hi, fillcolor="rgba(47, 128, 237, 0.08)", line_width=0, layer="below", row=1, col=1
    )
    fig.add_vline(0, line={"color": "#5b6670", "width": 1})
    end = (session.get("duration_min") or 0) + (session.get("recovery_min") or 0)
    if end:
        fig.add_vline(end, line={"color": "#5b6670", "width": 1, "dash": "dash"})
    charts.base_layout(
        fig,
        f"Vitals of session {session['session_id']}: minutes from the start "
        f"(shaded: {lo}–{hi} min; dashed: end of recovery)",
        "",
        "",
        height=460,
    )
    fig.update_xaxes(title_text="minutes from the session's start", row=2, col=1)
    fig.update_yaxes(title_text="mmHg / bpm", row=1, col=1)
    fig.update_yaxes(title_text="SpO₂ %", range=[80, 101], row=2, col=1)
    return fig


def sedation_figure(frame: pl.DataFrame) -> go.Figure:
    """Mean CADSS (left) and the share with MOAA/S at or below the limit (right) by dose band, per route."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("mean CADSS (95% CI)", "MOAA/S ≤ limit (95% CI)"))
    for route, part in frame.group_by("route", maintain_order=True):
        name = str(route[0])
        color = ROUTE_COLORS.get(name, charts.NETWORK_COLOR)
        for col, (value, lo, hi, n) in enumerate(
            (
                ("mean_cadss", "mean_cadss_ci_low", "mean_cadss_ci_high", "cadss_scored"),
                ("deep_sedation_rate", "deep_sedation_ci_low", "deep_sedation_ci_high", "moaas_scored"),
            ),
            start=1,
        ):
            shown = part.filter(pl.col(value).is_not_null())
            y = shown[value].to_list()
            fig.add_trace(
                go.Scatter(
                    x=shown["dose_band"].to_list(),
                    y=y,
                    mode="markers",
                    name=name.upper() if len(name) <= 3 else name.capitalize(),
                    legendgroup=name,
                    showlegend=col == 1,
                    marker={"color": color, "size": 10},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [(h if h is not None else v) - v for h, v in zip(shown[hi], y, strict=True)],
                        "arrayminus": [
                            v - (lo_ if lo_ is not None else v) for lo_, v in zip(shown[lo], y, strict=True)
                        ],
                        "color": color,
                    },
                    customdata=shown[n].to_list(),
                    hovertemplate="%{x}: %{y:.2f}<br>%{customdata:,} sessions scored<extra></extra>",
                ),
                row=1,
                col=col,
            )
    charts.base_layout(fig, "Dissociation and sedation by dose band (mg/kg) and route", "", "", height=380)
    fig.update_yaxes(tickformat=".0%", row=1, col=2, rangemode="tozero")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    return fig
