"""Kaplan–Meier product-limit estimator with Greenwood variance.

Used for "time to response" (metrics.md): the event is the first score that
meets the response rule, patients without one are censored at their last
score. Pure numpy/scipy so it is testable without a database.

Conventions (the usual ones, as in R's ``survival`` and scipy's ``ecdf``):
- At a time with both events and censorings, the events come first: a patient
  censored at t was at risk at t.
- The number at risk at t is the number with duration ≥ t ("just before t").
- Greenwood: Var Ŝ(t) = Ŝ(t)² Σ_{tᵢ ≤ t} dᵢ / (nᵢ (nᵢ − dᵢ)).
- CI "log-log" (default; Kalbfleisch–Prentice, scipy's "exponential
  Greenwood"): Ŝ^exp(±z·σ/|log Ŝ|), which stays inside (0, 1) and behaves well
  in small samples. CI "plain": Ŝ ± z·SE, clipped to [0, 1]. Where Ŝ = 1 the
  band is [1, 1]; once Ŝ = 0 (everyone at risk had the event) it is [0, 0].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

CIMethod = Literal["log-log", "plain"]


@dataclass(frozen=True)
class KaplanMeier:
    """The estimate at every distinct observed time (events and censorings), ascending."""

    time: np.ndarray
    n_at_risk: np.ndarray  # at risk just before time
    n_events: np.ndarray
    n_censored: np.ndarray
    survival: np.ndarray  # Ŝ(time), right-continuous
    variance: np.ndarray  # Greenwood variance of Ŝ(time)
    ci_low: np.ndarray
    ci_high: np.ndarray
    n: int  # subjects
    ci_method: CIMethod
    confidence: float
    durations: np.ndarray  # every subject's duration, for numbers at risk at any time

    @property
    def cumulative_incidence(self) -> np.ndarray:
        """1 − Ŝ: the share who had the event by each time (e.g. "responded by day t")."""
        return 1.0 - self.survival

    def survival_at(self, times: np.ndarray | list[float]) -> np.ndarray:
        """Ŝ at arbitrary times (step function; 1 before the first observed time)."""
        idx = np.searchsorted(self.time, np.asarray(times, dtype=float), side="right") - 1
        return np.where(idx >= 0, self.survival[np.clip(idx, 0, None)], 1.0)

    def at_risk_at(self, times: np.ndarray | list[float]) -> np.ndarray:
        """Subjects still under observation at each time (duration ≥ t), for the table under a plot."""
        return numbers_at_risk(self.durations, times)


def numbers_at_risk(durations: np.ndarray | list[float], times: np.ndarray | list[float]) -> np.ndarray:
    """Number of subjects with duration ≥ t for each t."""
    d = np.sort(np.asarray(durations, dtype=float))
    return d.size - np.searchsorted(d, np.asarray(times, dtype=float), side="left")


def kaplan_meier(
    durations: np.ndarray | list[float],
    events: np.ndarray | list[bool],
    *,
    confidence: float = 0.95,
    ci_method: CIMethod = "log-log",
) -> KaplanMeier:
    """Product-limit estimate of S(t) = P(T > t) from right-censored data.

    ``events[i]`` is True when subject i had the event at ``durations[i]`` and
    False when it was censored then.
    """
    dur = np.asarray(durations, dtype=float)
    ev = np.asarray(events, dtype=bool)
    if dur.shape != ev.shape or dur.ndim != 1:
        raise ValueError("durations and events must be 1-D and of equal length")
    if np.isnan(dur).any() or (dur < 0).any():
        raise ValueError("durations must be non-negative numbers")
    if ci_method not in ("log-log", "plain"):
        raise ValueError(f"unknown ci_method {ci_method!r}")

    time, inverse = np.unique(dur, return_inverse=True)
    n_events = np.bincount(inverse, weights=ev, minlength=time.size).astype(int)
    n_total = np.bincount(inverse, minlength=time.size)
    n_censored = n_total - n_events
    # at risk just before time[j] = everyone whose duration is ≥ time[j]
    n_at_risk = dur.size - np.concatenate(([0], np.cumsum(n_total)[:-1]))

    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n_at_risk > 0, 1.0 - n_events / n_at_risk, 1.0)
        survival = np.cumprod(factor)
        terms = np.where(n_events == 0, 0.0, n_events / (n_at_risk * (n_at_risk - n_events).astype(float)))
        greenwood = np.cumsum(terms)  # inf once Ŝ reaches 0
        variance = np.where(survival > 0, survival**2 * greenwood, 0.0)

        from scipy.special import ndtri  # on first use: the refresh imports this module, never calls it

        z = ndtri(0.5 + confidence / 2)
        if ci_method == "plain":
            se = np.sqrt(variance)
            low, high = np.clip(survival - z * se, 0, 1), np.clip(survival + z * se, 0, 1)
        else:
            log_s = np.log(survival)
            spread = z * np.sqrt(greenwood) / np.abs(log_s)
            low = survival ** np.exp(spread)
            high = survival ** np.exp(-spread)
    one = survival >= 1.0
    zero = survival <= 0.0
    low = np.where(one, 1.0, np.where(zero, 0.0, low))
    high = np.where(one, 1.0, np.where(zero, 0.0, high))

    return KaplanMeier(
        time=time,
        n_at_risk=n_at_risk,
        n_events=n_events,
        n_censored=n_censored,
        survival=survival,
        variance=variance,
        ci_low=low,
        ci_high=high,
        n=int(dur.size),
        ci_method=ci_method,
        confidence=confidence,
        durations=dur,
    )
