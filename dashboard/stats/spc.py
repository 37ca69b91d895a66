"""Statistical process control charts in the style of NHS England's "Making Data Count".

u-chart (events per unit exposure) and p-chart (proportion) with per-period
limits σᵢ, held after a baseline, and four special-cause rules in priority
order (metrics.md "Over time"):

1. ``beyond_limit``  a point above the upper or below the lower 3σ limit;
2. ``trend``         7 consecutive points each strictly higher (or lower) than the last;
3. ``two_of_three``  2 of 3 consecutive points beyond 2σ on the same side (the
                     points beyond 2σ are flagged, not the third one);
4. ``shift``         7 consecutive points strictly on one side of the centre line.

A point in several patterns takes the highest-priority rule, and its direction
(high or low) from that rule. It is then ``improvement`` when that direction is
the better one for the measure, else ``concern``; points in no pattern are
``common``. Periods with no exposure (n = 0) have no rate and are dropped.
"""

from __future__ import annotations

import polars as pl

RULES = ("beyond_limit", "trend", "two_of_three", "shift")
TREND_POINTS = 7
SHIFT_POINTS = 7


def u_chart(
    data: pl.DataFrame,
    *,
    baseline_periods: int = 12,
    scale: float = 1.0,
    higher_is_better: bool = False,
) -> pl.DataFrame:
    """u-chart of ``count`` per ``n`` × ``scale`` (e.g. 100 for "per 100 sessions").

    ``data`` has one row per period: period, count, n. Centre ū = Σcount ÷ Σn
    over the first ``baseline_periods`` periods (all periods, marked ``trial``,
    while there are fewer); σᵢ = sqrt(ū / nᵢ); lower limits floored at 0.
    """
    return _chart(data, baseline_periods, scale, higher_is_better, kind="u")


def p_chart(
    data: pl.DataFrame,
    *,
    baseline_periods: int = 12,
    higher_is_better: bool = False,
) -> pl.DataFrame:
    """p-chart of ``count`` ÷ ``n``; σᵢ = sqrt(p̄(1 − p̄) / nᵢ); limits clipped to [0, 1]."""
    return _chart(data, baseline_periods, 1.0, higher_is_better, kind="p")


def _chart(
    data: pl.DataFrame, baseline: int, scale: float, higher_is_better: bool, kind: str
) -> pl.DataFrame:
    if baseline < 1:
        raise ValueError("baseline_periods must be >= 1")
    df = data.select("period", "count", "n").filter(pl.col("n") > 0).sort("period")
    trial = df.height < baseline
    base = df.head(baseline)
    total_n = base["n"].sum()
    centre = float(base["count"].sum() / total_n) if df.height else float("nan")
    var = centre if kind == "u" else centre * (1 - centre)
    upper_cap = float("inf") if kind == "u" else 1.0
    sigma = (var / pl.col("n")).sqrt()

    def limit(k: float) -> pl.Expr:
        return ((pl.lit(centre) + k * sigma).clip(0.0, upper_cap)) * scale

    out = df.with_columns(
        value=pl.col("count").cast(pl.Float64) / pl.col("n") * scale,
        centre=pl.lit(centre * scale),
        lcl=limit(-3),
        ucl=limit(3),
        lower2s=limit(-2),
        upper2s=limit(2),
        trial=pl.lit(trial),
    )
    return classify_points(out, higher_is_better).select(
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
        "rule",
        "direction",
        "category",
    )


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
    # Rule 3: 2 of 3 beyond 2σ on one side; windows are the three ending at i, i+1, i+2.
    two_of_three = pl.lit(0)
    for side, beyond2 in ((1, v > pl.col("upper2s")), (-1, v < pl.col("lower2s"))):
        hits = beyond2.cast(pl.Int32).rolling_sum(3, min_samples=1)
        in_window = pl.max_horizontal(hits, hits.shift(-1), hits.shift(-2)) >= 2
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
