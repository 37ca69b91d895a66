"""Per-patient outcome tables, kept up to date by every refresh (docs/performance.md).

A patient's outcome figures — baseline and endpoint scores, response, remission,
time to response, their score at each session number — depend on that patient's
own history only. The viewer's filters merely choose which patients (the cohort)
are counted. Computing them per page view meant loading a 365-day cohort's ~2M
scores into Polars (2-8 s at network scale); the refresh computes them once, with
the very functions the metrics run inline on a database without these tables
(``pipelines.model.patient_outcomes``: ``patient_outcomes``, ``ideation_outcomes``,
``session_scores_from``), and the metrics read the cohort's rows.

Each row carries the patient's number (``patient_no``: the refresh replaces a patient's rows
by it; not the key, whose strings cost ~15% of the rows' writes) and day 0; the patient and
ideation rows also the day-0 attributes (clinic, route, modality, condition) so the cohort
filters apply to them directly, while a session-score row (there are ~8 per patient) is joined
to the patient's first session for them. Rows are stored in day-0 order so a period reads only
its row groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import duckdb
import polars as pl

from pipelines.marts import (
    FIRST_SESSIONS,
    OUTCOME_IDEATION,
    OUTCOME_PATIENTS,
    OUTCOME_SESSION_SCORES,
    TOUCHED_ONLY,
)
from pipelines.model.patient_outcomes import (
    cohort_columns,
    ideation_outcomes,
    keyed_cohort,
    patient_outcomes,
    scores_for,
    session_scores_from,
)

TABLES = (OUTCOME_PATIENTS, OUTCOME_IDEATION, OUTCOME_SESSION_SCORES)
SCORES_PER_CHUNK = 2_000_000  # bounds the refresh's memory: ~1 GB of Polars frames per chunk


def compute(con: duckdb.DuckDBPyConnection, keyed: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The three tables' rows for the patients of ``keyed`` (``keyed_cohort``), in its order.

    ``pid`` is renumbered to the row's position, so each result, sorted by ``pid``, takes its
    patients' columns by position (a gather, not a join on the keys: with the sort the old
    join needed, ~1 s of each network-scale chunk) and comes out in ``keyed``'s row order.
    """
    keyed = keyed.with_columns(pid=pl.int_range(pl.len(), dtype=pl.Int64))
    cohort = cohort_columns(keyed)
    scores = scores_for(con, keyed)
    frames = {
        OUTCOME_PATIENTS: patient_outcomes(cohort, scores).drop("clinic_name"),
        OUTCOME_IDEATION: ideation_outcomes(cohort, scores),
        OUTCOME_SESSION_SCORES: session_scores_from(scores),
    }
    out = {}
    for name, frame in frames.items():
        frame = frame.sort("pid")
        # the session scores (~8M rows) carry no day-0 strings: a reader takes them from the first
        # sessions by number (their strings were ~80% of the table's writes)
        attributes = () if name == OUTCOME_SESSION_SCORES else ("route", "modality")
        columns = keyed.select("patient_no", "day0", *attributes)
        out[name] = pl.concat([frame.drop("pid"), columns[frame["pid"]]], how="horizontal")
    return out


def rebuild(con: duckdb.DuckDBPyConnection, meanwhile: Callable[[], None] | None = None) -> None:
    """All patients, in chunks of consecutive day 0s so memory stays bounded at 10M sessions.

    Chunks in day-0 order leave the tables in day-0 order without a final sort (26 s for
    8M session scores) and let each chunk's scores query skip the row groups before it.
    The next chunk is computed on a thread, through its own cursor, while this one is
    written: Polars' rules and DuckDB's writes each leave a core idle much of the time
    (docs/performance.md). One chunk ahead at most, so memory stays bounded. ``meanwhile``
    runs on ``con`` while the first chunk is computed, when there is nothing to write yet.
    The cohort is read from ``patient_first_sessions``, which the refresh builds first.
    """
    keyed = keyed_cohort(con, "TRUE", [], first_sessions=FIRST_SESSIONS, numbered=True)
    keyed = keyed.sort("day0", "patient_no")
    [(n_scores,)] = con.execute("SELECT count(*) FROM assessments").fetchall()
    chunks = max(1, math.ceil(n_scores / SCORES_PER_CHUNK))
    size = math.ceil(keyed.height / chunks) or 1
    reader = con.cursor()  # the thread's queries never share the writer's connection

    def chunk_rows(i: int) -> dict[str, pl.DataFrame]:
        return compute(reader, keyed.slice(i * size, size))  # in keyed's (day 0, number) order

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ketaops-outcomes") as pool:
            ahead = pool.submit(chunk_rows, 0)
            if meanwhile is not None:
                meanwhile()
            for i in range(chunks):
                frames = ahead.result()
                if i + 1 < chunks:
                    ahead = pool.submit(chunk_rows, i + 1)
                for name, frame in frames.items():
                    _write(con, name, frame, create=i == 0)
    finally:
        reader.close()


def update_touched(con: duckdb.DuckDBPyConnection) -> None:
    """Bring the rows of the patients this run's load touched (``marts.TOUCHED_NUMBERS``) up to date."""
    keyed = keyed_cohort(con, f"fs.{TOUCHED_ONLY}", [], first_sessions=FIRST_SESSIONS, numbered=True)
    frames = compute(con, keyed)
    for name, frame in frames.items():
        _replace_changed(con, name, frame.sort("day0"))


def _replace_changed(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Delete the touched patients' rows ``frame`` no longer holds; insert the rows it adds.

    Most rows of a day's touched patients do not change (a long-treated patient's new
    session or score leaves their outcome rows as they were): of ~58,000 recomputed rows
    ~13,000 differ. Deleting and re-inserting them all cost ~0.3 s more at the checkpoint
    (docs/performance.md). A row is one patient's (and instrument's, and session number's):
    no two are equal, so comparing whole rows is exact.
    """
    view = f"_{table}_frame"
    same = " AND ".join(f"n.{c} IS NOT DISTINCT FROM o.{c}" for c in frame.columns)
    con.register(view, frame)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _stored AS SELECT rowid AS _rid, {', '.join(frame.columns)} "
            f"FROM {table} WHERE {TOUCHED_ONLY}"
        ).fetchall()
        con.execute(
            f"DELETE FROM {table} WHERE rowid IN (SELECT o._rid FROM _stored o ANTI JOIN {view} n ON {same})"
        ).fetchall()
        con.execute(
            f"INSERT INTO {table} BY NAME SELECT n.* FROM {view} n ANTI JOIN _stored o ON {same}"
        ).fetchall()
    finally:
        con.unregister(view)
        con.execute("DROP TABLE IF EXISTS _stored").fetchall()


def _write(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, *, create: bool) -> None:
    view = f"_{table}_frame"
    con.register(view, frame)
    try:
        if create:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {view}").fetchall()
        else:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}").fetchall()
    finally:
        con.unregister(view)
