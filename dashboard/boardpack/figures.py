"""The board pack's charts: the pages' own Plotly builders, fed the board pack's figures."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from dashboard.boardpack.content import BoardPackData
from dashboard.components import charts, spc_controls
from dashboard.components import safety_figures as sf
from dashboard.metrics.control_charts import SpcOptions

# Printed at A4 width: figures are laid out at this size in CSS pixels and scaled by the browser.
WIDTH, HEIGHT = 900, 380


def utilisation_figure(data: BoardPackData) -> go.Figure | None:
    """The Throughput page's "Chair utilisation by clinic" bar chart for the month."""
    report = data.reports["month"]
    df = (
        pl.DataFrame(report["clinics"], infer_schema_length=None)
        .filter(pl.col("chair_utilisation").is_not_null())
        .sort("chair_utilisation", descending=True)
        if report["clinics"]
        else pl.DataFrame()
    )
    if df.is_empty():
        return None
    network = report["network"]["chair_utilisation"]
    return charts.bar_chart(
        df,
        x="clinic_name",
        y="chair_utilisation",
        title="Chair utilisation by clinic",
        x_title="% of open chair time used (Mon–Sat)",
        y_title="",
        horizontal=True,
        percent=True,
        reference=network,
        reference_label=f"all in scope {network:.0%}" if network is not None else "",
    )


def funnel_figure(data: BoardPackData) -> go.Figure | None:
    """The Safety page's funnel plot of the month (clinics outside the limits are named)."""
    if data.funnel.filter(pl.col("administered_sessions") > 0).is_empty():
        return None
    return sf.funnel_figure(data.funnel, data.funnel_curve, highlight=())


def u_chart_figure(data: BoardPackData) -> go.Figure | None:
    """The Safety page's AE u-chart, monthly over the 13 months ending with the board pack's month."""
    if data.u_chart.is_empty():
        return None
    title = spc_controls.chart_title(
        data.u_chart, "u", "AEs per 100 administered sessions per month", "month", SpcOptions()
    )
    return sf.u_chart_figure(data.u_chart, title=title, grain="month")


def board_figures(data: BoardPackData) -> dict[str, go.Figure | None]:
    """Every chart of the pack by name; None where there is nothing to draw."""
    return {
        "utilisation": utilisation_figure(data),
        "funnel": funnel_figure(data),
        "u_chart": u_chart_figure(data),
    }
