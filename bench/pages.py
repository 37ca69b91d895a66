"""Page benchmarks: each page's query set (cold and warm), AppTest render, server RSS.

A page's *query set* is every cached query call one render of the page makes. It
is captured by running the page once in ``AppTest`` with the calls recorded
(``dashboard.queries.cache.observing``), then replayed outside Streamlit for 20+
filter combinations:
- cold: each metric function on a fresh read cursor, no cache (the published file stays
  attached between reads, as in the server; ``first_read``: the first combination on a file
  attached afresh, as after a publish), replayed as the page reads: the calls of each
  ``queries.prefetch`` started on ``PREFETCH_THREADS`` threads where the page starts them,
  the page's own calls in order, a call a prefetch started waited for;
- warm: the same calls through ``st.cache_data`` after a first call, one after another.
The baseline is one hand-written DuckDB statement computing the page's
headline aggregates straight from the raw tables.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from dashboard import queries
from dashboard.db import connect, detach_idle
from dashboard.metrics.filters import Filters
from dashboard.queries.cache import CachedQuery, observing

PAGES = ("overview", "throughput", "clinic", "safety", "outcomes", "data")

# One statement per page over the raw tables: the floor a hand-tuned query would reach.
BASELINE_SQL: dict[str, str] = {
    "overview": """
        WITH s AS (SELECT clinic_id, count(*) n,
                          count(*) FILTER (status IN ('completed','stopped_early')) adm,
                          count(*) FILTER (status = 'no_show') ns
                   FROM sessions WHERE CAST(scheduled_at AS DATE) BETWEEN ? AND ? GROUP BY ALL),
             a AS (SELECT clinic_id, count(*) ae, count(*) FILTER (serious) sae FROM adverse_events
                   WHERE CAST(onset_at AS DATE) BETWEEN ? AND ? GROUP BY ALL)
        SELECT * FROM s LEFT JOIN a USING (clinic_id)""",
    "throughput": """
        SELECT clinic_id, date_trunc('week', scheduled_at) wk, status, count(*) n,
               sum(duration_min + coalesce(recovery_min, 0)) chair_min
        FROM sessions WHERE CAST(scheduled_at AS DATE) BETWEEN ? AND ? GROUP BY ALL""",
    "clinic": """
        SELECT clinic_id = ? AS this_clinic, date_trunc('week', scheduled_at) wk, status, count(*) n
        FROM sessions WHERE CAST(scheduled_at AS DATE) BETWEEN ? AND ? GROUP BY ALL""",
    "safety": """
        SELECT a.clinic_id, a.category, a.severity_grade, a.serious, s.route, count(*) n
        FROM adverse_events a LEFT JOIN sessions s USING (session_id)
        WHERE CAST(a.onset_at AS DATE) BETWEEN ? AND ? GROUP BY ALL""",
    "outcomes": """
        WITH first AS (SELECT patient_key, min(scheduled_at) d0 FROM sessions
                       WHERE status IN ('completed','stopped_early') GROUP BY ALL)
        SELECT p.primary_condition, x.instrument, count(DISTINCT x.patient_key) n, avg(x.score) mean_score
        FROM first f JOIN patients p USING (patient_key) JOIN assessments x USING (patient_key)
        WHERE CAST(f.d0 AS DATE) BETWEEN ? AND ?
          AND x.assessed_at BETWEEN f.d0 - INTERVAL 30 DAY AND f.d0 + INTERVAL 42 DAY
        GROUP BY ALL""",
    "data": """
        SELECT reason, source_file, count(*) n FROM rejected_rows GROUP BY ALL""",
}


def _baseline_params(page: str, f: Filters) -> list[Any]:
    if page == "overview":
        return [f.start, f.end, f.start, f.end]
    if page == "clinic":
        return [f.clinic_ids[0] if f.clinic_ids else "", f.start, f.end]
    if page == "data":
        return []
    return [f.start, f.end]


@dataclass(frozen=True)
class Call:
    """One cached query call, with its bound arguments (``observing``)."""

    query: CachedQuery[..., Any]
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]

    def cached(self) -> object:
        return self.query(*self.args, **dict(self.kwargs))

    def uncached(self, db: Path) -> object:
        with connect(db) as con:
            return self.query.metric(con, *self.args, **dict(self.kwargs))


# Reads every page's header makes: a page whose calls are all of these drew no figure.
HEADER_QUERIES = frozenset({queries.data_last_date, queries.data_as_of, queries.clinic_freshness})


class _Listed(Exception):
    """Raised by the recorder for a call a prefetch would make: listed, not run."""


@dataclass(frozen=True)
class Step:
    """One step of a page's reads: its own call (``prefetch=False``, one call) or a ``queries.prefetch``."""

    prefetch: bool
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class PageFigures:
    page: str
    calls: int
    cold_p50: float
    cold_p95: float
    warm_p50: float
    warm_p95: float
    baseline_p50: float
    render_seconds: float
    first_read: float  # the first combination's cold set on a file attached afresh (after a publish)

    @property
    def cold_vs_baseline(self) -> float:
        return self.cold_p50 / self.baseline_p50 if self.baseline_p50 else float("nan")


def warm_imports() -> float:
    """Import every dashboard module (and so Plotly, SciPy …) once; returns the seconds taken.

    A running server pays these imports once, at its first page view; the render figure is
    what every later view of a page costs with nothing of its data cached, so the imports
    are measured and reported on their own line instead of inside the first page's render.
    """
    import importlib
    import pkgutil

    import dashboard

    start = time.perf_counter()
    for mod in pkgutil.walk_packages(dashboard.__path__, "dashboard."):
        if not mod.name.startswith(("dashboard.views", "dashboard.app")):
            importlib.import_module(mod.name)
    importlib.import_module("scipy.stats")
    return time.perf_counter() - start


def capture_calls(db: Path, page: str) -> tuple[list[Step], float]:
    """Render ``page`` once in AppTest; return the reads it made, in order, and the render seconds.

    A ``queries.prefetch`` is recorded as one step holding the calls its reads make (each read
    is run once with its call only listed, then the real prefetch runs, so the render is the
    page's own); the page's own calls are steps of one call each.
    """
    from streamlit.testing.v1 import AppTest

    os.environ["KETAOPS_DB"] = str(db)
    steps: list[Step] = []
    dry = threading.local()  # set while a prefetch's reads are listed, not run
    original_prefetch = queries.prefetch

    def recording(query: CachedQuery[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        call = Call(query, args, tuple(sorted(kwargs.items())))
        if getattr(dry, "calls", None) is not None:
            dry.calls.append(call)
            raise _Listed
        if threading.current_thread().name != queries.PREFETCH_THREAD_NAME:  # listed by ``prefetching``
            steps.append(Step(False, (call,)))

    def prefetching(*reads: Callable[[], object]) -> None:
        dry.calls = []
        try:
            for read in reads:
                with suppress(Exception):  # ``_Listed``, once the read's call is listed
                    read()
            steps.append(Step(True, tuple(dry.calls)))
        finally:
            dry.calls = None
        original_prefetch(*reads)

    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    queries.prefetch = prefetching  # type: ignore[assignment]  # pages call it as ``queries.prefetch``
    try:
        import streamlit as st

        st.cache_data.clear()  # a cold render: nothing cached yet
        st.cache_resource.clear()
        at = AppTest.from_file(str(app), default_timeout=300)
        at.switch_page(f"views/{page}.py")
        with observing(recording):
            start = time.perf_counter()
            at.run()
            render = time.perf_counter() - start
        if at.exception:
            raise RuntimeError(f"{page} raised: {at.exception[0].value}")
    finally:
        queries.prefetch = original_prefetch  # type: ignore[assignment]
    calls = distinct_calls(steps)
    # every page but Data draws some metric beyond the header's
    if page != "data" and all(c.query in HEADER_QUERIES for c in calls):
        raise RuntimeError(f"{page}: no metric call was recorded (is the page empty on this database?)")
    return steps, render


def distinct_calls(steps: list[Step]) -> list[Call]:
    """Every call of the steps once, in the order first made."""
    seen: dict[Call, None] = {}
    for step in steps:
        for c in step.calls:
            seen.setdefault(c, None)
    return list(seen)


def replay(steps: list[Step], run: Callable[[Call], object]) -> None:
    """Make the steps' calls as the page does: a prefetch's calls on ``PREFETCH_THREADS`` threads,
    the page's own in order; a call already started is waited for, not made again (as
    ``st.cache_data`` has the page wait for it)."""
    with ThreadPoolExecutor(queries.PREFETCH_THREADS) as pool:
        started: dict[Call, Future[object]] = {}
        for step in steps:
            for c in step.calls:
                if c in started:
                    if not step.prefetch:
                        started[c].result()
                elif step.prefetch:
                    started[c] = pool.submit(run, c)
                else:
                    done: Future[object] = Future()
                    done.set_result(run(c))
                    started[c] = done
        for future in started.values():
            future.result()  # a prefetched call the page never waited for still counts


def filter_combinations(base: Filters, clinic_ids: list[str], regions: list[str], n: int) -> list[Filters]:
    """``n`` different, realistic filter sets (periods, clinic subsets, regions, conditions, routes)."""
    rng = random.Random(20261125)
    periods = [30, 90, 365, 182]
    out: list[Filters] = []
    while len(out) < n:
        days = rng.choice(periods)
        f = replace(base, start=base.end - timedelta(days=days - 1))
        pick = rng.random()
        if pick < 0.3:
            k = min(len(clinic_ids), rng.randint(1, 5))
            f = f.with_clinics(tuple(sorted(rng.sample(clinic_ids, k=k))))
        elif pick < 0.5 and regions:
            f = replace(f, regions=(rng.choice(regions),))
        elif pick < 0.7:
            f = replace(f, conditions=(rng.choice(["depression", "ptsd", "anxiety"]),))
        elif pick < 0.8:
            f = replace(f, routes=("iv",))
        if f not in out:
            out.append(f)
    return out


def _swap_filters(call: Call, f: Filters) -> Call:
    """The call with the combination's filters; a one-clinic call (the Clinic page's clinic)
    keeps its clinic, so replaying it does not turn it into a network query."""

    def swapped(a: Filters) -> Filters:
        return replace(f, clinic_ids=a.clinic_ids) if len(a.clinic_ids) == 1 else f

    args = tuple(swapped(a) if isinstance(a, Filters) else a for a in call.args)
    return replace(call, args=args)


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_page(db: Path, page: str, combos: list[Filters]) -> PageFigures:
    steps, render = capture_calls(db, page)
    cold, warm, base = [], [], []
    first_read = float("nan")

    def run_uncached(c: Call) -> object:
        return c.uncached(db)

    for i, f in enumerate(combos):
        swapped = [replace(s, calls=tuple(_swap_filters(c, f) for c in s.calls)) for s in steps]

        def run_cold(swapped: list[Step] = swapped) -> None:
            replay(swapped, run_uncached)

        def run_cached(swapped: list[Step] = swapped) -> None:
            for c in distinct_calls(swapped):
                c.cached()

        if i == 0:  # the server's first read after a publish: the new file is not attached yet
            detach_idle()
            first_read = _time(run_cold)
        cold.append(_time(run_cold))
        run_cached()  # fill the cache
        warm.append(_time(run_cached))
        with connect(db) as con:
            sql, params = BASELINE_SQL[page], _baseline_params(page, f)
            base.append(_time(lambda con=con, sql=sql, params=params: con.sql(sql, params=params).fetchall()))
    return PageFigures(
        page=page,
        calls=len(distinct_calls(steps)),
        cold_p50=statistics.median(cold),
        cold_p95=_p95(cold),
        warm_p50=statistics.median(warm),
        warm_p95=_p95(warm),
        baseline_p50=statistics.median(base),
        render_seconds=render,
        first_read=first_read,
    )


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
