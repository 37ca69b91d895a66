"""Statistical process control charts in the style of NHS England's "Making Data Count".

u-chart (events per unit exposure) and p-chart (proportion) with per-period
limits σᵢ, held after a baseline, and four special-cause rules in priority
order (metrics.md "Over time"):

1. ``beyond_limit``  a point above the upper or below the lower 3σ limit;
2. ``trend``         7 consecutive points each strictly higher (or lower) than the last;
3. ``two_of_three``  2 of 3 consecutive points beyond 2σ on the same side, all three
                     points on that side of the centre line (the points beyond 2σ are
                     flagged, not the third one);
4. ``shift``         7 consecutive points strictly on one side of the centre line.

The baseline is the first ``baseline_periods`` points, or the points whose period
falls in a picked ``baseline`` range (the first points again when the range holds
none); it is ``trial`` while it has fewer than ``baseline_periods`` points.

Laney's u′/p′ (``laney=True``) widens the limits for large denominators, where
the plain σᵢ is so small that real period-to-period variation signals every
point: over the baseline zᵢ = (xᵢ − centre)/σᵢ, σz = mean moving range of z ÷
1.128, and every limit becomes centre ± k·σᵢ·σz. With fewer than two baseline
points (no moving range) σz is 1, the plain chart.

A point in several patterns takes the highest-priority rule, and its direction
(high or low) from that rule. It is then ``improvement`` when that direction is
the better one for the measure, else ``concern``; points in no pattern are
``common``. Periods with no exposure (n = 0) have no rate and are dropped.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl

RULES = ("beyond_limit", "trend", "two_of_three", "shift")
TREND_POINTS = 7
SHIFT_POINTS = 7
D2 = 1.128  # d2 for moving ranges of two points: σ ≈ mean moving range / d2
COLUMNS = (
    "period",
    "count",
    "n",
    "value",
    "centre",
    "lcl",
    "ucl",
    "lower2s",
    "upper2s",
    "trial",
    "in_baseline",
    "baseline_start",
    "baseline_end",
    "baseline_points",
    "baseline_picked",
    "laney",
    "sigma_z",
    "rule",
    "direction",
    "category",
)


def u_chart(
    data: pl.DataFrame,
    *,
    baseline_periods: int = 12,
    baseline: tuple[date, date] | None = None,
    laney: bool = False,
    scale: float = 1.0,
    higher_is_better: bool = False,
) -> pl.DataFrame:
    """u-chart of ``count`` per ``n`` × ``scale`` (e.g. 100 for "per 100 sessions").

    ``data`` has one row per period: period, count, n. Centre ū = Σcount ÷ Σn
    over the baseline points; σᵢ = sqrt(ū / nᵢ) (× σz for Laney's u′); lower
    limits floored at 0.
    """
    return _chart(data, baseline_periods, baseline, laney, scale, higher_is_better, kind="u")


def p_chart(
    data: pl.DataFrame,
    *,
    baseline_periods: int = 12,
    baseline: tuple[date, date] | None = None,
    laney: bool = False,
    higher_is_better: bool = False,
) -> pl.DataFrame:
    """p-chart of ``count`` ÷ ``n``; σᵢ = sqrt(p̄(1 − p̄) / nᵢ) (× σz for Laney's p′); limits in [0, 1]."""
    return _chart(data, baseline_periods, baseline, laney, 1.0, higher_is_better, kind="p")


def baseline_mask(
    periods: pl.Series, baseline_periods: int, baseline: tuple[date, date] | None
) -> tuple[pl.Series, bool]:
    """Which of the (sorted) periods form the baseline, and whether the picked range gave them:
    the points in the picked range, else (none picked, or none in it) the first points."""
    if baseline is not None:
        picked = periods.is_between(baseline[0], baseline[1], closed="both")
        if picked.any():
            return picked, True
    return pl.Series(np.arange(periods.len()) < baseline_periods), False


def laney_sigma_z(count: np.ndarray, n: np.ndarray, centre: float, kind: str) -> float:
    """σz = mean |zᵢ − zᵢ₋₁| ÷ 1.128 over consecutive points; 1 when it cannot be measured."""
    var = centre if kind == "u" else centre * (1 - centre)
    if len(n) < 2 or not var > 0:
        return 1.0
    z = (count / n - centre) / np.sqrt(var / n)
    sigma_z = float(np.mean(np.abs(np.diff(z)))) / D2
    return sigma_z if math.isfinite(sigma_z) else 1.0


def _chart(
    data: pl.DataFrame,
    baseline_periods: int,
    baseline: tuple[date, date] | None,
    laney: bool,
    scale: float,
    higher_is_better: bool,
    kind: str,
) -> pl.DataFrame:
    if baseline_periods < 1:
        raise ValueError("baseline_periods must be >= 1")
    df = data.select("period", "count", "n").filter(pl.col("n") > 0).sort("period")
    in_base, picked = baseline_mask(df["period"], baseline_periods, baseline)
    df = df.with_columns(in_baseline=in_base)
    base = df.filter(pl.col("in_baseline"))
    total_n = base["n"].sum()
    centre = float(base["count"].sum() / total_n) if base.height else float("nan")
    counts, sizes = base["count"].to_numpy().astype(float), base["n"].to_numpy().astype(float)
    sigma_z = laney_sigma_z(counts, sizes, centre, kind) if laney else 1.0
    var = centre if kind == "u" else centre * (1 - centre)
    upper_cap = float("inf") if kind == "u" else 1.0
    sigma = (var / pl.col("n")).sqrt() * sigma_z

    def limit(k: float) -> pl.Expr:
        return ((pl.lit(centre) + k * sigma).clip(0.0, upper_cap)) * scale

    first, last = (base["period"][0], base["period"][-1]) if base.height else (None, None)
    out = df.with_columns(
        value=pl.col("count").cast(pl.Float64) / pl.col("n") * scale,
        centre=pl.lit(centre * scale),
        lcl=limit(-3),
        ucl=limit(3),
        lower2s=limit(-2),
        upper2s=limit(2),
        trial=pl.lit(base.height < baseline_periods),
        baseline_start=pl.lit(first, dtype=df.schema["period"]),
        baseline_end=pl.lit(last, dtype=df.schema["period"]),
        baseline_points=pl.lit(base.height, dtype=pl.Int64),
        baseline_picked=pl.lit(picked),
        laney=pl.lit(laney),
        sigma_z=pl.lit(sigma_z),
    )
    return classify_points(out, higher_is_better).select(COLUMNS)


def _run_length(key: pl.Expr) -> pl.Expr:
    """Length of the run of equal consecutive ``key`` values each row belongs to."""
    run_id = (key != key.shift(1)).fill_null(True).cum_sum()
    return pl.len().over(run_id)


def special_cause_columns(df: pl.DataFrame) -> pl.DataFrame:
    """Add one direction column per rule (+1 high, −1 low, 0 none), from value and limits."""
    v = pl.col("value")
    # Rule 1: beyond a 3σ limit.
    beyond = pl.when(v > pl.col("ucl")).then(1).when(v < pl.col("lcl")).then(-1).otherwise(0)
    # Rule 2: trend. step_i = sign(v_i − v_{i−1}); 7 points = a run of 6 equal non-zero steps.
    step = (v - v.shift(1)).sign().fill_null(0).cast(pl.Int8)
    step_in_trend = pl.when((step != 0) & (_run_length(step) >= TREND_POINTS - 1)).then(step).otherwise(0)
    # A point belongs to a trend if the step into it or the step out of it does.
    trend = pl.when(step_in_trend != 0).then(step_in_trend).otherwise(step_in_trend.shift(-1).fill_null(0))
    # Rule 3: 2 of 3 beyond 2σ on one side, all three points on that side of the centre line. The
    # windows holding point i are the three-point windows ending at i, i+1 and i+2.
    two_of_three = pl.lit(0)
    for side, beyond2, on_side in (
        (1, v > pl.col("upper2s"), v > pl.col("centre")),
        (-1, v < pl.col("lower2s"), v < pl.col("centre")),
    ):
        hits = beyond2.cast(pl.Int32).rolling_sum(3, min_samples=3)
        sided = on_side.cast(pl.Int32).rolling_sum(3, min_samples=3)
        window = ((hits >= 2) & (sided == 3)).fill_null(False)
        in_window = window | window.shift(-1).fill_null(False) | window.shift(-2).fill_null(False)
        two_of_three = pl.when(beyond2 & in_window).then(side).otherwise(two_of_three)
    # Rule 4: shift. side = sign(v − centre); a point on the line breaks the run.
    side = (v - pl.col("centre")).sign().cast(pl.Int8)
    shift = pl.when((side != 0) & (_run_length(side) >= SHIFT_POINTS)).then(side).otherwise(0)
    return df.with_columns(
        _beyond_limit=beyond.cast(pl.Int8),
        _trend=trend.cast(pl.Int8),
        _two_of_three=two_of_three.cast(pl.Int8),
        _shift=shift.cast(pl.Int8),
    )


def classify_points(df: pl.DataFrame, higher_is_better: bool) -> pl.DataFrame:
    """Add ``rule`` (highest-priority rule or null), ``direction`` (high/low) and ``category``."""
    flagged = special_cause_columns(df)
    rule = pl.lit(None, dtype=pl.String)
    direction = pl.lit(0, dtype=pl.Int8)
    for name in reversed(RULES):  # lowest priority first, so higher ones overwrite
        col = pl.col(f"_{name}")
        rule = pl.when(col != 0).then(pl.lit(name)).otherwise(rule)
        direction = pl.when(col != 0).then(col).otherwise(direction)
    better = 1 if higher_is_better else -1
    return flagged.with_columns(
        rule=rule,
        direction=pl.when(direction > 0).then(pl.lit("high")).when(direction < 0).then(pl.lit("low")),
        category=pl.when(direction == 0)
        .then(pl.lit("common"))
        .when(direction == better)
        .then(pl.lit("improvement"))
        .otherwise(pl.lit("concern")),
    ).drop("_beyond_limit", "_trend", "_two_of_three", "_shift")
