"""Funnel-plot control limits (Spiegelhalter 2005, Statist. Med. 24:1185–1202).

A unit (clinic) with exposure n is compared with a target rate θ0. Its limits
are the p-quantiles of the count expected under the target, Poisson(θ0·n) for
rates or Binomial(n, θ0) for proportions, made continuous by the paper's
interpolation between integers (appendix A.1.1): with r_p the smallest integer
with F(r_p) ≥ p,

    α = (F(r_p) − p) / (F(r_p) − F(r_p − 1)),   limit = r_p − α,

i.e. the p-quantile of the count with each integer's mass spread uniformly over
(r − 1, r]. Limits are on the count scale (floored at 0, binomial capped at n);
divide by n for the rate scale.

The optional over-dispersion adjustment is the paper's additive random-effects
model (section 6, as in FunnelPlotR): z-scores on the rate scale,
z_i = (y_i − θ0)/s_i, are winsorised at 10% per tail (clipped to their 10th and
90th percentiles), φ = mean(z²), and if I·φ > I − 1

    τ² = (I·φ − (I − 1)) / (Σ w_i − Σ w_i² / Σ w_i),   w_i = 1/s_i²,

else τ² = 0. With τ² > 0 the limits become θ0 ± z_p·sqrt(s_i² + τ²); with
τ² = 0 the exact limits are kept (FunnelPlotR does the same).

Flags against the exact limits read a count y as y − ½ (``midp_flags``): a
one-sided mid-p test, so a count is not "beyond" a limit only because its
integer carries the limit's probability mass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from scipy import stats

Kind = Literal["poisson", "binomial"]
# (probability, column name) of the four limits the dashboard draws
LIMITS: tuple[tuple[float, str], ...] = (
    (0.001, "lower998"),
    (0.025, "lower95"),
    (0.975, "upper95"),
    (0.999, "upper998"),
)
FLAGS = ("above_998", "above_95", "within", "below_95", "below_998")
WINSOR = 0.10


def _stats():  # -> the scipy.stats module
    """``scipy.stats``, imported on first use: ~1 s that a refresh (which imports the outcome
    metrics but draws no funnel) and a server's first page would otherwise pay."""
    from scipy import stats

    return stats


def _interpolated_quantile(dist: stats.rv_discrete, p: float) -> np.ndarray:
    r = np.asarray(dist.ppf(p), dtype=float)
    f_r = np.asarray(dist.cdf(r), dtype=float)
    f_below = np.asarray(dist.cdf(r - 1), dtype=float)
    mass = f_r - f_below
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.where(mass > 0, (f_r - p) / mass, 0.0)
    return np.maximum(r - alpha, 0.0)


def poisson_limit(expected: float | Sequence[float] | np.ndarray, p: float) -> np.ndarray:
    """Interpolated p-quantile of Poisson(expected), on the count scale, floored at 0."""
    mu = np.atleast_1d(np.asarray(expected, dtype=float))
    return _interpolated_quantile(_stats().poisson(mu), p)


def binomial_limit(n: int | Sequence[int] | np.ndarray, theta0: float, p: float) -> np.ndarray:
    """Interpolated p-quantile of Binomial(n, θ0), on the count scale, in [0, n]."""
    size = np.atleast_1d(np.asarray(n, dtype=float))
    return np.minimum(_interpolated_quantile(_stats().binom(size, theta0), p), size)


def _within_sd(kind: Kind, theta0: float, n: np.ndarray) -> np.ndarray:
    """Sampling SD of the observed rate under the target."""
    var = theta0 if kind == "poisson" else theta0 * (1 - theta0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(var / n)


def overdispersion(
    observed: Sequence[float] | np.ndarray,
    exposure: Sequence[float] | np.ndarray,
    theta0: float,
    kind: Kind = "poisson",
    winsor: float = WINSOR,
) -> tuple[float, float]:
    """(τ², φ) of the additive random-effects model, from winsorised z-scores.

    Units with no exposure carry no information and are left out. With fewer
    than two units, or a target of 0 (no spread to measure), τ² = 0.
    """
    y = np.asarray(observed, dtype=float)
    n = np.asarray(exposure, dtype=float)
    keep = n > 0
    y, n = y[keep], n[keep]
    units = len(n)
    s = _within_sd(kind, theta0, n)
    if units < 2 or not np.all(s > 0):
        return 0.0, float("nan")
    z = (y / n - theta0) / s
    lo, hi = np.quantile(z, [winsor, 1 - winsor])  # R type 7, as FunnelPlotR
    z = np.clip(z, lo, hi)
    phi = float(np.mean(z**2))
    if units * phi <= units - 1:
        return 0.0, phi
    w = 1 / s**2
    tau2 = (units * phi - (units - 1)) / (w.sum() - (w**2).sum() / w.sum())
    return float(max(tau2, 0.0)), phi


def funnel_limits(
    exposure: Sequence[float] | np.ndarray,
    theta0: float,
    kind: Kind = "poisson",
    tau2: float = 0.0,
) -> pl.DataFrame:
    """Limits on the count scale for each exposure: lower998, lower95, upper95, upper998.

    ``tau2 > 0`` gives the random-effects limits (normal, rate scale, times n);
    otherwise the exact interpolated quantiles. Rows with no exposure are null.
    """
    n = np.asarray(exposure, dtype=float)
    cols: dict[str, np.ndarray] = {"n": n, "expected": theta0 * n}
    for p, name in LIMITS:
        if tau2 > 0:
            from scipy import special  # on first use, as _stats(): the refresh imports this module

            z = float(special.ndtri(p))
            with np.errstate(invalid="ignore"):  # n = 0 rows become nan, then null
                rate = theta0 + z * np.sqrt(_within_sd(kind, theta0, n) ** 2 + tau2)
                upper_cap = np.inf if kind == "poisson" else 1.0
                limit = np.clip(rate, 0.0, upper_cap) * n
        elif kind == "poisson":
            limit = poisson_limit(theta0 * n, p)
        else:
            limit = binomial_limit(n, theta0, p)
        cols[name] = np.where(n > 0, limit, np.nan)
    return pl.DataFrame(cols).with_columns(pl.col(pl.Float64).fill_nan(None))


def classify(
    observed: pl.Expr | str = "observed",
    lower95: pl.Expr | str = "lower95",
    upper95: pl.Expr | str = "upper95",
    lower998: pl.Expr | str = "lower998",
    upper998: pl.Expr | str = "upper998",
) -> pl.Expr:
    """Flag expression: strictly outside a limit, the wider limit first; null when limits are null."""

    def c(e: pl.Expr | str) -> pl.Expr:
        return pl.col(e) if isinstance(e, str) else e

    y = c(observed)
    return (
        pl.when(c(upper95).is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(y > c(upper998))
        .then(pl.lit("above_998"))
        .when(y > c(upper95))
        .then(pl.lit("above_95"))
        .when(y < c(lower998))
        .then(pl.lit("below_998"))
        .when(y < c(lower95))
        .then(pl.lit("below_95"))
        .otherwise(pl.lit("within"))
    )


def funnel(
    observed: Sequence[float] | np.ndarray,
    exposure: Sequence[float] | np.ndarray,
    theta0: float | None = None,
    kind: Kind = "poisson",
    overdispersed: bool = False,
) -> tuple[pl.DataFrame, float, float]:
    """Per-unit limits and flags, plus (θ0, τ²) used.

    θ0 defaults to Σ observed ÷ Σ exposure (the network rate). Returns a frame
    with observed, n, expected, the four limits (count scale) and ``flag``.
    """
    y = np.asarray(observed, dtype=float)
    n = np.asarray(exposure, dtype=float)
    if theta0 is None:
        total = n.sum()
        theta0 = float(y.sum() / total) if total > 0 else 0.0
    tau2 = overdispersion(y, n, theta0, kind)[0] if overdispersed else 0.0
    frame = funnel_limits(n, theta0, kind, tau2).with_columns(observed=pl.Series(y))
    if tau2 > 0:  # normal limits: compare the count itself
        frame = frame.with_columns(flag=classify())
    else:
        frame = frame.with_columns(flag=pl.Series(midp_flags(y, n, theta0, kind), dtype=pl.String))
    return frame.select("observed", "n", "expected", *_names(), "flag"), theta0, tau2


def midp_flags(
    observed: Sequence[float] | np.ndarray,
    exposure: Sequence[float] | np.ndarray,
    theta0: float,
    kind: Kind = "poisson",
) -> list[str | None]:
    """Flags against the exact interpolated limits, reading a count y as y − ½.

    The interpolation spreads P(Y = y) evenly over (y − 1, y]; the count's place
    in that continuous distribution is the middle of its interval, so "above the
    upper p-limit" is F(y − 1) + ½·P(y) > p, i.e. a one-sided mid-p value below
    1 − p. Comparing y itself would flag y = r_p whatever its probability: with an
    expected 0.02 AEs one AE (P = 2%) would be "above 99.8%", and a proportion
    with target 1 would put every unit above its limit. None when n = 0.
    """
    y = np.asarray(observed, dtype=float)
    n = np.asarray(exposure, dtype=float)
    st = _stats()
    dist = st.poisson(theta0 * n) if kind == "poisson" else st.binom(n, theta0)
    with np.errstate(invalid="ignore"):
        half = 0.5 * dist.pmf(y)
        upper = dist.sf(y) + half  # P(Y > y) + ½P(Y = y)
        lower = dist.cdf(y) - half  # P(Y < y) + ½P(Y = y)
    flags: list[str | None] = []
    for u, lo, size in zip(upper, lower, n, strict=True):
        if not size > 0:
            flags.append(None)
        elif u < 0.001:
            flags.append("above_998")
        elif u < 0.025:
            flags.append("above_95")
        elif lo < 0.001:
            flags.append("below_998")
        elif lo < 0.025:
            flags.append("below_95")
        else:
            flags.append("within")
    return flags


def funnel_curve(
    theta0: float,
    n_max: float,
    kind: Kind = "poisson",
    tau2: float = 0.0,
    points: int = 200,
    scale: float = 1.0,
) -> pl.DataFrame:
    """Smooth funnel lines for a chart: n from 1 to n_max and the limits on the rate scale × ``scale``."""
    if n_max < 1:
        return pl.DataFrame(
            schema={"n": pl.Float64, "target": pl.Float64} | dict.fromkeys(_names(), pl.Float64)
        )
    grid = np.unique(np.round(np.geomspace(1, n_max, points))) if kind == "binomial" else None
    n = grid if grid is not None else np.geomspace(1, n_max, points)
    limits = funnel_limits(n, theta0, kind, tau2)
    return limits.select(
        "n",
        target=pl.lit(theta0 * scale),
        **{name: pl.col(name) / pl.col("n") * scale for name in _names()},
    )


def _names() -> list[str]:
    return [name for _, name in LIMITS]


def poisson_funnel_limits(
    exposure: Sequence[float] | np.ndarray, theta0: float, tau2: float = 0.0
) -> pl.DataFrame:
    """Count-scale funnel limits for event rates (see ``funnel_limits``)."""
    return funnel_limits(exposure, theta0, "poisson", tau2)


def binomial_funnel_limits(
    exposure: Sequence[int] | np.ndarray, theta0: float, tau2: float = 0.0
) -> pl.DataFrame:
    """Count-scale funnel limits for proportions (see ``funnel_limits``)."""
    return funnel_limits(exposure, theta0, "binomial", tau2)
