"""Outcomes per clinic: the ``ketaops metrics`` report rows and the clinic comparison (funnel).

Every count is suppressed with the one-block rule (``suppression``): a clinic's row and the
selection's total are aggregates of the same per-clinic counts (``totals``), so neither the
network minus the others nor a second ``--clinic`` selection reveals a hidden clinic.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters
from dashboard.metrics.outcomes.cohort import scope_clinics
from dashboard.metrics.outcomes.measures import pair_rows, selected_pairs
from dashboard.metrics.outcomes.totals import aggregate, clinic_totals
from dashboard.stats.funnel import funnel, funnel_curve
from dashboard.stats.intervals import wilson
from pipelines.model.config import MetricConfig
from pipelines.model.outcome_rules import RULES

REPORT_COUNTS = ("evaluable", "responders", "remitters", "maturing")


def _report_row(
    condition: str, instrument: str, clinic_id: str | None, c: dict[str, int | None]
) -> dict[str, Any]:
    """One ``outcomes`` row; ``suppressed_figures`` names each figure null because of suppression."""
    has_rem = RULES[instrument].remission_op is not None
    n, resp, rem = c["evaluable"], c["responders"], c["remitters"]
    figures: dict[str, Any] = {
        "evaluable": n,
        "responders": resp,
        "response_rate": None if n is None or resp is None or not n else resp / n,
        "remitters": rem if has_rem else None,
        "remission_rate": (None if n is None or rem is None or not n else rem / n) if has_rem else None,
        "maturing": c["maturing"],
    }
    hidden = {k for k in ("evaluable", "responders", "maturing") if c[k] is None}
    hidden |= {"response_rate"} if {"evaluable", "responders"} & hidden else set()
    if has_rem:
        hidden |= {"remitters"} if rem is None else set()
        hidden |= {"remission_rate"} if {"evaluable", "remitters"} & hidden else set()
    suppressed = n is None
    if suppressed:  # the evaluable count hidden: every figure of the row is null
        hidden |= {k for k in figures if k not in ("remitters", "remission_rate") or has_rem}
        figures = dict.fromkeys(figures)
    order = ("evaluable", "responders", "response_rate", "remitters", "remission_rate", "maturing")
    return {
        "condition": condition,
        "instrument": instrument,
        "clinic_id": clinic_id,
        **{k: figures[k] for k in order[:-1]},
        "suppressed": suppressed,
        "suppressed_figures": [k for k in order if k in hidden],
        "maturing": figures["maturing"],
    }


def report_from(totals: pl.DataFrame, scope: frozenset[str], cfg: MetricConfig) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for condition, instrument, _ in selected_pairs(totals, scope):
        rows = pair_rows(totals, condition, instrument)
        out.append(_report_row(condition, instrument, None, aggregate(rows, scope, cfg, REPORT_COUNTS)))
        for clinic in sorted(r["clinic_id"] for r in rows if r["clinic_id"] in scope):
            c = aggregate(rows, frozenset({clinic}), cfg, REPORT_COUNTS)
            out.append(_report_row(condition, instrument, clinic, c))
    return out


def outcomes_report(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> list[dict[str, Any]]:
    """The ``outcomes`` list of ``ketaops metrics``: per shown (condition, instrument), the
    selection's row (clinic_id None) then one row per selected clinic with cohort patients,
    suppressed per metrics.md (the one-block rule of ``suppression``)."""
    totals, _ = clinic_totals(con, f, cfg)
    return report_from(totals, scope_clinics(con, f), cfg)


def clinic_comparison(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Clinics' response rates for one (condition, instrument) with Wilson CIs and binomial funnel limits.

    Returns (per-clinic frame, network dict with evaluable, responders,
    response_rate, suppressed and ``curve``: funnel lines on the rate scale or
    None). Suppressed clinics keep their name with every figure null. The
    funnel target θ0 is the selection's rate; limits are per clinic on the rate scale.
    """
    totals, _ = clinic_totals(con, f, cfg)
    return comparison_from(totals, scope_clinics(con, f), cfg, condition, instrument)


def comparison_from(
    totals: pl.DataFrame, scope: frozenset[str], cfg: MetricConfig, condition: str, instrument: str
) -> tuple[pl.DataFrame, dict[str, Any]]:
    rows = pair_rows(totals, condition, instrument)
    counts = ("evaluable", "responders")
    total = aggregate(rows, scope, cfg, counts)
    n, resp = total["evaluable"], total["responders"]
    hidden = n is None or resp is None
    network = {
        "evaluable": n,
        "responders": None if hidden else resp,
        "response_rate": None if hidden or not n else resp / n,
        "suppressed": hidden,
    }
    per_clinic = []
    for r in sorted((r for r in rows if r["clinic_id"] in scope), key=lambda r: r["clinic_id"]):
        c = aggregate(rows, frozenset({r["clinic_id"]}), cfg, counts)
        per_clinic.append((r, c))
    visible = [(r, c) for r, c in per_clinic if c["evaluable"] and c["responders"] is not None]
    theta0 = network["response_rate"]
    limits = (
        funnel(
            [c["responders"] for _, c in visible],
            [c["evaluable"] for _, c in visible],
            theta0,
            kind="binomial",
        )[0]
        if theta0 is not None and visible
        else None
    )
    out = []
    for i, (r, c) in enumerate(visible):
        lo, hi = wilson(c["responders"], c["evaluable"])
        lim = limits.row(i, named=True) if limits is not None else {}
        out.append(
            {
                "clinic_id": r["clinic_id"],
                "clinic_name": r["clinic_name"],
                "evaluable": c["evaluable"],
                "responders": c["responders"],
                "response_rate": c["responders"] / c["evaluable"],
                "ci_low": lo,
                "ci_high": hi,
                **{
                    k: (lim.get(k) / c["evaluable"] if lim.get(k) is not None else None)
                    for k in ("lower998", "lower95", "upper95", "upper998")
                },
                "flag": lim.get("flag"),
                "suppressed": False,
            }
        )
    shown_ids = {o["clinic_id"] for o in out}
    for r, _ in per_clinic:
        if r["clinic_id"] not in shown_ids:
            out.append({"clinic_id": r["clinic_id"], "clinic_name": r["clinic_name"], "suppressed": True})
    # smooth funnel lines (rate scale) for the chart, up to a little past the largest clinic
    n_max = max((o["evaluable"] for o in out if o.get("evaluable")), default=0)
    network["curve"] = (
        funnel_curve(theta0, n_max * 1.15, "binomial") if theta0 is not None and n_max else None
    )
    return pl.DataFrame(out, schema=COMPARISON_SCHEMA), network


COMPARISON_SCHEMA = {
    "clinic_id": pl.String,
    "clinic_name": pl.String,
    "evaluable": pl.Int64,
    "responders": pl.Int64,
    "response_rate": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "lower998": pl.Float64,
    "lower95": pl.Float64,
    "upper95": pl.Float64,
    "upper998": pl.Float64,
    "flag": pl.String,
    "suppressed": pl.Boolean,
}
