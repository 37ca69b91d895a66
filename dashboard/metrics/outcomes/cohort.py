"""The viewer's outcome cohort: each patient's outcomes with maturity and caseness applied.

The per-patient rule results come from the refresh's outcome tables, or from the same functions
run inline on a database without them (``pipelines.model.patient_outcomes``); maturity (the
data's last date) and caseness (configurable thresholds) are applied as the rows are read, by
one SQL statement for both paths (``settled_sql``).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import duckdb
import polars as pl

from dashboard.metrics.filters import Filters, clinic_where, combine, dimension_where, period_where
from pipelines import compat
from pipelines.contract import CLINICS
from pipelines.marts import OUTCOME_IDEATION, OUTCOME_PATIENTS
from pipelines.model.config import MetricConfig
from pipelines.model.outcome_rules import caseness_thresholds
from pipelines.model.patient_outcomes import (
    COHORT_COLUMNS,
    IDEATION_COLUMNS,
    PATIENT_OUTCOME_COLUMNS,
    cohort_columns,
    ideation_outcomes,
    keyed_cohort,
    patient_outcomes,
    scores_for,
    settled_params,
    settled_sql,
)

Pair = tuple[str, str]  # (condition, instrument)
SETTLED_COLUMNS = (*PATIENT_OUTCOME_COLUMNS, "mature", "maturing", "below_caseness")


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


def every_clinic(con: duckdb.DuckDBPyConnection, f: Filters) -> Filters:
    """``f`` over every clinic of the database: the set the suppression blocks are built on."""
    ids = tuple(r[0] for r in con.execute(f"SELECT clinic_id FROM {CLINICS.name}").fetchall())
    return replace(f, clinic_ids=ids, regions=())


def scope_clinics(con: duckdb.DuckDBPyConnection, f: Filters) -> frozenset[str]:
    """The clinics ``f`` selects (its scope, narrowed by its regions)."""
    where, params = clinic_where(f, "c.clinic_id", "c.region")
    rows = con.execute(f"SELECT c.clinic_id FROM {CLINICS.name} c WHERE {where}", params).fetchall()
    return frozenset(r[0] for r in rows)


def data_last_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """The newest ``scheduled_at`` date in the whole database, unfiltered: maturity's reference."""
    return con.execute("SELECT CAST(max(scheduled_at) AS DATE) FROM sessions").fetchall()[0][0]


def settled_parameters(con: duckdb.DuckDBPyConnection, cfg: MetricConfig) -> list[object]:
    return settled_params(data_last_date(con), caseness_thresholds(cfg.caseness))


def load_outcome_data(con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cohort, scores) of the viewer's cohort, computed from the raw tables (see ``scores_for``)."""
    keyed = keyed_cohort(con, *cohort_where(f), first_sessions=compat.first_sessions_source(con))
    return cohort_columns(keyed), scores_for(con, keyed)


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


def _settle(con: duckdb.DuckDBPyConnection, patients: pl.DataFrame, cfg: MetricConfig) -> pl.DataFrame:
    """Maturity and caseness applied to per-patient rows (``settled_sql``), whichever path made them."""
    view = f"outcome_rows_{uuid.uuid4().hex}"
    con.register(view, patients)
    try:
        settled = con.sql(settled_sql(view), params=settled_parameters(con, cfg)).pl()
    finally:
        con.unregister(view)
    return settled.select(SETTLED_COLUMNS)


def cohort_outcomes(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, pair: Pair | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(cohort, settled ``patient_outcomes``, ``ideation_outcomes`` with day0) of the viewer's cohort.

    A patient's outcomes depend on their own history only; the filters only pick the
    cohort. So the refresh computes them for every patient with these very functions
    (``pipelines.marts.outcome_tables``) and this reads the cohort's rows; a database
    without those tables (a test fixture, one published before them) gets the same
    functions run inline on the cohort's raw scores. ``pair`` keeps one (condition,
    instrument) of the patient outcomes (pages drawing one pair need no more).
    """
    if not compat.outcome_tables_present(con):
        cohort, scores = load_outcome_data(con, f)
        patients = patient_outcomes(cohort, scores).join(cohort.select("pid", "day0"), on="pid")
        if pair:
            patients = patients.filter((pl.col("condition") == pair[0]) & (pl.col("instrument") == pair[1]))
        ideation = ideation_outcomes(cohort, scores).join(cohort.select("pid", "day0"), on="pid")
        return cohort, _settle(con, patients, cfg), ideation
    rows = _read_cohort_rows(con, OUTCOME_PATIENTS, f, f"o.day0, c.clinic_name, o.* EXCLUDE ({_KEYS})", pair)
    cohort = rows.select(COHORT_COLUMNS).unique("pid").sort("pid")
    patients = _settle(con, rows.select(*PATIENT_OUTCOME_COLUMNS, "day0"), cfg)
    ideation = (
        _read_cohort_rows(con, OUTCOME_IDEATION, f, f"o.day0, o.* EXCLUDE ({_KEYS})").select(
            *IDEATION_COLUMNS, "day0"
        )
        if pair is None
        else pl.DataFrame(schema=dict.fromkeys((*IDEATION_COLUMNS, "day0")))
    )
    return cohort, patients, ideation


# the per-patient tables' own columns besides the rule results: which patient, and the
# day-0 attributes the viewer's filters select on
_KEYS = "patient_no, day0, route, modality"
