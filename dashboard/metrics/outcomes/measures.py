"""Network outcome measures of the viewer's cohort (metrics.md "Outcomes").

The cohort's per-patient outcomes (``cohort``) are counted per clinic (``totals``); the figures
per (condition, instrument) aggregate the clinics the viewer selects, every small cell suppressed
(``suppression``), with the maturing and below-caseness patients beside them.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters
from dashboard.metrics.outcomes.cohort import scope_clinics
from dashboard.metrics.outcomes.totals import aggregate, clinic_totals, mean_change
from dashboard.stats.intervals import t_interval, wilson
from pipelines.contract import CONDITIONS
from pipelines.model.config import MetricConfig
from pipelines.model.outcome_rules import (
    IDEATION_CONDITIONS,
    IDEATION_INSTRUMENT,
    MEASURES,
    RULES,
    instruments_for,
)


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _proportion(measure: str, k: int | None, n: int | None) -> dict[str, Any]:
    """A share; hidden (every figure null) when either count is suppressed."""
    if k is None or n is None:
        return _hidden(measure)
    lo, hi = wilson(k, n) if n else (None, None)
    return {
        "measure": measure,
        "numerator": k,
        "denominator": n,
        "estimate": k / n if n else None,
        "ci_low": _nan_to_none(lo),
        "ci_high": _nan_to_none(hi),
        "suppressed": False,
    }


def _hidden(measure: str) -> dict[str, Any]:
    return {
        "measure": measure,
        "numerator": None,
        "denominator": None,
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "suppressed": True,
    }


def _measures_for(
    c: dict[str, int | None], change: tuple[int, float, float], has_remission: bool
) -> list[dict[str, Any]]:
    """The measures of one (condition, instrument) from its aggregated counts ``c``."""
    n_eval = c["evaluable"]
    rows = [_proportion("response", c["responders"], n_eval)]
    if has_remission:
        rows.append(_proportion("remission", c["remitters"], n_eval))
    if n_eval is None:
        rows.append(_hidden("mean_change"))
    else:
        n, mean_value, sd = change
        mean, lo, hi = t_interval(n, mean_value, sd)
        rows.append(
            {
                "measure": "mean_change",
                "numerator": None,
                "denominator": n_eval,
                "estimate": _nan_to_none(mean),
                "ci_low": _nan_to_none(lo),
                "ci_high": _nan_to_none(hi),
                "suppressed": False,
            }
        )
    rows.append(_proportion("rapid_response", c["rapid_responders"], c["rapid_evaluable"]))
    rows.append(_proportion("durability", c["durable_responders"], c["durable_evaluable"]))
    rows.append(_proportion("worsening", c["worsened"], n_eval))
    return rows


def shown_pairs(pairs: pl.DataFrame) -> pl.DataFrame:
    """(condition, instrument, is_primary) to report: primary always, secondaries only when scored."""
    return pairs.filter(pl.col("is_primary") | pl.col("scored")).select(
        "condition", "instrument", "is_primary"
    )


def ordered_pairs(pairs: pl.DataFrame) -> list[tuple[str, str, bool]]:
    rank = {c: i for i, c in enumerate(CONDITIONS)}
    order = {c: [i for i, _ in instruments_for(c)] for c in CONDITIONS}
    items = [(r["condition"], r["instrument"], r["is_primary"]) for r in pairs.iter_rows(named=True)]
    return sorted(items, key=lambda t: (rank[t[0]], order[t[0]].index(t[1])))


def selected_pairs(totals: pl.DataFrame, scope: frozenset[str]) -> list[tuple[str, str, bool]]:
    """The pairs to report for the selection: primary always, secondaries when scored there."""
    mine = totals.filter(pl.col("clinic_id").is_in(list(scope)))
    pairs = mine.group_by("condition", "instrument").agg(pl.col("is_primary").any(), pl.col("scored").any())
    return ordered_pairs(shown_pairs(pairs))


def pair_rows(totals: pl.DataFrame, condition: str, instrument: str) -> list[dict[str, Any]]:
    return totals.filter((pl.col("condition") == condition) & (pl.col("instrument") == instrument)).to_dicts()


def measures_from(
    totals: pl.DataFrame, ideation: pl.DataFrame, scope: frozenset[str], cfg: MetricConfig
) -> pl.DataFrame:
    """Long table of the selection's figures: one row per (condition, instrument, measure)."""
    rows: list[dict[str, Any]] = []
    for condition, instrument, primary in selected_pairs(totals, scope):
        clinics = pair_rows(totals, condition, instrument)
        c = aggregate(clinics, scope, cfg)
        head = {
            "condition": condition,
            "instrument": instrument,
            "is_primary": primary,
            "cohort": c["patients"],
            "maturing": c["maturing"],
            "below_caseness": c["below_caseness"],
        }
        has_rem = RULES[instrument].remission_op is not None
        rows += [head | m for m in _measures_for(c, mean_change(clinics, scope), has_rem)]
        ide = ideation.filter(pl.col("condition") == condition)
        mine = ide.filter(pl.col("clinic_id").is_in(list(scope)))
        if primary and condition in IDEATION_CONDITIONS and mine["has_baseline"].any():
            i = aggregate(ide.to_dicts(), scope, cfg, ("ideation_eligible", "ideation_improved"))
            m = _proportion("ideation_improved", i["ideation_improved"], i["ideation_eligible"])
            rows.append(head | {"instrument": IDEATION_INSTRUMENT, "is_primary": False} | m)
    return pl.DataFrame(rows, schema=MEASURE_SCHEMA)


MEASURE_SCHEMA = {
    "condition": pl.String,
    "instrument": pl.String,
    "is_primary": pl.Boolean,
    "cohort": pl.Int64,
    "maturing": pl.Int64,
    "below_caseness": pl.Int64,
    "measure": pl.String,
    "numerator": pl.Int64,
    "denominator": pl.Int64,
    "estimate": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "suppressed": pl.Boolean,
}


def outcome_measures(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """Every outcome figure of the selection, long: condition, instrument, cohort, maturing,
    below_caseness, measure, numerator, denominator, estimate (rate as a fraction, or the mean
    change in points), ci_low, ci_high, suppressed. Counts hidden by suppression are null."""
    totals, ideation = clinic_totals(con, f, cfg)
    return measures_from(totals, ideation, scope_clinics(con, f), cfg)


def outcome_summary(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """One row per (condition, instrument): ``cohort``, ``maturing``, ``below_caseness``, ``{measure}``,
    ``{measure}_ci_low/_ci_high``, ``{measure}_n`` (numerator), ``{measure}_denominator``,
    ``{measure}_suppressed``."""
    long = outcome_measures(con, f, cfg).filter(pl.col("instrument") != IDEATION_INSTRUMENT)
    if long.is_empty():
        return pl.DataFrame(
            schema={"condition": pl.String, "instrument": pl.String, "is_primary": pl.Boolean}
        )
    wide = long.rename({"estimate": "value", "numerator": "n"}).pivot(
        on="measure",
        index=["condition", "instrument", "is_primary", "cohort", "maturing", "below_caseness"],
        values=["value", "n", "denominator", "ci_low", "ci_high", "suppressed"],
        column_naming="combine",
    )
    # "combine" names columns value_response, ci_low_response …: rename to response, response_ci_low …
    renames = {}
    for col in wide.columns:
        for v in ("value", "n", "denominator", "ci_low", "ci_high", "suppressed"):
            for m in MEASURES:
                if col == f"{v}_{m}":
                    renames[col] = m if v == "value" else f"{m}_{v}"
    return wide.rename(renames)
