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
from datetime import date, timedelta

import duckdb
import polars as pl

from pipelines.contract import ASSESSMENTS, CLINICS, CONDITIONS, PATIENTS, SESSIONS
from pipelines.model.outcome_rules import (
    BASELINE_DAYS,
    DURABILITY_DAYS,
    DURABLE_MATURE_DAYS,
    ENDPOINT_DAYS,
    FOLLOW_UP_DAYS,
    IDEATION_CONDITIONS,
    IDEATION_INSTRUMENT,
    IDEATION_SIGNAL,
    MATURE_DAYS,
    RAPID_DAYS,
    RULES,
    WORSENING_FRACTION,
    WORSENING_MIN_POINTS,
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
                   fs.session_id AS day0_session, fs.route, fs.modality
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
    cols = f"patient_key, {number}pid, clinic_id, clinic_name, condition, day0, day0_session, route, modality"
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

    Columns: pid, instrument, score, assessed_at, day, after, linked, session_number.
    ``day`` = calendar days from day 0's date; ``linked`` = the score names the day-0 session
    (``session_id``): a baseline whatever its time, so a pre-infusion questionnaire logged a
    few minutes late is not a follow-up; ``after`` = assessed after day 0's exact time and not
    linked. ``session_number`` (the loader's numbering of administered sessions): that of the
    session named by ``session_id`` when given (and administered, same patient), else of the
    latest administered session at or before ``assessed_at``, else 0 (before treatment).
    Patient keys stay inside this function (the cohort is handed over as a registered frame).
    In ``SCORE_ORDER`` within each patient's instrument (the assessment id breaks ties, then is
    dropped), which the per-patient functions rely on. A cohort with ``patient_no`` (the
    refresh's) is joined on that integer: a day's few hundred long-treated patients make these
    joins read every score and session (docs/performance.md).

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
    con.register(view, keyed.select(key, "pid", "day0", "day0_session"))
    try:
        x = con.sql(
            f"""
            SELECT k.pid, s.instrument, s.score, s.assessed_at, s.assessment_id,
                   {_SESSION_HASH.format(column="s.session_id")} AS session_hash,
                   date_diff('day', CAST(k.day0 AS DATE), CAST(s.assessed_at AS DATE)) AS day,
                   coalesce(s.session_id = k.day0_session, false) AS linked,
                   s.assessed_at > k.day0 AND NOT coalesce(s.session_id = k.day0_session, false) AS after
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
    named = adm.select("pid", "session_hash", named_number="session_number")
    latest = adm.select("pid", "scheduled_at", latest="session_number").sort("pid", "scheduled_at", "latest")
    return (
        _in_score_order(x)  # the as-of join's order, and the one the per-patient functions need
        .join(named, on=["pid", "session_hash"], how="left", maintain_order="left")
        .join_asof(latest, left_on="assessed_at", right_on="scheduled_at", by="pid", check_sortedness=False)
        .select(
            "pid", "instrument", "score", "assessed_at", "day", "after", "linked",
            session_number=pl.coalesce("named_number", "latest", 0).cast(pl.Int64),
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
                "reliable": None if r.reliable_change is None else float(r.reliable_change),
            }
            for r in RULES.values()
        ],
        schema={
            "instrument": pl.String,
            "kind": pl.String,
            "amount": pl.Float64,
            "rem_op": pl.String,
            "rem_thr": pl.Float64,
            "reliable": pl.Float64,
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
    after, day, score, linked = pl.col("after"), pl.col("day"), pl.col("score"), pl.col("linked")
    base = (
        cohort.select("pid", "clinic_id", "clinic_name", "condition")
        .join(_pairs_frame(), on="condition")
        .with_columns(pair=_pair_key())
    )
    windows = scores.select(
        "score",
        pair=_pair_key(),
        linked_baseline=pl.when(linked).then(score),
        window_baseline=_window_baseline(),
        endpoint=pl.when(after & (day <= ENDPOINT_DAYS)).then(score),
        rapid_score=pl.when(after & (day <= RAPID_DAYS)).then(score),
        durable_score=pl.when(after & day.is_between(*DURABILITY_DAYS)).then(score),
        follow_day=pl.when(after & (day <= FOLLOW_UP_DAYS)).then(day),
    )
    picks = windows.group_by("pair").agg(
        pl.col("linked_baseline", "window_baseline", "endpoint", "durable_score").last(ignore_nulls=True),
        pl.col("rapid_score").first(ignore_nulls=True),
        last_day=pl.col("follow_day").max(),
        follow_ups=pl.col("follow_day").count(),
    )
    out = (
        base.join(picks, on="pair", how="left")
        .join(_rules_frame(), on="instrument", how="left")
        .with_columns(  # the score linked to the day-0 session wins (metrics.md "Baseline")
            baseline=pl.coalesce("linked_baseline", "window_baseline"),
            baseline_linked=pl.col("linked_baseline").is_not_null(),
        )
    )

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
        worsened=evaluable & _worsens(b, e),
        rapid_evaluable=rapid_ok,
        rapid_responder=rapid_ok & _responds(b, pl.col("rapid_score")).fill_null(False),
        durable_evaluable=responder & pl.col("durable_score").is_not_null(),
        durable_responder=responder & _responds(b, pl.col("durable_score")).fill_null(False),
        km_eligible=valid_baseline & pl.col("follow_ups").is_not_null(),
    ).select(PATIENT_OUTCOME_COLUMNS)


def _window_baseline() -> pl.Expr:
    """A score of the baseline window: at or before day 0's time, at most 30 days before, not
    linked to the day-0 session (a linked score is the baseline whatever its time)."""
    return pl.when(~pl.col("after") & ~pl.col("linked") & (pl.col("day") >= -BASELINE_DAYS)).then(
        pl.col("score")
    )


def _worsens(baseline: pl.Expr, endpoint: pl.Expr) -> pl.Expr:
    """A reliable rise (metrics.md v2): the instrument's points where it has a threshold (``reliable``
    joined in), else ≥ 20% of baseline and ≥ 2 points."""
    rise = endpoint - baseline
    by_share = (rise >= WORSENING_FRACTION * baseline - _EPS) & (rise >= WORSENING_MIN_POINTS - _EPS)
    return (
        pl.when(pl.col("reliable").is_not_null())
        .then(rise >= pl.col("reliable") - _EPS)
        .otherwise((rise > 0) & by_share)
    )


def ideation_outcomes(cohort: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """Depression cohorts: C-SSRS ideation at baseline > 0, and whether the endpoint is lower;
    and the safety signal: the first score after day 0 of at least ``IDEATION_SIGNAL`` above the
    baseline (any such score when there is no baseline), at any time after day 0.

    ``scores`` in ``SCORE_ORDER`` (as ``scores_for`` returns them)."""
    after, day, score = pl.col("after"), pl.col("day"), pl.col("score")
    ideation = scores.filter(pl.col("instrument") == IDEATION_INSTRUMENT)
    picks = ideation.group_by("pid").agg(
        pl.coalesce(
            pl.when(pl.col("linked")).then(score).last(ignore_nulls=True),
            _window_baseline().last(ignore_nulls=True),
        ).alias("baseline"),
        endpoint=pl.when(after & (day <= ENDPOINT_DAYS)).then(score).last(ignore_nulls=True),
        peak_after=pl.when(after).then(score).max(),
    )
    rises = (
        ideation.filter(after & (score >= IDEATION_SIGNAL))
        .join(picks.select("pid", "baseline"), on="pid", maintain_order="left")
        .filter(pl.col("baseline").is_null() | (score > pl.col("baseline")))
        .group_by("pid")
        .agg(rose_at=pl.col("assessed_at").first(), rose_to=pl.col("score").first())
    )
    picks = picks.join(rises, on="pid", how="left")
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


# --- maturity and caseness: applied when the rows are read ---------------------------------


def settled_sql(source: str) -> str:
    """The rows of ``source`` (``PATIENT_OUTCOME_COLUMNS`` and ``day0``) with maturity and caseness
    applied (metrics.md v2), with ``mature``, ``maturing`` and ``below_caseness`` added.

    A patient's rule results depend on their own history only, so the refresh stores them; whether
    they count depends on the data's last date (maturity moves with every refresh) and on the
    configured caseness thresholds, so both are applied here, on the stored rows and on rows
    computed inline alike. Evaluable (and every figure counted over it) needs day 0 at least
    ``MATURE_DAYS`` before the data's last date and a baseline at or above caseness; durability
    ``DURABLE_MATURE_DAYS``; time to response only caseness (the curve censors the young).
    Parameters: ``settled_params``.
    """
    ok, durable_ok = "(mature AND cased)", "(durable_mature AND cased)"
    return f"""
        SELECT * EXCLUDE (cased, durable_mature) REPLACE (
                   evaluable AND {ok} AS evaluable, responder AND {ok} AS responder,
                   CASE WHEN {ok} THEN remitter END AS remitter, CASE WHEN {ok} THEN change END AS change,
                   worsened AND {ok} AS worsened, rapid_evaluable AND {ok} AS rapid_evaluable,
                   rapid_responder AND {ok} AS rapid_responder,
                   durable_evaluable AND {durable_ok} AS durable_evaluable,
                   durable_responder AND {durable_ok} AS durable_responder,
                   km_eligible AND cased AS km_eligible),
               NOT mature AS maturing, coalesce(baseline IS NOT NULL AND NOT cased, false) AS below_caseness
        FROM (
            SELECT *, coalesce(CAST(day0 AS DATE) <= CAST(? AS DATE), false) AS mature,
                   coalesce(CAST(day0 AS DATE) <= CAST(? AS DATE), false) AS durable_mature,
                   coalesce(baseline >= {_CASENESS_CASE}, false) AS cased
            FROM {source})"""


def settled_params(last_date: date | None, caseness: dict[str, float]) -> list[object]:
    """Parameters of ``settled_sql``: the maturity cut-offs from the data's last date (None: no
    sessions, nobody mature) and the caseness threshold of each instrument."""
    cut = [
        None if last_date is None else last_date - timedelta(days=n)
        for n in (MATURE_DAYS, DURABLE_MATURE_DAYS)
    ]
    return [*cut, *(v for inst in RULES for v in (inst, float(caseness[inst])))]


_CASENESS_CASE = "CASE instrument " + " ".join("WHEN ? THEN ?" for _ in RULES) + " END"


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
    "baseline_linked", "rapid_score", "durable_score", "event_day", "last_day", "follow_ups", "has_scores",
    "evaluable",
    "responder", "remitter", "change", "worsened", "rapid_evaluable", "rapid_responder",
    "durable_evaluable", "durable_responder", "km_eligible",
)  # fmt: skip
IDEATION_COLUMNS = (
    "pid", "clinic_id", "condition", "baseline", "endpoint", "eligible", "improved", "peak_after", "rose_at",
    "rose_to",
)  # fmt: skip
