"""The dashboard's only door to the database: cached, read-only, parameterised.

Pages never run SQL or compute a metric; they call these functions. Each one
opens a short read-only connection (``dashboard.db.connect``) and calls the
single implementation in ``dashboard/metrics/``. Results are cached with
``st.cache_data`` keyed on the published version the page run pinned
(``data_version``) and read from that version's immutable file, so a refresh
is picked up on the next rerun without a restart, an old entry is never
served for a new version, and one page never mixes two versions.

Metric modules are imported lazily: a module (or function) that has not been
written yet makes ``available()`` false, and pages hide that figure.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st
from streamlit.runtime.scriptrunner import (
    RerunException,
    StopException,
    add_script_run_ctx,
    get_script_run_ctx,
)

from dashboard import data_version
from dashboard.db import connect, db_path, db_version
from dashboard.metrics.config import MetricConfig, load_config
from dashboard.metrics.filters import Filters
from pipelines.publish import side_runs_path

Grain = str  # "day" | "week" | "month"


class NoDatabase(RuntimeError):
    """The published database does not exist yet."""


def database_exists() -> bool:
    return db_version() is not None


def _key(runs: bool = False) -> tuple[str, str]:
    """(version, path) every cache entry is keyed on, and the file the entry is read from.

    The version is the one this page run pinned (``data_version``): every read of a run reads
    one immutable version file, whatever is published meanwhile; outside a page run, the one
    published now. ``runs=True`` (the refresh history and the header's last refresh) adds that
    of the runs log beside the published path: a refresh that failed or found nothing new
    records its run there and leaves the database, and so every other cached figure, as it was.
    """
    pin = data_version.pinned() or data_version.resolve(db_path())
    if pin is None:
        raise NoDatabase(str(db_path()))
    version = pin.version
    if runs:
        version += f"|{db_version(side_runs_path(db_path())) or ''}"
    return version, _resolved(str(pin.path))


@functools.lru_cache(maxsize=16)
def _resolved(path: str) -> str:
    """The absolute path (resolving on every cached call showed in warm-page profiles)."""
    return str(Path(path).resolve())


def _resolve(module: str, name: str) -> Callable[..., Any] | None:
    try:
        mod = importlib.import_module(f"dashboard.metrics.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"dashboard.metrics.{module}":
            raise
        return None
    return getattr(mod, name, None)


def available(module: str, name: str) -> bool:
    """Whether ``dashboard.metrics.<module>.<name>`` exists (figures depending on it are hidden otherwise)."""
    return _resolve(module, name) is not None


def call_key(*parts: Any) -> str:
    """One short string identifying a call's arguments, hashed by ``st.cache_data`` instead of them.

    Streamlit hashes a Filters (a tuple of up to hundreds of clinic ids) value by value in
    Python, which dominated a warm page; ``repr`` of the frozen dataclasses, dates, tuples
    and scalars the metrics take is exact and ~50× cheaper to hash.
    """
    return repr(parts)


# Every cache is bounded in entries and in time: entries of a replaced version are never read
# again, and a server up for weeks must not keep them until evicted by count alone.
CACHE_TTL = "1h"


@st.cache_data(show_spinner=False, max_entries=2048, ttl=CACHE_TTL)
def _cached_metric(
    version: str,
    path: str,
    key: str,
    _module_name: tuple[str, str],
    _args: tuple[Any, ...],
    _kwargs: tuple[tuple[str, Any], ...],
) -> Any:
    module, name = _module_name
    fn = _resolve(module, name)
    if fn is None:
        raise LookupError(f"dashboard.metrics.{module}.{name} is not available")
    with connect(Path(path)) as con:
        return fn(con, *_args, **dict(_kwargs))


# Metric functions that read the runs recorded beside the database (``operations._side_runs``).
READS_SIDE_RUNS = frozenset({("operations", "data_as_of"), ("operations", "refresh_history")})


def cached_metric(module: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """``dashboard.metrics.<module>.<name>(con, *args, **kwargs)``, cached on the DB version.

    Arguments must be hashable by ``st.cache_data`` (dataclasses such as Filters are).
    Pages of other helpers may call this directly for a function without a wrapper here.
    """
    version, path = _key(runs=(module, name) in READS_SIDE_RUNS)
    kw = tuple(sorted(kwargs.items()))
    # keywords only: Streamlit runs inspect.signature once per *positional* argument
    return _cached_metric(
        version=version,
        path=path,
        key=call_key(module, name, args, kw),
        _module_name=(module, name),
        _args=args,
        _kwargs=kw,
    )


# --- reading ahead ------------------------------------------------------------------------------

# Reads a page starts at once (each on a read cursor of its own, dashboard/db.py). A cold page's
# ~12 reads each leave a core partly idle (planning, converting to Polars, Python); three at a
# time beat two and four on the 2-core machine (docs/performance.md).
PREFETCH_THREADS = 3
PREFETCH_THREAD_NAME = "ketaops-prefetch"  # the benchmark tells their reads from the page's by it
_log = logging.getLogger(__name__)


def prefetch(*reads: Callable[[], object]) -> None:
    """Start reads the page makes further down, ``PREFETCH_THREADS`` at a time; return at once.

    Each read is a call of this module (``lambda: queries.ae_rate(f)``). The page then makes the
    same calls in its own order, as without this: ``st.cache_data`` hands over a finished result,
    waits for one being computed (one computation per cache key), or the page computes it if no
    thread has started it yet. So results never differ from reading in order, and a read that
    fails is raised again by the page's own call, where the page shows errors. A warm page finds
    every read cached, here and below. The threads carry the page run's context (Streamlit's
    documented way for threads of a page). A run stopped by a new interaction leaves its queued
    reads to finish (at most one page's reads): they fill the cache for that view.
    """
    queue = deque(reads)  # popleft is atomic: the threads share it without a lock
    ctx = get_script_run_ctx(suppress_warning=True)
    for _ in range(min(PREFETCH_THREADS, len(reads))):
        thread = threading.Thread(target=_read_ahead, args=(queue,), name=PREFETCH_THREAD_NAME, daemon=True)
        if ctx is not None:
            add_script_run_ctx(thread, ctx)
        thread.start()


def _read_ahead(queue: deque[Callable[[], object]]) -> None:
    while queue:
        try:
            read = queue.popleft()
        except IndexError:  # another thread took the last one
            return
        try:
            read()
        except (StopException, RerunException):  # Streamlit stopped this thread (waiting on a cache key)
            return
        except Exception:  # the page's own call raises it again where it is shown
            _log.debug("read ahead failed; the page's own call will report it", exc_info=True)


@st.cache_data(show_spinner=False, max_entries=256, ttl=CACHE_TTL)
def _cached_sql(version: str, path: str, sql: str, params: tuple[Any, ...]) -> pl.DataFrame:
    with connect(Path(path)) as con:
        return con.sql(sql, params=list(params)).pl()


def _sql(sql: str, *params: Any) -> pl.DataFrame:
    version, path = _key()
    return _cached_sql(version=version, path=path, sql=sql, params=params)


# --- configuration and lookups (dimension lists, not metrics) --------------------------------


@st.cache_resource(show_spinner=False, max_entries=1)
def metric_config() -> MetricConfig:
    return load_config()


def clinics() -> pl.DataFrame:
    """Every clinic (clinic_id, clinic_name, region, chairs, opened_on, closed_on), for pickers."""
    return _sql(
        "SELECT clinic_id, clinic_name, region, chairs, opened_on, closed_on "
        "FROM clinics ORDER BY clinic_name"
    )


def first_session_date() -> date | None:
    """The oldest session date (lower bound of the custom date picker); None without sessions."""
    return _sql("SELECT CAST(min(scheduled_at) AS DATE) AS first FROM sessions").item()


# --- operations (helper "throughput": dashboard/metrics/operations.py) -------------------------


def data_as_of(today: date, stale_days: int) -> dict[str, Any]:
    """newest_data_date, last_refresh_at/_status/_message, stale_clinic_ids … (``today`` is the wall clock's:
    staleness is about exports that stopped arriving, and it keys the cache so a new day re-evaluates)."""
    return cached_metric("operations", "data_as_of", today, stale_days)


def refresh_history(limit: int = 50, *, include_idle: bool = True) -> pl.DataFrame:
    return cached_metric("operations", "refresh_history", limit, include_idle=include_idle)


def clinic_freshness(today: date, stale_days: int) -> pl.DataFrame:
    return cached_metric("operations", "clinic_freshness", today, stale_days)


def rejected_summary(by: str = "reason") -> pl.DataFrame:
    return cached_metric("operations", "rejected_summary", by)


def rejected_rows(run_id: str | None = None) -> pl.DataFrame:
    return cached_metric("operations", "rejected_rows", run_id)


# --- throughput (dashboard/metrics/throughput.py) ----------------------------------------------


def data_last_date() -> date | None:
    """The data's last date (newest session date, network-wide): periods are anchored on it."""
    return cached_metric("throughput", "data_last_date")


def throughput_summary(f: Filters, cfg: MetricConfig, *, active_patients: bool = True) -> dict[str, Any]:
    """``active_patients=False`` skips the distinct-patient count (key None) for pages not showing it."""
    if active_patients:
        return cached_metric("throughput", "throughput_summary", f, cfg)
    return cached_metric("throughput", "throughput_summary", f, cfg, active_patients=False)


def throughput_summary_with_clinic(f: Filters, clinic_id: str, cfg: MetricConfig) -> dict[str, Any]:
    """{"scope": summary of f (no active patients), "clinic": the clinic alone's}, one query.

    Every ``*_with_clinic`` call returns the figure of ``f`` and of ``f``'s period and dimensions
    for one clinic (``throughput.clinic_alone``) from one query: the Clinic page's pairs.
    """
    return cached_metric("throughput", "throughput_summary_with_clinic", f, clinic_id, cfg)


def throughput_by_clinic(f: Filters, cfg: MetricConfig, *, active_patients: bool = True) -> pl.DataFrame:
    """``active_patients=False``: that column is null, the query skips the distinct-patient count."""
    if active_patients:
        return cached_metric("throughput", "throughput_by_clinic", f, cfg)
    return cached_metric("throughput", "throughput_by_clinic", f, cfg, active_patients=False)


def sessions_over_time(f: Filters, grain: Grain, by: str | None) -> pl.DataFrame:
    return cached_metric("throughput", "sessions_over_time", f, grain, by)


def sessions_over_time_with_clinic(f: Filters, clinic_id: str, grain: Grain) -> dict[str, pl.DataFrame]:
    return cached_metric("throughput", "sessions_over_time_with_clinic", f, clinic_id, grain)


def weekday_hour_load_with_clinic(f: Filters, clinic_id: str) -> dict[str, pl.DataFrame]:
    return cached_metric("throughput", "weekday_hour_load_with_clinic", f, clinic_id)


def no_show_pcharts_by_clinic(f: Filters, cfg: MetricConfig, grain: Grain) -> dict[str, pl.DataFrame]:
    return cached_metric("throughput", "no_show_pcharts_by_clinic", f, cfg, grain)


def no_show_pchart_with_clinic(
    f: Filters, clinic_id: str, cfg: MetricConfig, grain: Grain
) -> dict[str, pl.DataFrame]:
    return cached_metric("throughput", "no_show_pchart_with_clinic", f, clinic_id, cfg, grain)


def new_starts_over_time_with_clinic(f: Filters, clinic_id: str, grain: Grain) -> dict[str, pl.DataFrame]:
    return cached_metric("throughput", "new_starts_over_time_with_clinic", f, clinic_id, grain)


def route_modality_mix_with_clinic(f: Filters, clinic_id: str) -> dict[str, pl.DataFrame]:
    return cached_metric("throughput", "route_modality_mix_with_clinic", f, clinic_id)


def weekday_hour_load(f: Filters) -> pl.DataFrame:
    return cached_metric("throughput", "weekday_hour_load", f)


def induction(f: Filters) -> dict[str, Any]:
    """{"funnel": frame, "completion": dict} of one cohort, one query."""
    return cached_metric("throughput", "induction", f)


def induction_with_clinic(f: Filters, clinic_id: str) -> dict[str, Any]:
    """{"scope": induction(f), "clinic": induction of that clinic alone}, one query."""
    return cached_metric("throughput", "induction_with_clinic", f, clinic_id)


def no_show_pchart(f: Filters, cfg: MetricConfig, grain: Grain) -> pl.DataFrame:
    return cached_metric("throughput", "no_show_pchart", f, cfg, grain)


def maintenance(f: Filters) -> dict[str, Any]:
    """{"cadence": frame, "summary": dict} from one pass over the gaps."""
    return cached_metric("throughput", "maintenance", f)


def maintenance_with_clinic(f: Filters, clinic_id: str) -> dict[str, Any]:
    """{"scope": maintenance(f), "clinic": maintenance of that clinic alone}, one query."""
    return cached_metric("throughput", "maintenance_with_clinic", f, clinic_id)


def route_modality_mix(f: Filters) -> pl.DataFrame:
    return cached_metric("throughput", "route_modality_mix", f)


def new_starts_over_time(f: Filters, grain: Grain) -> pl.DataFrame:
    return cached_metric("throughput", "new_starts_over_time", f, grain)


# --- safety (dashboard/metrics/safety.py) ------------------------------------------------------


def ae_rate(f: Filters) -> dict[str, Any]:
    return cached_metric("safety", "ae_rate", f)


def ae_funnel(f: Filters, overdispersion: bool = False) -> pl.DataFrame:
    return cached_metric("safety", "funnel", f, overdispersion=overdispersion)


def ae_u_chart(f: Filters, cfg: MetricConfig, grain: Grain, clinic_id: str | None = None) -> pl.DataFrame:
    return cached_metric("safety", "u_chart", f, cfg, grain, clinic_id=clinic_id)


# --- outcomes (dashboard/metrics/outcomes.py) --------------------------------------------------


def outcome_summary(f: Filters, cfg: MetricConfig) -> pl.DataFrame:
    return cached_metric("outcomes", "outcome_summary", f, cfg)
