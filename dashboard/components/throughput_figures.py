"""Throughput figures, shared by the Throughput page (scope) and the Clinic page (clinic beside network).

Each function fetches its already-aggregated data through ``dashboard.queries``
and renders one chart; only reshaping for display happens here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.components import charts, empty, spc_controls, url_state
from dashboard.components.filters import label
from dashboard.components.safe_text import show_figure
from dashboard.metrics.control_charts import SpcOptions
from dashboard.metrics.filters import Filters
from pipelines.model.config import MetricConfig

GRAINS = {"day": "Day", "week": "Week", "month": "Month"}
MAX_CLINIC_LINES = 12  # more lines than this in one chart cannot be told apart


def grain_control(where: Any = st) -> str:
    """The "Time step" picker, kept in the URL (``?grain=``) and shared by Throughput and Clinic."""
    return where.segmented_control(
        "Time step",
        list(GRAINS),
        format_func=GRAINS.__getitem__,
        key=url_state.choice("grain", list(GRAINS), "week", GRAINS.__getitem__),
        required=True,
    )


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_SIGNAL_CLINICS = 30  # per-clinic p-chart scan: beyond this, narrow the clinic filter first


def complete_periods(df: pl.DataFrame, f: Filters, grain: str, col: str = "period_start") -> pl.DataFrame:
    """Leave out weeks/months the period cuts at either end: a partial bucket looks like a sudden drop.

    Keeps everything when no bucket is complete (a short period at a coarse grain).
    """
    if grain == "day" or df.is_empty():
        return df
    end = pl.col(col).dt.offset_by("6d") if grain == "week" else pl.col(col).dt.month_end()
    whole = df.filter((pl.col(col) >= f.start) & (end <= f.end))
    return whole if whole.height else df


def _unit(grain: str) -> str:
    return {"day": "per day", "week": "per week", "month": "per month"}[grain]


def sessions_over_time(
    f: Filters,
    grain: str,
    by: str | None,
    *,
    key: str,
    title: str | None = None,
    data: pl.DataFrame | None = None,
) -> None:
    """``data``: ``queries.sessions_over_time``'s frame when the caller fetched it (with a clinic's)."""
    df = complete_periods(data if data is not None else queries.sessions_over_time(f, grain, by), f, grain)
    if df.is_empty() or df["administered_sessions"].sum() == 0:
        empty.no_data("administered sessions")
        return
    fig = charts.line_chart(
        df,
        x="period_start",
        y="administered_sessions",
        series="label" if by else None,
        title=title or f"Administered sessions {_unit(grain)}",
        x_title=f"{GRAINS[grain]} starting",
        y_title=f"sessions {_unit(grain)}",
    )
    show_figure(fig, key=key)


def weekday_hour_heatmap(
    f: Filters, *, key: str, title: str = "Chair load by weekday and hour", data: pl.DataFrame | None = None
) -> None:
    df = data if data is not None else queries.weekday_hour_load(f)
    if df.is_empty() or df["avg_chairs_in_use"].sum() == 0:
        empty.no_data("administered sessions")
        return
    busy = df.filter(pl.col("avg_chairs_in_use") > 0)
    hours = list(range(int(busy["hour"].min()), int(busy["hour"].max()) + 1))
    days = sorted(busy["weekday"].unique().to_list())
    grid = df.filter(pl.col("hour").is_in(hours) & pl.col("weekday").is_in(days)).sort("weekday", "hour")
    z = [grid.filter(pl.col("weekday") == d)["avg_chairs_in_use"].to_list() for d in days]
    chairs = int(df["chairs_in_scope"].max() or 0)
    fig = charts.heatmap(
        z,
        x=hours,
        y=[WEEKDAYS[d - 1] for d in days],
        title=f"{title} (of {chairs} chairs)",
        x_title="hour of day (clinic-local)",
        y_title="",
        value_label="chairs in use (avg)",
    )
    show_figure(fig, key=key)


def _highlight_colors(ids: list[str], highlight: str | None) -> list[str] | None:
    if highlight is None:
        return None
    return [charts.ACCENT if i == highlight else "#c3ccd3" for i in ids]


def utilisation_by_clinic(
    f: Filters,
    cfg: MetricConfig,
    network: float | None,
    *,
    key: str,
    highlight: str | None = None,
    network_label: str = "all in scope",
) -> None:
    df = queries.throughput_by_clinic(f, cfg, active_patients=False).filter(
        pl.col("chair_minutes_available") > 0
    )
    if df.is_empty():
        empty.no_data("open clinics")
        return
    df = df.sort("chair_utilisation", descending=True, nulls_last=True)
    fig = charts.bar_chart(
        df,
        x="clinic_name",
        y="chair_utilisation",
        title="Chair utilisation by clinic",
        x_title="% of open chair time used (Mon–Sat)",
        y_title="",
        horizontal=True,
        percent=True,
        reference=network,
        reference_label=f"{network_label} {network:.0%}" if network is not None else "",
    )
    colors = _highlight_colors(df["clinic_id"].to_list(), highlight)
    if colors:
        fig.update_traces(marker_color=colors)
    show_figure(fig, key=key)


def no_show_cancellation_by_clinic(
    f: Filters, cfg: MetricConfig, *, key: str, highlight: str | None = None
) -> None:
    df = queries.throughput_by_clinic(f, cfg, active_patients=False).filter(pl.col("scheduled_sessions") > 0)
    if df.is_empty():
        empty.no_data("scheduled sessions")
        return
    df = df.sort("no_show_rate", descending=True, nulls_last=True)
    names = df["clinic_name"].to_list()
    fig = go.Figure()
    for col, what, color in (
        ("no_show_rate", "no-show", charts.SPC_COLORS["concern"]),
        ("cancellation_rate", "cancelled", charts.PALETTE[1]),
    ):
        fig.add_trace(
            go.Bar(
                y=names,
                x=df[col].to_list(),
                orientation="h",
                name=what,
                marker_color=color,
                marker_opacity=[1.0 if highlight in (None, c) else 0.35 for c in df["clinic_id"]],
                hovertemplate=f"%{{y}}: %{{x:.1%}} {what}<extra></extra>",
            )
        )
    charts.base_layout(
        fig,
        "No-show and cancellation rates by clinic",
        "share of scheduled sessions",
        "",
        height=max(charts.HEIGHT, 34 * df.height + 110),
    )
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(autorange="reversed", type="category")
    show_figure(fig, key=key)


def no_show_pchart(
    f: Filters,
    cfg: MetricConfig,
    grain: str,
    *,
    key: str,
    title: str,
    data: pl.DataFrame | None = None,
    options: SpcOptions | None = None,
    network: pl.DataFrame | None = None,
) -> None:
    """The no-show p-chart (Laney's p′ unless ``options`` say plain), its baseline and the period shaded;
    ``network``: the network's chart of the same window, drawn as its rate per point (a clinic's chart)."""
    options = options or SpcOptions()
    df = data if data is not None else queries.no_show_pchart(f, cfg, grain, options=options)
    if df.is_empty():
        empty.no_data("scheduled sessions")
        return
    df = df.with_columns(
        note=pl.when(pl.col("rule").is_not_null())
        .then(pl.concat_str(pl.lit("special cause: "), pl.col("rule").str.replace_all("_", " ")))
        .otherwise(pl.lit("common cause"))
    )
    fig = charts.spc_chart(
        df,
        x="period",
        value="value",
        centre="centre",
        lower="lcl",
        upper="ucl",
        signal="category",
        rule="note",
        title=spc_controls.chart_title(df, "p", title, grain, options),
        x_title=f"{GRAINS[grain]} starting",
        y_title="no-show rate (% of scheduled)",
    )
    if network is not None:
        spc_controls.add_network_line(fig, network, y_title="no-show rate", counted="no-shows of")
    spc_controls.mark_period_and_baseline(fig, df, grain)
    show_figure(fig, key=key)
    st.caption(
        f"{spc_controls.chart_name(df, 'p')} over {spc_controls.span_caption(grain)} (the period is shaded): "
        f"{spc_controls.baseline_label(df, grain, options)}, then held. "
        "Grey = common cause; orange = special cause of concern; blue = improvement."
        + (" Dashed purple line: the network's rate in each point." if network is not None else "")
    )


def pchart_reads(
    f: Filters, cfg: MetricConfig, grain: str, options: SpcOptions | None = None
) -> list[Callable[[], object]]:
    """What the no-show section reads first, for ``queries.prefetch``: above ``MAX_SIGNAL_CLINICS``
    no per-clinic signals, so its p-chart opens on all clinics in scope; else the signals, which
    choose the p-chart's clinic."""
    options = options or SpcOptions()
    if len(f.clinic_ids) > MAX_SIGNAL_CLINICS:
        return [lambda: queries.no_show_pchart(f, cfg, grain, options=options)]
    return [lambda: queries.no_show_pcharts_by_clinic(f, cfg, grain, options=options)]


def pchart_signals(
    f: Filters, cfg: MetricConfig, grain: str, names: dict[str, str], options: SpcOptions | None = None
) -> pl.DataFrame:
    """Per clinic in scope: how many p-chart points in the period are special causes of concern /
    improvement.

    Counts the categories the metric already assigned to the points in the period (the chart's earlier
    points are context); the network chart can hide one clinic's shift. Every clinic's chart comes
    from one query, still only up to ``MAX_SIGNAL_CLINICS`` clinics (empty frame above that: a table
    of 200 clinics is not a summary).
    """
    rows = []
    many = len(f.clinic_ids) > MAX_SIGNAL_CLINICS
    charts = {} if many else queries.no_show_pcharts_by_clinic(f, cfg, grain, options=options or SpcOptions())
    for cid, whole in charts.items():
        chart = whole.filter(pl.col("in_period"))
        if chart.is_empty():
            continue
        signals = chart.filter(pl.col("category") != "common")
        rows.append(
            {
                "clinic_id": cid,
                "clinic_name": names.get(cid, cid),
                "concern": int((chart["category"] == "concern").sum()),
                "improvement": int((chart["category"] == "improvement").sum()),
                "latest_signal": signals["period"].max() if signals.height else None,
                "latest_rule": (
                    signals.sort("period")["rule"][-1].replace("_", " ") if signals.height else None
                ),
            }
        )
    schema = {
        "clinic_id": pl.String,
        "clinic_name": pl.String,
        "concern": pl.Int64,
        "improvement": pl.Int64,
        "latest_signal": pl.Date,
        "latest_rule": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).sort(
        ["concern", "latest_signal"], descending=True, nulls_last=True
    )


def new_starts(
    f: Filters, grain: str, *, key: str, title: str | None = None, data: pl.DataFrame | None = None
) -> None:
    df = complete_periods(data if data is not None else queries.new_starts_over_time(f, grain), f, grain)
    if df.is_empty() or df["new_starts"].sum() == 0:
        empty.no_data("new starts")
        return
    fig = charts.bar_chart(
        df,
        x="period_start",
        y="new_starts",
        title=title or f"New starts {_unit(grain)}",
        x_title=f"{GRAINS[grain]} starting",
        y_title=f"patients starting treatment {_unit(grain)}",
    )
    show_figure(fig, key=key)


def induction(
    f: Filters, *, key: str, title: str = "Induction funnel", figures: dict[str, Any] | None = None
) -> None:
    """``figures``: ``queries.induction``'s result when the caller fetched it (with a clinic's)."""
    figures = figures or queries.induction(f)
    funnel, done = figures["funnel"], figures["completion"]
    if funnel.is_empty() or int(funnel["patients"][0]) == 0:
        cutoff = done.get("maturity_cutoff")
        empty.no_data(f"new starts old enough to judge (first session on or before {cutoff})")
        return
    fig = charts.funnel_steps(
        [
            f"{s} ({n} within 42 days)" if n > 1 else "started"
            for s, n in funnel.select("stage", "min_sessions").rows()
        ],
        funnel["patients"].to_list(),
        title=title,
    )
    show_figure(fig, key=key)
    rate = done.get("completion_rate")
    st.caption(
        f"Induction completion: **{rate:.0%}** of {done['eligible_patients']:,} new starts had ≥ 6 induction "
        f"sessions within 42 days. Only patients whose first session was on or before "
        f"{done['maturity_cutoff']} (42 days before the data's last date) count."
        if rate is not None
        else "No new start is old enough to judge induction completion yet."
    )


def maintenance(
    f: Filters, *, key: str, title: str = "Maintenance cadence", figures: dict[str, Any] | None = None
) -> None:
    """``figures``: ``queries.maintenance``'s result when the caller fetched it (with a clinic's)."""
    figures = figures or queries.maintenance(f)
    df, summary = figures["cadence"], figures["summary"]
    if df.is_empty():
        empty.no_data("maintenance intervals")
        return
    weeks = (
        df.with_columns(week=(pl.col("gap_days") // 7).clip(0, 16))
        .group_by("week")
        .agg(pl.col("intervals").sum())
        .sort("week")
        .with_columns(
            label=pl.when(pl.col("week") >= 16).then(pl.lit("16+")).otherwise(pl.col("week").cast(str))
        )
    )
    fig = charts.bar_chart(
        weeks,
        x="label",
        y="intervals",
        title=title,
        x_title="weeks between consecutive maintenance sessions",
        y_title="intervals",
    )
    fig.update_xaxes(type="category")
    show_figure(fig, key=key)
    if summary.get("median_days") is not None:
        st.caption(
            f"Median {summary['median_days']:.0f} days between maintenance sessions "
            f"(IQR {summary['p25_days']:.0f}–{summary['p75_days']:.0f}; {summary['intervals']:,} intervals, "
            f"{summary['patients']:,} patients)."
        )


def route_modality(
    f: Filters, *, key: str, title: str = "Route and modality mix", data: pl.DataFrame | None = None
) -> None:
    df = data if data is not None else queries.route_modality_mix(f)
    if df.is_empty():
        empty.no_data("administered sessions")
        return
    df = df.with_columns(
        route_label=pl.col("route").fill_null("unknown").map_elements(label, return_dtype=pl.String),
        modality_label=pl.col("modality").fill_null("unknown").map_elements(label, return_dtype=pl.String),
    )
    fig = charts.bar_chart(
        df,
        x="route_label",
        y="share",
        color="modality_label",
        title=title,
        x_title="route",
        y_title="share of administered sessions",
        percent=True,
    )
    show_figure(fig, key=key)
