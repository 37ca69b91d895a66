"""Network outcome measures of the viewer's cohort (metrics.md "Outcomes").

The cohort's per-patient outcomes (``pipelines.model.patient_outcomes``) come from the
refresh's outcome tables, or from the same functions run inline on a database without them
(``cohort_outcomes``). The network figures per (condition, instrument) aggregate them, with
small cells suppressed (``suppression``).
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters, clinic_where, combine, dimension_where, period_where
from dashboard.metrics.outcomes.suppression import is_suppressed
from dashboard.stats.intervals import t_interval, wilson
from pipelines import compat
from pipelines.contract import CLINICS, CONDITIONS
from pipelines.marts import OUTCOME_IDEATION, OUTCOME_PATIENTS
from pipelines.model.config import MetricConfig
from pipelines.model.outcome_rules import (
    IDEATION_CONDITIONS,
    IDEATION_INSTRUMENT,
    MEASURES,
    RULES,
    instruments_for,
)
from pipelines.model.patient_outcomes import (
    COHORT_COLUMNS,
    IDEATION_COLUMNS,
    PATIENT_OUTCOME_COLUMNS,
    cohort_columns,
    ideation_outcomes,
    keyed_cohort,
    patient_outcomes,
    scores_for,
)


def cohort_where(
    f: Filters, t: str = "fs", condition_col: str = "p.primary_condition"
) -> tuple[str, list[object]]:
    """The viewer's filters on a cohort: day 0 in the period; clinic, region, condition, route and
    modality of day 0's session and the patient. ``t`` names the source with day0, clinic_id,
    route and modality (first sessions, or an outcome table); ``c`` is the joined clinics."""
    return combine(
        period_where(f, f"{t}.day0"),
        # the scope on the joined clinics row (200 rows), not on every cohort row: 80 -> 52 ms at 365 days
        clinic_where(f, "c.clinic_id", "c.region"),
        dimension_where(f, condition_col=condition_col, route_col=f"{t}.route", modality_col=f"{t}.modality"),
    )


def load_outcome_data(con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cohort, scores) of the viewer's cohort, computed from the raw tables (see ``scores_for``)."""
    keyed = keyed_cohort(con, *cohort_where(f), first_sessions=compat.first_sessions_source(con))
    return cohort_columns(keyed), scores_for(con, keyed)


# --- the viewer's cohort: the refresh's per-patient tables, or the same functions inline ----

Pair = tuple[str, str]  # (condition, instrument)


def _read_cohort_rows(
    con: duckdb.DuckDBPyConnection, table: str, f: Filters, columns: str, pair: Pair | None = None
) -> pl.DataFrame:
    """Rows of a per-patient table for the viewer's cohort; ``pid`` numbers the patients per query."""
    where, params = cohort_where(f, "o", "o.condition")
    if pair:
        where, params = f"({where}) AND o.condition = ? AND o.instrument = ?", [*params, *pair]
    sql = f"""
        SELECT o.patient_no AS _patient, {columns}
        FROM {table} o JOIN {CLINICS.name} c ON c.clinic_id = o.clinic_id
        WHERE {where}"""
    # numbered here, not by a window in SQL: DuckDB sorted every projected column with the
    # keys (3 s for a year's 900k rows, against 0.3 s for the rows and 0.1 s for this)
    rows = con.sql(sql, params=params).pl()
    return rows.select(  # (a table of an older layout still has columns since removed: dropped here)
        pl.col("_patient").rank("dense").cast(pl.Int64).alias("pid"),
        pl.exclude("_patient", *compat.REMOVED_COLUMNS[table]),
    )


def cohort_outcomes(
    con: duckdb.DuckDBPyConnection, f: Filters, pair: Pair | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(cohort, ``patient_outcomes``, ``ideation_outcomes``) of the viewer's cohort.

    A patient's outcomes depend on their own history only; the filters only pick the
    cohort. So the refresh computes them for every patient with these very functions
    (``pipelines.marts.outcome_tables``) and this reads the cohort's rows; a database
    without those tables (a test fixture, one published before them) gets the same
    functions run inline on the cohort's raw scores. ``pair`` keeps one (condition,
    instrument) of the patient outcomes (pages drawing one pair need no more).
    """
    if not compat.outcome_tables_present(con):
        cohort, scores = load_outcome_data(con, f)
        patients = patient_outcomes(cohort, scores)
        if pair:
            patients = patients.filter((pl.col("condition") == pair[0]) & (pl.col("instrument") == pair[1]))
        return cohort, patients, ideation_outcomes(cohort, scores)
    rows = _read_cohort_rows(con, OUTCOME_PATIENTS, f, f"o.day0, c.clinic_name, o.* EXCLUDE ({_KEYS})", pair)
    cohort = rows.select(COHORT_COLUMNS).unique("pid").sort("pid")
    patients = rows.select(PATIENT_OUTCOME_COLUMNS)
    ideation = (
        _read_cohort_rows(con, OUTCOME_IDEATION, f, f"o.* EXCLUDE ({_KEYS})").select(IDEATION_COLUMNS)
        if pair is None
        else pl.DataFrame(schema=dict.fromkeys(IDEATION_COLUMNS))
    )
    return cohort, patients, ideation


# the per-patient tables' own columns besides the rule results: which patient, and the
# day-0 attributes the viewer's filters select on
_KEYS = "patient_no, day0, route, modality"


# --- aggregation with suppression -------------------------------------------------------


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _proportion(measure: str, k: int, n: int, cfg: MetricConfig) -> dict[str, Any]:
    if is_suppressed(n, cfg):
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


def _measures_for(t: dict[str, Any], has_remission: bool, cfg: MetricConfig) -> list[dict[str, Any]]:
    """The measures of one (condition, instrument) from its ``_TOTALS`` row."""
    n_eval = int(t["evaluable"])
    rows = [_proportion("response", int(t["responders"]), n_eval, cfg)]
    if has_remission:
        rows.append(_proportion("remission", int(t["remitters"]), n_eval, cfg))
    if is_suppressed(n_eval, cfg):
        rows.append(_hidden("mean_change"))
    else:
        mean, lo, hi = t_interval(int(t["changes"]), t["mean_change"], t["sd_change"])
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
    rows.append(_proportion("rapid_response", int(t["rapid_responders"]), int(t["rapid_evaluable"]), cfg))
    rows.append(_proportion("durability", int(t["durable_responders"]), int(t["durable_evaluable"]), cfg))
    rows.append(_proportion("worsening", int(t["worsened"]), n_eval, cfg))
    return rows


def shown_pairs(pairs: pl.DataFrame) -> pl.DataFrame:
    """(condition, instrument, is_primary) to report: primary always, secondaries only when scored."""
    return pairs.filter(pl.col("is_primary") | pl.col("scored")).select(
        "condition", "instrument", "is_primary"
    )


def scored_pairs(patients: pl.DataFrame) -> pl.DataFrame:
    return patients.group_by("condition", "instrument", "is_primary").agg(scored=pl.col("has_scores").any())


def ordered_pairs(pairs: pl.DataFrame) -> list[tuple[str, str, bool]]:
    rank = {c: i for i, c in enumerate(CONDITIONS)}
    order = {c: [i for i, _ in instruments_for(c)] for c in CONDITIONS}
    items = [(r["condition"], r["instrument"], r["is_primary"]) for r in pairs.iter_rows(named=True)]
    return sorted(items, key=lambda t: (rank[t[0]], order[t[0]].index(t[1])))


# Network totals per (condition, instrument) of patient outcomes, per condition of cohort
# patients and of ideation outcomes. SQL so they run inside DuckDB on the per-patient tables
# (a year's cohort is 900k rows: aggregating there beats shipping them to Polars, 0.1 vs 3 s);
# the inline path runs the same statements on its frames.
_TOTALS = """
    SELECT condition, instrument, bool_or(is_primary) AS is_primary, bool_or(has_scores) AS scored,
           count(*) AS patients,  -- patient_outcomes has one row per cohort patient and pair
           count(*) FILTER (WHERE evaluable) AS evaluable,
           count(*) FILTER (WHERE responder) AS responders,
           count(*) FILTER (WHERE remitter) AS remitters,
           count(change) AS changes, favg(change) AS mean_change, stddev_samp(change) AS sd_change,
           count(*) FILTER (WHERE rapid_evaluable) AS rapid_evaluable,
           count(*) FILTER (WHERE rapid_responder) AS rapid_responders,
           count(*) FILTER (WHERE durable_evaluable) AS durable_evaluable,
           count(*) FILTER (WHERE durable_responder) AS durable_responders,
           count(*) FILTER (WHERE worsened) AS worsened
    FROM {source} GROUP BY condition, instrument"""
_IDEATION_TOTALS = """
    SELECT condition, bool_or(baseline IS NOT NULL) AS has_baseline,
           count(*) FILTER (WHERE improved) AS improved, count(*) FILTER (WHERE eligible) AS eligible
    FROM {source} GROUP BY condition"""


def _measure_totals(
    con: duckdb.DuckDBPyConnection, f: Filters
) -> tuple[pl.DataFrame, dict[str, dict[str, Any]]]:
    """(``_TOTALS`` rows, ``_IDEATION_TOTALS`` per condition) of the viewer's cohort."""
    if compat.outcome_tables_present(con):
        where, params = cohort_where(f, "o", "o.condition")

        def run(sql: str, table: str) -> pl.DataFrame:
            source = f"(SELECT o.* FROM {table} o JOIN {CLINICS.name} c USING (clinic_id) WHERE {where})"
            return con.sql(sql.format(source=source), params=params).pl()

        totals, ideation = run(_TOTALS, OUTCOME_PATIENTS), run(_IDEATION_TOTALS, OUTCOME_IDEATION)
    else:
        _, patients, ideation_rows = cohort_outcomes(con, f)
        names = [f"outcome_{k}_{uuid.uuid4().hex}" for k in ("patients", "ideation")]
        con.register(names[0], patients)
        con.register(names[1], ideation_rows)
        try:
            totals = con.sql(_TOTALS.format(source=names[0])).pl()
            ideation = con.sql(_IDEATION_TOTALS.format(source=names[1])).pl()
        finally:
            for name in names:
                con.unregister(name)
    return totals, {r["condition"]: r for r in ideation.iter_rows(named=True)}


def measures_from(
    totals: pl.DataFrame, ideation: dict[str, dict[str, Any]], cfg: MetricConfig
) -> pl.DataFrame:
    """Long table of network figures: one row per (condition, instrument, measure)."""
    rows: list[dict[str, Any]] = []
    cohort_sizes = dict(totals.group_by("condition").agg(pl.col("patients").max()).iter_rows())
    by_pair = {(r["condition"], r["instrument"]): r for r in totals.iter_rows(named=True)}
    for condition, instrument, primary in ordered_pairs(shown_pairs(totals)):
        t = by_pair[(condition, instrument)]
        n_eval = int(t["evaluable"])
        head = {
            "condition": condition,
            "instrument": instrument,
            "is_primary": primary,
            "cohort": None if is_suppressed(n_eval, cfg) else cohort_sizes.get(condition, 0),
        }
        has_rem = RULES[instrument].remission_op is not None
        rows += [head | m for m in _measures_for(t, has_rem, cfg)]
        ide = ideation.get(condition)
        if primary and condition in IDEATION_CONDITIONS and ide and ide["has_baseline"]:
            m = _proportion("ideation_improved", int(ide["improved"]), int(ide["eligible"]), cfg)
            rows.append(head | {"instrument": IDEATION_INSTRUMENT, "is_primary": False} | m)
    return pl.DataFrame(rows, schema=MEASURE_SCHEMA)


MEASURE_SCHEMA = {
    "condition": pl.String,
    "instrument": pl.String,
    "is_primary": pl.Boolean,
    "cohort": pl.Int64,
    "measure": pl.String,
    "numerator": pl.Int64,
    "denominator": pl.Int64,
    "estimate": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "suppressed": pl.Boolean,
}


def outcome_measures(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """Every network outcome figure, long: condition, instrument, measure, numerator, denominator,
    estimate (rate as a fraction, or the mean change in points), ci_low, ci_high, suppressed."""
    return measures_from(*_measure_totals(con, f), cfg)


def outcome_summary(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    """One row per (condition, instrument): ``{measure}``, ``{measure}_ci_low/_ci_high``,
    ``{measure}_n`` (numerator), ``{measure}_denominator``, ``{measure}_suppressed``."""
    long = outcome_measures(con, f, cfg).filter(pl.col("instrument") != IDEATION_INSTRUMENT)
    if long.is_empty():
        return pl.DataFrame(
            schema={"condition": pl.String, "instrument": pl.String, "is_primary": pl.Boolean}
        )
    wide = long.rename({"estimate": "value", "numerator": "n"}).pivot(
        on="measure",
        index=["condition", "instrument", "is_primary", "cohort"],
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
