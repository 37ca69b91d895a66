"""Each patient's outcomes under the rule table (metrics.md "Outcomes").

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

A patient's outcomes depend on their own history only: the refresh computes them for every
patient (``pipelines.marts.outcome_tables``) with the very functions the dashboard's outcome
metrics run inline on a database without those tables (``dashboard.metrics.outcomes``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import duckdb
import polars as pl

from pipelines.contract import ASSESSMENTS, CLINICS, CONDITIONS, PATIENTS, SESSIONS
from pipelines.model.outcome_rules import (
    BASELINE_DAYS,
    DURABILITY_DAYS,
    ENDPOINT_DAYS,
    FOLLOW_UP_DAYS,
    IDEATION_CONDITIONS,
    IDEATION_INSTRUMENT,
    RAPID_DAYS,
    RULES,
    WORSENING_FRACTION,
    instruments_for,
)

_ALL_INSTRUMENTS = (*RULES, IDEATION_INSTRUMENT)
_EPS = 1e-9  # float slack so 35% of 20 (7.000000000000001) counts a 7-point drop


def _cohort_sql(where: str, first_sessions: str, numbered: bool = False) -> str:
    """CTE ``cohort``: patients of ``first_sessions`` (day 0, its clinic, route, modality) meeting ``where``.

    ``first_sessions`` is the refresh's ``patient_first_sessions`` table (day 0 = first
    administered session, ties on ``scheduled_at`` to the lower ``session_id``), so finding
    day 0 no longer groups every patient's whole history (7 s at 10M sessions); on a database
    without it, the same SQL inline (``pipelines.compat.first_sessions_source``).
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


def keyed_cohort(
    con: duckdb.DuckDBPyConnection,
    where: str,
    params: list[object],
    *,
    first_sessions: str,
    numbered: bool = False,
) -> pl.DataFrame:
    """Cohort patients meeting ``where``, with their keys (for a second query; never returned to a page).

    ``first_sessions`` is the FROM-clause source of first sessions (``_cohort_sql``).
    ``numbered`` (the refresh) adds ``patient_no``, which ``scores_for`` then joins on.
    """
    number = "patient_no, " if numbered else ""
    cols = f"patient_key, {number}pid, clinic_id, clinic_name, condition, day0, route, modality"
    cohort = _cohort_sql(where, first_sessions, numbered)
    sql = f"WITH {cohort} SELECT {cols} FROM cohort ORDER BY pid"
    return con.sql(sql, params=params).pl()


def cohort_columns(keyed: pl.DataFrame) -> pl.DataFrame:
    """A keyed cohort without its keys: one row per patient with pid (a per-query number,
    not an identifier), clinic, condition and day 0."""
    return keyed.select(COHORT_COLUMNS)


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
    # (stored in time order; the assessments are not, see marts.time_order.CLUSTERED)
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


def session_scores_from(scores: pl.DataFrame) -> pl.DataFrame:
    """One score per (patient, instrument, session number): their latest there.

    Scores before day 0 count only from the baseline window (the loader's
    30-day cut-off). ``scores`` in ``SCORE_ORDER`` (as ``scores_for`` returns them).
    Columns: pid, instrument, session_number, score; in no particular order.
    """
    return scores.group_by("pid", "instrument", "session_number").agg(pl.col("score").last())


# The per-patient frames' columns (and the refresh's outcome tables', besides their own: which
# patient, and the day-0 attributes the viewer's filters select on)
COHORT_COLUMNS = ("pid", "clinic_id", "clinic_name", "condition", "day0")
PATIENT_OUTCOME_COLUMNS = (
    "pid", "clinic_id", "clinic_name", "condition", "instrument", "is_primary", "baseline", "endpoint",
    "rapid_score", "durable_score", "event_day", "last_day", "follow_ups", "has_scores", "evaluable",
    "responder", "remitter", "change", "worsened", "rapid_evaluable", "rapid_responder",
    "durable_evaluable", "durable_responder", "km_eligible",
)  # fmt: skip
IDEATION_COLUMNS = ("pid", "clinic_id", "condition", "baseline", "endpoint", "eligible", "improved")
