"""Outcomes per clinic: the ``ketaops metrics`` report rows and the clinic comparison (funnel).

Clinics' figures are suppressed with the complementary rule (``suppression``): a clinic
hidden alone would otherwise be revealed by the network minus the others.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters
from dashboard.metrics.outcomes.measures import cohort_outcomes, ordered_pairs, scored_pairs, shown_pairs
from dashboard.metrics.outcomes.suppression import is_suppressed, suppressed_clinics
from dashboard.stats.funnel import funnel, funnel_curve
from dashboard.stats.intervals import wilson
from pipelines.model.config import MetricConfig
from pipelines.model.outcome_rules import RULES


def clinic_rows_from(patients: pl.DataFrame, cfg: MetricConfig) -> pl.DataFrame:
    """Per (condition, instrument, clinic): evaluable, responders, remitters, with suppression applied."""
    agg = (
        patients.group_by("condition", "instrument", "clinic_id", "clinic_name")
        .agg(
            evaluable=pl.col("evaluable").sum().cast(pl.Int64),
            responders=pl.col("responder").sum().cast(pl.Int64),
            remitters=pl.col("remitter").fill_null(False).sum().cast(pl.Int64),
        )
        .sort("condition", "instrument", "clinic_id")
    )
    hidden: list[bool] = []
    for (_c, _i), grp in agg.group_by("condition", "instrument", maintain_order=True):
        gone = suppressed_clinics(dict(zip(grp["clinic_id"], grp["evaluable"], strict=True)), cfg)
        hidden += [cid in gone for cid in grp["clinic_id"]]
    # group_by with maintain_order walks groups in first-seen order, which the sort made contiguous
    return agg.with_columns(suppressed=pl.Series(hidden, dtype=pl.Boolean))


def _report_row(
    condition: str, instrument: str, clinic_id: str | None, n: int, resp: int, rem: int, hidden: bool
) -> dict[str, Any]:
    has_rem = RULES[instrument].remission_op is not None
    if hidden:
        return {
            "condition": condition,
            "instrument": instrument,
            "clinic_id": clinic_id,
            "evaluable": None,
            "responders": None,
            "response_rate": None,
            "remitters": None,
            "remission_rate": None,
            "suppressed": True,
        }
    return {
        "condition": condition,
        "instrument": instrument,
        "clinic_id": clinic_id,
        "evaluable": n,
        "responders": resp,
        "response_rate": resp / n if n else None,
        "remitters": rem if has_rem else None,
        "remission_rate": (rem / n if n else None) if has_rem else None,
        "suppressed": False,
    }


def report_from(patients: pl.DataFrame, cfg: MetricConfig) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    clinics = clinic_rows_from(patients, cfg)
    for condition, instrument, _ in ordered_pairs(shown_pairs(scored_pairs(patients))):
        sel = (pl.col("condition") == condition) & (pl.col("instrument") == instrument)
        rows = clinics.filter(sel)
        n, resp, rem = (int(rows[c].sum()) for c in ("evaluable", "responders", "remitters"))
        out.append(_report_row(condition, instrument, None, n, resp, rem, is_suppressed(n, cfg)))
        for r in rows.iter_rows(named=True):
            out.append(
                _report_row(
                    condition,
                    instrument,
                    r["clinic_id"],
                    r["evaluable"],
                    r["responders"],
                    r["remitters"],
                    r["suppressed"],
                )
            )
    return out


def outcomes_report(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> list[dict[str, Any]]:
    """The ``outcomes`` list of ``ketaops metrics``: per shown (condition, instrument), the
    network row (clinic_id None) then one row per clinic with cohort patients, suppressed per
    metrics.md (complementary rule in ``suppressed_clinics``)."""
    return report_from(cohort_outcomes(con, f)[1], cfg)


def clinic_comparison(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Clinics' response rates for one (condition, instrument) with Wilson CIs and binomial funnel limits.

    Returns (per-clinic frame, network dict with evaluable, responders,
    response_rate, suppressed and ``curve``: funnel lines on the rate scale or
    None). Suppressed clinics keep their name with every figure null. The
    funnel target θ0 is the network rate; limits are per clinic on the rate scale.
    """
    patients = cohort_outcomes(con, f, (condition, instrument))[1]
    return comparison_from(patients, cfg, condition, instrument)


def comparison_from(
    patients: pl.DataFrame, cfg: MetricConfig, condition: str, instrument: str
) -> tuple[pl.DataFrame, dict[str, Any]]:
    rows = clinic_rows_from(patients, cfg).filter(
        (pl.col("condition") == condition) & (pl.col("instrument") == instrument)
    )
    n, resp = int(rows["evaluable"].sum()), int(rows["responders"].sum())
    network = {
        "evaluable": n,
        "responders": resp,
        "response_rate": resp / n if n else None,
        "suppressed": is_suppressed(n, cfg),
    }
    if network["suppressed"]:
        network |= {"evaluable": None, "responders": None, "response_rate": None}
    theta0 = network["response_rate"]
    shown = rows.filter(~pl.col("suppressed") & (pl.col("evaluable") > 0))
    limits = (
        funnel(shown["responders"].to_numpy(), shown["evaluable"].to_numpy(), theta0, kind="binomial")[0]
        if theta0 is not None and shown.height
        else None
    )
    out = []
    for i, r in enumerate(shown.iter_rows(named=True)):
        lo, hi = wilson(r["responders"], r["evaluable"])
        lim = limits.row(i, named=True) if limits is not None else {}
        out.append(
            {
                "clinic_id": r["clinic_id"],
                "clinic_name": r["clinic_name"],
                "evaluable": r["evaluable"],
                "responders": r["responders"],
                "response_rate": r["responders"] / r["evaluable"],
                "ci_low": lo,
                "ci_high": hi,
                **{
                    k: (lim.get(k) / r["evaluable"] if lim.get(k) is not None else None)
                    for k in ("lower998", "lower95", "upper95", "upper998")
                },
                "flag": lim.get("flag"),
                "suppressed": False,
            }
        )
    for r in rows.filter(pl.col("suppressed") | (pl.col("evaluable") == 0)).iter_rows(named=True):
        out.append({"clinic_id": r["clinic_id"], "clinic_name": r["clinic_name"], "suppressed": True})
    # smooth funnel lines (rate scale) for the chart, up to a little past the largest clinic
    n_max = max((r["evaluable"] for r in out if r.get("evaluable")), default=0)
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
