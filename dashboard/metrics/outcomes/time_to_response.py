"""Time to response: Kaplan–Meier of days from day 0 to the first score meeting the response rule."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import polars as pl

from dashboard.metrics.filters import Filters
from dashboard.metrics.outcomes.cohort import cohort_outcomes, scope_clinics
from dashboard.metrics.outcomes.measures import pair_rows
from dashboard.metrics.outcomes.suppression import is_suppressed
from dashboard.metrics.outcomes.totals import aggregate, clinic_totals
from dashboard.stats.survival import kaplan_meier
from pipelines.model.config import MetricConfig

AT_RISK_DAYS: tuple[int, ...] = (0, 14, 28, 42, 60, 90, 120)  # numbers at risk shown under the curve


def time_to_response(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> dict[str, Any]:
    """Kaplan–Meier of days from day 0 to the first score meeting the response rule."""
    patients = cohort_outcomes(con, f, cfg, (condition, instrument))[1]
    totals, _ = clinic_totals(con, f, cfg)
    hidden = km_hidden(totals, scope_clinics(con, f), cfg, condition, instrument)
    return time_to_response_from(patients, cfg, condition, instrument, hidden)


def km_hidden(
    totals: pl.DataFrame, scope: frozenset[str], cfg: MetricConfig, condition: str, instrument: str
) -> bool:
    """Whether the selection's count of patients in the curve is suppressed (the one-block rule)."""
    rows = pair_rows(totals, condition, instrument)
    return aggregate(rows, scope, cfg, ("km_eligible",))["km_eligible"] is None


def time_to_response_from(
    patients: pl.DataFrame, cfg: MetricConfig, condition: str, instrument: str, hidden: bool = False
) -> dict[str, Any]:
    """Curve as the cumulative share responded (1 − Ŝ) with its CI.

    Patients: a valid baseline at or above caseness and at least one follow-up score within
    ``outcome_rules.FOLLOW_UP_DAYS``; event at the first score meeting the rule, else censored
    at the last follow-up score. Suppressed as a whole when ``hidden`` (the selection's count
    under the one-block rule) or under k patients; otherwise the curve stops at the last time
    with ≥ k at risk and numbers at risk under k are hidden (small cells).
    """
    g = patients.filter(
        (pl.col("condition") == condition) & (pl.col("instrument") == instrument) & pl.col("km_eligible")
    )
    empty_curve = pl.DataFrame(
        schema={
            "day": pl.Float64,
            "at_risk": pl.Int64,
            "responded": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "events": pl.Int64,
            "censored": pl.Int64,
        }
    )
    if hidden or is_suppressed(g.height, cfg) or g.height == 0:
        return {
            "n": None if g.height else 0,
            "suppressed": g.height > 0,
            "curve": empty_curve,
            "at_risk": pl.DataFrame(schema={"day": pl.Int64, "at_risk": pl.Int64, "suppressed": pl.Boolean}),
        }
    event = g["event_day"].is_not_null().to_numpy()
    duration = np.where(event, g["event_day"].fill_null(0).to_numpy(), g["last_day"].to_numpy()).astype(float)
    km = kaplan_meier(duration, event)
    keep = np.ones(km.time.size, dtype=bool) if cfg.suppression_k <= 0 else km.n_at_risk >= cfg.suppression_k
    curve = pl.DataFrame(
        {
            "day": km.time,
            "at_risk": km.n_at_risk.astype(np.int64),
            "responded": 1 - km.survival,
            "ci_low": 1 - km.ci_high,
            "ci_high": 1 - km.ci_low,
            "events": km.n_events.astype(np.int64),
            "censored": km.n_censored.astype(np.int64),
        }
    ).filter(pl.Series(keep))
    at_risk = km.at_risk_at(AT_RISK_DAYS).astype(int)
    hide = [is_suppressed(int(a), cfg) for a in at_risk]
    return {
        "n": g.height,
        "suppressed": False,
        "curve": curve,
        "at_risk": pl.DataFrame(
            {
                "day": list(AT_RISK_DAYS),
                "at_risk": [None if h else int(a) for a, h in zip(at_risk, hide, strict=True)],
                "suppressed": hide,
            },
            schema={"day": pl.Int64, "at_risk": pl.Int64, "suppressed": pl.Boolean},
        ),
    }
