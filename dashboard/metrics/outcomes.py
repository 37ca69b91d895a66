"""Outcomes per condition (metrics.md "Outcomes" and "Small-cell suppression").

The rule table (condition → instrument → response/remission rule, severity
bands) is data in this module: the metrics, the Outcomes page and the docs
(checked by a test) all read ``RULES``/``PRIMARY_INSTRUMENT``.

Definitions as implemented (see docs/metrics.md "Outcomes"):
- Cohort: patients whose first administered session network-wide ("day 0",
  ties on ``scheduled_at`` broken by ``session_id``) is in the period. The
  patient counts for the clinic, region, route and modality of that session
  and for their ``primary_condition`` (the same attribution as new starts).
- Windows are counted in clinic-local calendar days from day 0's date; the
  day-0 boundary itself is day 0's exact ``scheduled_at``:
  baseline = latest score with ``assessed_at ≤ day0`` and date ≥ day0's date − 30;
  endpoint = latest score with ``assessed_at > day0`` and date ≤ day0's date + 42.
  "Latest"/"first" ties on ``assessed_at`` are broken by ``assessment_id``.
- Scores of every clinic count (the patient's assessments are network-wide).

Every figure built from fewer than ``cfg.suppression_k`` patients is
suppressed (null, ``suppressed=True``); see ``suppressed_clinics`` for the
complementary rule between clinics.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import duckdb
import numpy as np
import polars as pl

from dashboard.metrics.config import MetricConfig
from dashboard.metrics.filters import Filters, clinic_where, combine, dimension_where, period_where
from dashboard.stats.funnel import funnel, funnel_curve
from dashboard.stats.intervals import t_interval, wilson
from dashboard.stats.survival import kaplan_meier
from pipelines.contract import (
    ASSESSMENTS,
    CLINICS,
    CONDITIONS,
    INSTRUMENTS,
    PATIENTS,
    SESSIONS,
)
from pipelines.summaries import (
    ADDED_COLUMNS,
    FIRST_SESSIONS,
    OUTCOME_IDEATION,
    OUTCOME_PATIENTS,
    OUTCOME_SESSION_SCORES,
    first_sessions_source,
    table_exists,
)

# --- the rule table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    low: float
    high: float  # inclusive
    label: str


@dataclass(frozen=True)
class InstrumentRule:
    instrument: str
    label: str
    response_kind: Literal["percent", "points"]  # reduction from baseline
    response_amount: float  # percent (50) or points (10)
    remission_op: Literal["<", "<="] | None = None  # endpoint score compared with the threshold
    remission_threshold: float | None = None
    bands: tuple[Band, ...] = ()  # severity bands for trajectory charts

    @property
    def response_text(self) -> str:
        unit = "%" if self.response_kind == "percent" else "-point"
        return f"≥ {self.response_amount:g}{unit} reduction"

    @property
    def remission_text(self) -> str:
        if self.remission_op is None:
            return "—"
        op = "<" if self.remission_op == "<" else "≤"
        return f"score {op} {self.remission_threshold:g}"

    @property
    def score_range(self) -> tuple[float, float]:
        return INSTRUMENTS[self.instrument]


def _bands(*spec: tuple[float, float, str]) -> tuple[Band, ...]:
    return tuple(Band(lo, hi, label) for lo, hi, label in spec)


RULES: dict[str, InstrumentRule] = {
    r.instrument: r
    for r in (
        InstrumentRule(
            "phq9",
            "PHQ-9",
            "percent",
            50,
            "<",
            5,
            _bands(
                (0, 4, "minimal"),
                (5, 9, "mild"),
                (10, 14, "moderate"),
                (15, 19, "moderately severe"),
                (20, 27, "severe"),
            ),
        ),
        InstrumentRule(
            "gad7",
            "GAD-7",
            "percent",
            50,
            "<",
            5,
            _bands((0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 21, "severe")),
        ),
        InstrumentRule(
            "pcl5",
            "PCL-5",
            "points",
            10,
            "<",
            33,
            _bands((0, 32, "below threshold"), (33, 80, "probable PTSD")),
        ),
        InstrumentRule(
            "ybocs",
            "Y-BOCS",
            "percent",
            35,
            "<=",
            12,
            _bands(
                (0, 7, "subclinical"),
                (8, 15, "mild"),
                (16, 23, "moderate"),
                (24, 31, "severe"),
                (32, 40, "extreme"),
            ),
        ),
        InstrumentRule("craving_vas", "Craving VAS", "percent", 50),
        InstrumentRule(
            "pain_nrs",
            "Pain NRS",
            "percent",
            30,
            bands=_bands((0, 0, "none"), (1, 3, "mild"), (4, 6, "moderate"), (7, 10, "severe")),
        ),
        InstrumentRule(
            "migraine_days",
            "Migraine days",
            "percent",
            50,
            bands=_bands(
                (0, 3, "low-frequency"),
                (4, 7, "moderate-frequency"),
                (8, 14, "high-frequency"),
                (15, 31, "chronic (≥ 15)"),
            ),
        ),
        InstrumentRule(
            "madrs",
            "MADRS",
            "percent",
            50,
            "<=",
            10,
            _bands((0, 6, "normal"), (7, 19, "mild"), (20, 34, "moderate"), (35, 60, "severe")),
        ),
        InstrumentRule(
            "qids_sr16",
            "QIDS-SR16",
            "percent",
            50,
            "<=",
            5,
            _bands(
                (0, 5, "none"),
                (6, 10, "mild"),
                (11, 15, "moderate"),
                (16, 20, "severe"),
                (21, 27, "very severe"),
            ),
        ),
    )
}
PRIMARY_INSTRUMENT: dict[str, str | None] = {
    "depression": "phq9",
    "bipolar_depression": "phq9",
    "anxiety": "gad7",
    "ptsd": "pcl5",
    "ocd": "ybocs",
    "alcohol_use": "craving_vas",
    "opioid_use": "craving_vas",
    "other_substance_use": "craving_vas",
    "chronic_pain": "pain_nrs",
    "migraine": "migraine_days",
    "other": None,
}
SECONDARY_INSTRUMENTS: tuple[str, ...] = ("madrs", "qids_sr16", "gad7")  # for any condition
IDEATION_INSTRUMENT = "cssrs_ideation"
IDEATION_CONDITIONS: tuple[str, ...] = ("depression", "bipolar_depression")

# Windows in days from day 0 (metrics.md)
BASELINE_DAYS = 30
ENDPOINT_DAYS = 42
RAPID_DAYS = 7
DURABILITY_DAYS = (60, 120)
FOLLOW_UP_DAYS = 120  # time to response: later scores are administratively censored at day 120
WORSENING_FRACTION = 0.20
AT_RISK_DAYS: tuple[int, ...] = (0, 14, 28, 42, 60, 90, 120)
_EPS = 1e-9  # float slack so 35% of 20 (7.000000000000001) counts a 7-point drop

MEASURES: dict[str, str] = {
    "response": "Response",
    "remission": "Remission",
    "mean_change": "Mean change",
    "rapid_response": "Rapid response (≤ 7 days)",
    "durability": "Durability (60–120 days)",
    "worsening": "Worsening (≥ 20%)",
    "ideation_improved": "C-SSRS ideation lower",
}


def instruments_for(condition: str) -> list[tuple[str, bool]]:
    """(instrument, is_primary) shown for a condition: its primary one, then the secondaries."""
    primary = PRIMARY_INSTRUMENT.get(condition)
    out = [(primary, True)] if primary else []
    return out + [(i, False) for i in SECONDARY_INSTRUMENTS if i != primary]


def rules_markdown() -> str:
    """The rule table as Markdown, for docs/metrics.md (a test keeps the docs in step)."""
    lines = ["| condition | instrument | response | remission |", "|---|---|---|---|"]
    for condition in CONDITIONS:
        inst = PRIMARY_INSTRUMENT[condition]
        if inst is None:
            lines.append(f"| {condition} | — | — | — |")
            continue
        r = RULES[inst]
        lines.append(f"| {condition} | {inst} | {r.response_text} | {r.remission_text} |")
    for inst in SECONDARY_INSTRUMENTS:
        r = RULES[inst]
        lines.append(f"| any (secondary) | {inst} | {r.response_text} | {r.remission_text} |")
    return "\n".join(lines)


def is_suppressed(n: int | None, cfg: MetricConfig) -> bool:
    """A figure from fewer than k patients is hidden (k = 0 disables suppression)."""
    return cfg.suppression_k > 0 and (n or 0) < cfg.suppression_k


def suppressed_clinics(evaluable: dict[str, int], cfg: MetricConfig) -> set[str]:
    """Clinics whose figures are hidden, with complementary suppression.

    Primary: every clinic with fewer than k evaluable patients. Complementary:
    if exactly one clinic is suppressed while the network figure is shown and
    other clinics exist, the network minus the other clinics would reveal it,
    so the shown clinic with the fewest evaluable patients (ties: the first
    clinic_id) is suppressed too. Two or more hidden clinics only reveal their
    sum. When the network itself is suppressed every clinic is (each has < k).
    """
    hidden = {c for c, n in evaluable.items() if is_suppressed(n, cfg)}
    network_shown = not is_suppressed(sum(evaluable.values()), cfg)
    if network_shown and len(hidden) == 1 and len(evaluable) > 1:
        shown = sorted((n, c) for c, n in evaluable.items() if c not in hidden)
        hidden.add(shown[0][1])
    return hidden


# --- loading ----------------------------------------------------------------------------

_ALL_INSTRUMENTS = (*RULES, IDEATION_INSTRUMENT)


def _cohort_sql(where: str, first_sessions: str, numbered: bool = False) -> str:
    """CTE ``cohort``: patients of ``first_sessions`` (day 0, its clinic, route, modality) meeting ``where``.

    ``first_sessions`` is ``pipelines.summaries.first_sessions_source``: the
    refresh's ``patient_first_sessions`` table (day 0 = first administered
    session, ties on ``scheduled_at`` to the lower ``session_id``), so finding
    day 0 no longer groups every patient's whole history (7 s at 10M sessions).
    ``where`` may use ``fs`` (first sessions), ``c`` (clinics) and ``p`` (patients).
    ``numbered`` adds the patient's number (the refresh's tables have it), which is then also
    ``pid``: numbering by key sorts a million key strings (0.3 s of a full refresh).
    """
    pid = "fs.patient_no" if numbered else "dense_rank() OVER (ORDER BY fs.patient_key)"
    return f"""
        cohort AS (
            SELECT fs.patient_key, {"fs.patient_no, " if numbered else ""}
                   {pid} AS pid,
                   fs.clinic_id, c.clinic_name, p.primary_condition AS condition, fs.day0,
                   fs.route, fs.modality
            FROM {first_sessions} fs
            JOIN {CLINICS.name} c ON c.clinic_id = fs.clinic_id
            JOIN {PATIENTS.name} p ON p.patient_key = fs.patient_key
            WHERE {where})"""


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


def keyed_cohort(
    con: duckdb.DuckDBPyConnection, where: str, params: list[object], numbered: bool = False
) -> pl.DataFrame:
    """Cohort patients meeting ``where``, with their keys (for a second query; never returned to a page).

    ``numbered`` (the refresh) adds ``patient_no``, which ``scores_for`` then joins on.
    """
    number = "patient_no, " if numbered else ""
    cols = f"patient_key, {number}pid, clinic_id, clinic_name, condition, day0, route, modality"
    cohort = _cohort_sql(where, first_sessions_source(con), numbered)
    sql = f"WITH {cohort} SELECT {cols} FROM cohort ORDER BY pid"
    return con.sql(sql, params=params).pl()


def cohort_columns(keyed: pl.DataFrame) -> pl.DataFrame:
    """A keyed cohort without its keys: one row per patient with pid (a per-query number,
    not an identifier), clinic, condition and day 0."""
    return keyed.select(COHORT_COLUMNS)


def load_outcome_data(con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cohort, scores) of the viewer's cohort, computed from the raw tables (see ``scores_for``)."""
    keyed = keyed_cohort(con, *cohort_where(f))
    return cohort_columns(keyed), scores_for(con, keyed)


# A patient's scores in time order (ties by assessment id): ``scores_for`` returns each patient's
# scores on each instrument so (``_in_score_order``), and the per-patient functions below take
# "latest" and "first" within such a group in this order (Polars keeps rows in input order within
# each group), so none of them sorts again.
SCORE_ORDER = ("pid", "assessed_at", "assessment_id")


def scores_for(con: duckdb.DuckDBPyConnection, keyed: pl.DataFrame) -> pl.DataFrame:
    """Scores of the patients of a keyed cohort, from 30 days before their day 0 on.

    Columns: pid, instrument, score, assessed_at, day, after, session_number.
    ``day`` = calendar days from day 0's date; ``after`` = assessed after day 0's
    exact time. ``session_number`` (the loader's numbering of administered
    sessions): that of the session named by ``session_id`` when given (and
    administered, same patient), else of the latest administered session at or
    before ``assessed_at``, else 0 (before treatment). Patient keys stay inside this
    function (the cohort is handed over as a registered frame). In ``SCORE_ORDER`` within each
    patient's instrument (the assessment id breaks ties, then is dropped), which the per-patient
    functions rely on. A cohort with
    ``patient_no`` (the refresh's) is joined on that integer: a day's few hundred long-treated
    patients make these joins read every score and session (docs/performance.md).

    Only what the per-patient functions read leaves DuckDB (the clinic and condition are the
    cohort's): the refresh reads ~2M scores per chunk, and every string column costs.
    """
    key = "patient_no" if "patient_no" in keyed.columns else "patient_key"
    inst = ", ".join("?" for _ in _ALL_INSTRUMENTS)
    view = f"outcome_cohort_{uuid.uuid4().hex}"  # per call: concurrent reads never share a name
    # every cohort patient's sessions are on or after the earliest day 0, and their scores at
    # most 30 days before it: redundant bounds that let DuckDB skip the sessions' older row groups
    # (stored in time order; the assessments are not, see summaries.CLUSTERED)
    first_day0 = keyed["day0"].min()
    earliest_score = None if first_day0 is None else first_day0 - timedelta(days=BASELINE_DAYS + 1)
    con.register(view, keyed.select(key, "pid", "day0"))
    try:
        x = con.sql(
            f"""
            SELECT k.pid, s.instrument, s.score, s.assessed_at, s.assessment_id,
                   {_SESSION_HASH.format(column="s.session_id")} AS session_hash,
                   date_diff('day', CAST(k.day0 AS DATE), CAST(s.assessed_at AS DATE)) AS day,
                   s.assessed_at > k.day0 AS after
            FROM {view} k JOIN {ASSESSMENTS.name} s ON s.{key} = k.{key}
            WHERE s.instrument IN ({inst})
              AND CAST(s.assessed_at AS DATE) >= CAST(k.day0 AS DATE) - INTERVAL {BASELINE_DAYS} DAY
              AND s.assessed_at >= CAST(? AS TIMESTAMP)""",
            params=[*_ALL_INSTRUMENTS, earliest_score],
        ).pl()
        adm = con.sql(  # administered sessions are the numbered ones
            f"""
            SELECT k.pid, {_SESSION_HASH.format(column="s.session_id")} AS session_hash, s.scheduled_at,
                   s.session_number
            FROM {SESSIONS.name} s JOIN {view} k ON k.{key} = s.{key}
            WHERE s.session_number IS NOT NULL AND s.scheduled_at >= CAST(? AS TIMESTAMP)""",
            params=[first_day0],
        ).pl()
    finally:
        con.unregister(view)
    # the session an assessment names, the same patient's (joined on its id's hash: integers
    # instead of strings, 0.3 s of a refresh chunk), else the latest at or before it (an as-of
    # join in Polars: DuckDB's ASOF join took 12 s for 2M scores of 200k patients)
    named = adm.select("pid", "session_hash", linked="session_number")
    latest = adm.select("pid", "scheduled_at", latest="session_number").sort("pid", "scheduled_at", "latest")
    return (
        _in_score_order(x)  # the as-of join's order, and the one the per-patient functions need
        .join(named, on=["pid", "session_hash"], how="left", maintain_order="left")
        .join_asof(latest, left_on="assessed_at", right_on="scheduled_at", by="pid", check_sortedness=False)
        .select(
            "pid", "instrument", "score", "assessed_at", "day", "after",
            session_number=pl.coalesce("linked", "latest", 0).cast(pl.Int64),
        )
    )  # fmt: skip


def _in_score_order(x: pl.DataFrame) -> pl.DataFrame:
    """``x`` in ``SCORE_ORDER`` as far as the per-patient functions can tell.

    They take "first" and "latest" within one patient's scores on one instrument, so the order
    of different instruments at one instant is theirs to ignore: rows are sorted by patient, time
    and instrument, and only the few still tied (~90 of a refresh chunk's 1.9M scores) by
    assessment id among themselves. With times in whole seconds the three pack into one integer:
    sorting on it cost half of sorting on the id string (~1 CPU-s a chunk). Otherwise, or should
    the integer not fit, the full sort.
    """
    if x.is_empty():
        return x
    micros = x["assessed_at"].dt.epoch("us")
    since = micros - micros.min()
    seconds = since // 1_000_000
    instruments = len(_ALL_INSTRUMENTS)
    span = int(seconds.max()) + 1
    if (since % 1_000_000 != 0).any() or (int(x["pid"].max()) + 1) * span * instruments >= 2**62:
        return x.sort(*SCORE_ORDER)
    number = pl.col("instrument").replace_strict(
        {name: i for i, name in enumerate(_ALL_INSTRUMENTS)}, return_dtype=pl.Int64
    )
    ordered = x.with_columns(_key=(pl.col("pid") * span + seconds) * instruments + number).sort("_key")
    tied = pl.col("_key") == pl.col("_key").shift(1)
    rows = ordered.select((tied | tied.shift(-1)).fill_null(False).arg_true()).to_series()
    if len(rows):  # each tied run sits in consecutive rows: sorted among themselves, put back there
        runs = ordered[rows].sort("_key", "assessment_id")
        ordered = ordered.with_columns(ordered[c].scatter(rows, runs[c]) for c in ordered.columns)
    return ordered.drop("_key")


# A session id as one 64-bit integer (DuckDB's ``hash``), for linking a score to the session it
# names. Two sessions of one patient sharing a hash would link it to both: with ~100 sessions a
# patient that is ~100/2⁶⁴ (5e-18) per score, far below any error in the data itself.
_SESSION_HASH = "CASE WHEN {column} IS NOT NULL THEN hash({column}) END"


# --- per-patient outcomes ---------------------------------------------------------------


def _rules_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "instrument": r.instrument,
                "kind": r.response_kind,
                "amount": float(r.response_amount),
                "rem_op": r.remission_op,
                "rem_thr": None if r.remission_threshold is None else float(r.remission_threshold),
            }
            for r in RULES.values()
        ],
        schema={
            "instrument": pl.String,
            "kind": pl.String,
            "amount": pl.Float64,
            "rem_op": pl.String,
            "rem_thr": pl.Float64,
        },
    )


def _responds(baseline: pl.Expr, score: pl.Expr) -> pl.Expr:
    """The response rule (needs the rule columns ``kind``/``amount`` joined in)."""
    percent = (baseline > 0) & (100 * (baseline - score) >= pl.col("amount") * baseline - _EPS)
    points = (baseline - score) >= pl.col("amount") - _EPS
    return (
        pl.when(baseline.is_null() | score.is_null())
        .then(None)
        .when(pl.col("kind") == "percent")
        .then(percent)
        .otherwise(points)
    )


def _remits(score: pl.Expr) -> pl.Expr:
    return (
        pl.when(score.is_null())
        .then(None)
        .when(pl.col("rem_op") == "<")
        .then(score < pl.col("rem_thr"))
        .when(pl.col("rem_op") == "<=")
        .then(score <= pl.col("rem_thr"))
        .otherwise(None)
    )


def _pairs_frame() -> pl.DataFrame:
    """Every (condition, instrument shown for it, is it the primary one)."""
    return pl.DataFrame(
        [
            {"condition": c, "instrument": i, "is_primary": p}
            for c in CONDITIONS
            for i, p in instruments_for(c)
        ],
        schema={"condition": pl.String, "instrument": pl.String, "is_primary": pl.Boolean},
    )


def _pair_key() -> pl.Expr:
    """One integer per (patient, instrument): grouping and joining on it is about twice as fast
    as on the (integer, string) pair (the refresh computes ~1M pairs per chunk)."""
    index = {name: i for i, name in enumerate(_ALL_INSTRUMENTS)}
    return pl.col("pid") * len(index) + pl.col("instrument").replace_strict(index, return_dtype=pl.Int64)


def patient_outcomes(cohort: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """One row per (cohort patient, instrument shown for their condition) with every rule applied.

    ``scores`` as ``scores_for`` returns them (in ``SCORE_ORDER``): each window's score is the
    latest (or first) non-null of a column masked to that window, all in one group-by.
    """
    after, day, score = pl.col("after"), pl.col("day"), pl.col("score")
    base = (
        cohort.select("pid", "clinic_id", "clinic_name", "condition")
        .join(_pairs_frame(), on="condition")
        .with_columns(pair=_pair_key())
    )
    windows = scores.select(
        "score",
        pair=_pair_key(),
        baseline=pl.when(~after & (day >= -BASELINE_DAYS)).then(score),
        endpoint=pl.when(after & (day <= ENDPOINT_DAYS)).then(score),
        rapid_score=pl.when(after & (day <= RAPID_DAYS)).then(score),
        durable_score=pl.when(after & day.is_between(*DURABILITY_DAYS)).then(score),
        follow_day=pl.when(after & (day <= FOLLOW_UP_DAYS)).then(day),
    )
    picks = windows.group_by("pair").agg(
        pl.col("baseline", "endpoint", "durable_score").last(ignore_nulls=True),
        pl.col("rapid_score").first(ignore_nulls=True),
        last_day=pl.col("follow_day").max(),
        follow_ups=pl.col("follow_day").count(),
    )
    out = base.join(picks, on="pair", how="left").join(_rules_frame(), on="instrument", how="left")

    # time to response: first follow-up score meeting the rule, else censored at the last one
    events = (
        windows.filter(pl.col("follow_day").is_not_null())
        .select("pair", "score", "follow_day")
        .join(out.select("pair", "baseline", "kind", "amount"), on="pair")
        .filter(_responds(pl.col("baseline"), score).fill_null(False))
        .group_by("pair")
        .agg(event_day=pl.col("follow_day").min())
    )
    out = out.join(events, on="pair", how="left").with_columns(
        # no follow-up score: null, as for a patient with no scores at all
        follow_ups=pl.when(pl.col("follow_ups") > 0).then(pl.col("follow_ups"))
    )

    b, e = pl.col("baseline"), pl.col("endpoint")
    valid_baseline = b.is_not_null() & ((pl.col("kind") != "percent") | (b > 0))
    evaluable = valid_baseline & e.is_not_null()
    rapid_ok = valid_baseline & pl.col("rapid_score").is_not_null()
    responder = evaluable & _responds(b, e).fill_null(False)
    return out.with_columns(
        has_scores=b.is_not_null() | e.is_not_null() | pl.col("follow_ups").is_not_null(),
        evaluable=evaluable,
        responder=responder,
        remitter=pl.when(evaluable & pl.col("rem_op").is_not_null()).then(_remits(e)).otherwise(None),
        change=pl.when(evaluable).then(e - b),
        worsened=evaluable & (e > b) & (e - b >= WORSENING_FRACTION * b - _EPS),
        rapid_evaluable=rapid_ok,
        rapid_responder=rapid_ok & _responds(b, pl.col("rapid_score")).fill_null(False),
        durable_evaluable=responder & pl.col("durable_score").is_not_null(),
        durable_responder=responder & _responds(b, pl.col("durable_score")).fill_null(False),
        km_eligible=valid_baseline & pl.col("follow_ups").is_not_null(),
    ).select(PATIENT_OUTCOME_COLUMNS)


def ideation_outcomes(cohort: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """Depression cohorts: C-SSRS ideation at baseline > 0, and whether the endpoint is lower.

    ``scores`` in ``SCORE_ORDER`` (as ``scores_for`` returns them)."""
    after, day, score = pl.col("after"), pl.col("day"), pl.col("score")
    picks = (
        scores.filter(pl.col("instrument") == IDEATION_INSTRUMENT)
        .group_by("pid")
        .agg(
            baseline=pl.when(~after & (day >= -BASELINE_DAYS)).then(score).last(ignore_nulls=True),
            endpoint=pl.when(after & (day <= ENDPOINT_DAYS)).then(score).last(ignore_nulls=True),
        )
    )
    base = (
        cohort.filter(pl.col("condition").is_in(IDEATION_CONDITIONS))
        .select("pid", "clinic_id", "condition")
        .join(picks, on="pid", how="left")
    )
    eligible = (pl.col("baseline") > 0) & pl.col("endpoint").is_not_null()
    return base.with_columns(
        eligible=eligible.fill_null(False),
        improved=(eligible & (pl.col("endpoint") < pl.col("baseline"))).fill_null(False),
    ).select(IDEATION_COLUMNS)


# --- the viewer's cohort: the refresh's per-patient tables, or the same functions inline ----

_PER_PATIENT = (OUTCOME_PATIENTS, OUTCOME_IDEATION, OUTCOME_SESSION_SCORES)
Pair = tuple[str, str]  # (condition, instrument)


def _tables_present(con: duckdb.DuckDBPyConnection) -> bool:
    # the first sessions too: the session scores take their patients' day-0 attributes from them
    return all(table_exists(con, t, ADDED_COLUMNS.get(t, ())) for t in (*_PER_PATIENT, FIRST_SESSIONS))


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
    return rows.select(  # (a table of the version that stored the key still has it: dropped here)
        pl.col("_patient").rank("dense").cast(pl.Int64).alias("pid"), pl.exclude("_patient", "patient_key")
    )


def cohort_outcomes(
    con: duckdb.DuckDBPyConnection, f: Filters, pair: Pair | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(cohort, ``patient_outcomes``, ``ideation_outcomes``) of the viewer's cohort.

    A patient's outcomes depend on their own history only; the filters only pick the
    cohort. So the refresh computes them for every patient with these very functions
    (``pipelines/outcome_tables.py``) and this reads the cohort's rows; a database
    without those tables (a test fixture, one published before them) gets the same
    functions run inline on the cohort's raw scores. ``pair`` keeps one (condition,
    instrument) of the patient outcomes (pages drawing one pair need no more).
    """
    if not _tables_present(con):
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


def cohort_trajectory(
    con: duckdb.DuckDBPyConnection, f: Filters, condition: str, instrument: str
) -> pl.DataFrame:
    """``_TRAJECTORY`` (unsuppressed) of the cohort's ``session_scores_from`` for one pair."""
    if _tables_present(con):
        # the patients' day-0 attributes from their first session (the score rows carry only the
        # number and day 0); both tables are in day-0 order, so the period prunes both
        where, params = combine(cohort_where(f, "fs", "fs.primary_condition"), period_where(f, "o.day0"))
        source = f"""(SELECT o.session_number, o.score FROM {OUTCOME_SESSION_SCORES} o
                      JOIN {FIRST_SESSIONS} fs ON fs.patient_no = o.patient_no
                      JOIN {CLINICS.name} c ON c.clinic_id = fs.clinic_id
                      WHERE ({where}) AND fs.primary_condition = ? AND o.instrument = ?)"""
        return con.sql(_TRAJECTORY.format(source=source), params=[*params, condition, instrument]).pl()
    cohort, scores = load_outcome_data(con, f)
    patients = cohort.filter(pl.col("condition") == condition)["pid"]
    # a filter, not a join: the scores must stay in SCORE_ORDER for session_scores_from
    pair = pl.col("pid").is_in(patients.implode()) & (pl.col("instrument") == instrument)
    view = f"outcome_session_scores_{uuid.uuid4().hex}"
    con.register(view, session_scores_from(scores.filter(pair)))
    try:
        return con.sql(_TRAJECTORY.format(source=view)).pl()
    finally:
        con.unregister(view)


# Median and IQR by session number: linear-interpolated quartiles (quantile_cont). In DuckDB,
# where the per-patient table is: a year's depression cohort has 660k session scores.
_TRAJECTORY = """
    SELECT CAST(session_number AS BIGINT) AS session_number, count(*) AS n,
           quantile_cont(score, 0.5) AS median, quantile_cont(score, 0.25) AS q1,
           quantile_cont(score, 0.75) AS q3
    FROM {source} GROUP BY session_number ORDER BY session_number"""


# the per-patient tables' own columns besides the rule results: which patient, and the
# day-0 attributes the viewer's filters select on
_KEYS = "patient_no, day0, route, modality"
COHORT_COLUMNS = ("pid", "clinic_id", "clinic_name", "condition", "day0")
PATIENT_OUTCOME_COLUMNS = (
    "pid", "clinic_id", "clinic_name", "condition", "instrument", "is_primary", "baseline", "endpoint",
    "rapid_score", "durable_score", "event_day", "last_day", "follow_ups", "has_scores", "evaluable",
    "responder", "remitter", "change", "worsened", "rapid_evaluable", "rapid_responder",
    "durable_evaluable", "durable_responder", "km_eligible",
)  # fmt: skip
IDEATION_COLUMNS = ("pid", "clinic_id", "condition", "baseline", "endpoint", "eligible", "improved")


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


def _shown_pairs(pairs: pl.DataFrame) -> pl.DataFrame:
    """(condition, instrument, is_primary) to report: primary always, secondaries only when scored."""
    return pairs.filter(pl.col("is_primary") | pl.col("scored")).select(
        "condition", "instrument", "is_primary"
    )


def _scored_pairs(patients: pl.DataFrame) -> pl.DataFrame:
    return patients.group_by("condition", "instrument", "is_primary").agg(scored=pl.col("has_scores").any())


def _ordered(pairs: pl.DataFrame) -> list[tuple[str, str, bool]]:
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
    if _tables_present(con):
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
    for condition, instrument, primary in _ordered(_shown_pairs(totals)):
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


# --- clinics ----------------------------------------------------------------------------


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
    for condition, instrument, _ in _ordered(_shown_pairs(_scored_pairs(patients))):
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


# --- time to response and trajectory ----------------------------------------------------


def time_to_response(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> dict[str, Any]:
    """Kaplan–Meier of days from day 0 to the first score meeting the response rule."""
    patients = cohort_outcomes(con, f, (condition, instrument))[1]
    return time_to_response_from(patients, cfg, condition, instrument)


def time_to_response_from(
    patients: pl.DataFrame, cfg: MetricConfig, condition: str, instrument: str
) -> dict[str, Any]:
    """Curve as the cumulative share responded (1 − Ŝ) with its CI.

    Patients: a valid baseline and at least one follow-up score within
    ``FOLLOW_UP_DAYS``; event at the first score meeting the rule, else
    censored at the last follow-up score. Suppressed as a whole under k
    patients; otherwise the curve stops at the last time with ≥ k at risk and
    numbers at risk under k are hidden (small cells).
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
    if is_suppressed(g.height, cfg) or g.height == 0:
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


def trajectory(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> pl.DataFrame:
    """Median and IQR of the score by administered session number (0 = before treatment)."""
    return trajectory_quartiles(cohort_trajectory(con, f, condition, instrument), cfg)


def session_scores_from(scores: pl.DataFrame) -> pl.DataFrame:
    """One score per (patient, instrument, session number): their latest there.

    Scores before day 0 count only from the baseline window (the loader's
    30-day cut-off). ``scores`` in ``SCORE_ORDER`` (as ``scores_for`` returns them).
    Columns: pid, instrument, session_number, score; in no particular order.
    """
    return scores.group_by("pid", "instrument", "session_number").agg(pl.col("score").last())


def trajectory_quartiles(quartiles: pl.DataFrame, cfg: MetricConfig) -> pl.DataFrame:
    """``cohort_trajectory`` with every cell under k patients suppressed."""
    hide = pl.lit(cfg.suppression_k > 0) & (pl.col("n") < cfg.suppression_k)
    return quartiles.with_columns(
        suppressed=hide,
        **{c: pl.when(hide).then(None).otherwise(pl.col(c)) for c in ("n", "median", "q1", "q3")},
    )


def outcome_detail(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, condition: str, instrument: str
) -> dict[str, Any]:
    """Everything the page draws for one (condition, instrument) from a single load:
    ``time_to_response`` (dict), ``trajectory`` (frame), ``clinics`` (frame) and ``network`` (dict)."""
    patients = cohort_outcomes(con, f, (condition, instrument))[1]
    clinics, network = comparison_from(patients, cfg, condition, instrument)
    return {
        "time_to_response": time_to_response_from(patients, cfg, condition, instrument),
        "trajectory": trajectory_quartiles(cohort_trajectory(con, f, condition, instrument), cfg),
        "clinics": clinics,
        "network": network,
    }
