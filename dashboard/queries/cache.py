"""The one caching mechanism of the dashboard's reads: metric functions turned into cached queries.

``cached_query(metric)`` turns ``metric(con, *args)`` (a function of ``dashboard/metrics/``) into
a query with the same parameters minus ``con``. A call opens a short read-only connection
(``dashboard.db.connect``) only when its result is not cached yet.

Every entry is keyed on the published version the page run pinned (``dashboard.data_version``)
and read from that version's immutable file, so a refresh is picked up on the next rerun without
a restart, an entry of an old version is never served for a new one, and one page never mixes two
versions. Queries of figures that read the refresh runs recorded beside the published path
(``reads_runs=True``) are keyed on that log's version too. Every store is bounded in entries and
in time (``CACHE_TTL``): entries of a replaced version are never read again, and a server up for
weeks must not keep them until evicted by count alone.

The viewer's scope (``dashboard/access``) is applied here, for every page, read-ahead and
download alike: every ``Filters`` argument is narrowed to the viewer's clinics, a clinic named
outright (``clinic_id``) must be theirs, rows of other clinics are dropped from the result, and
every key holds the viewer's clinic set, so one viewer's entry never serves another. Only a
query declared a network benchmark (``cached_query(metric, benchmark=...)``) computes over
clinics past the scope; its result shows them as anonymous points
(``dashboard/access/benchmarks.py``). A network viewer's calls pass as they are.

Arguments are bound to the metric's signature with its defaults applied, so ``q(f)`` and
``q(f, overdispersion=False)`` are one entry. They are keyed by one ``repr`` string
(``call_key``) and travel to the store unhashed: Streamlit hashing a ``Filters`` (up to hundreds
of clinic ids) value by value dominated a warm page.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

import duckdb
import streamlit as st

from dashboard import data_version
from dashboard.access.benchmarks import IN_FULL, Benchmark, drop_outside, redact_outside
from dashboard.access.current import current_viewer
from dashboard.access.viewer import Viewer
from dashboard.db import connect, db_path, db_version
from dashboard.metrics.filters import Filters
from pipelines.model.config import MetricConfig
from pipelines.publish import side_runs_path

P = ParamSpec("P")
R = TypeVar("R")
Metric = Callable[Concatenate[duckdb.DuckDBPyConnection, P], R]  # a function of dashboard/metrics/


# How long any cached result lives (every store; ``lookups`` and ``safety`` too).
CACHE_TTL = "1h"


class NoDatabase(RuntimeError):
    """The published database does not exist yet."""


def database_exists() -> bool:
    return db_version() is not None


def version_key(runs: bool = False) -> tuple[str, str]:
    """(version, path) every cache entry is keyed on, and the file the entry is read from.

    The version is the one this page run pinned (``data_version.pin_run``): every read of a run,
    prefetch threads included, reads one immutable version file, whatever is published meanwhile;
    outside a page run (tools, the benchmark), the one published now. ``runs=True`` adds the
    version of the runs log beside the published path: a refresh that failed or found nothing new
    records its run there and leaves the database, and so every other cached figure, as it was.
    """
    published = db_path()
    pin = data_version.pinned() or data_version.resolve(published)
    if pin is None:
        raise NoDatabase(str(published))
    version = pin.version
    if runs:
        version += f"|{db_version(side_runs_path(published)) or ''}"
    return version, _resolved(str(pin.path))


@functools.lru_cache(maxsize=16)
def _resolved(path: str) -> str:
    """The absolute path (resolving on every cached call showed in warm-page profiles)."""
    return str(Path(path).resolve())


def call_key(*parts: Any) -> str:
    """One short string identifying a call's arguments, hashed by Streamlit instead of them.

    ``repr`` of the frozen dataclasses, dates, tuples and scalars the metrics take is exact and
    ~50× cheaper to hash than Streamlit hashing a ``Filters`` value by value.
    """
    return repr(parts)


class Store(Protocol):
    """A Streamlit-cached function holding query results (``shared_store`` or one of its own).

    Called with keywords only: Streamlit runs ``inspect.signature`` once per positional argument.
    """

    def __call__(
        self,
        *,
        version: str,
        path: str,
        key: str,
        _query: CachedQuery[..., Any],
        _args: tuple[Any, ...],
        _kwargs: dict[str, Any],
        _scope: frozenset[str] | None,
    ) -> Any: ...


# (result, the viewer's clinics) → the result holding only what a viewer of those clinics may see
InScope = Callable[[Any, frozenset[str]], Any]
Observer = Callable[["CachedQuery[..., Any]", tuple[Any, ...], dict[str, Any]], None]
_observer: Observer | None = None


@contextmanager
def observing(observer: Observer) -> Iterator[None]:
    """Call ``observer(query, args, kwargs)`` before every cached query call, in any thread.

    The benchmark records the reads a page makes with it. The arguments are the bound ones (the
    metric's defaults applied, keyword-only parameters in ``kwargs``), so ``query.metric(con,
    *args, **kwargs)`` repeats the call uncached. An exception the observer raises reaches the
    caller and the call is not made (a way to list reads without running them). One observer at
    a time; the previous one is restored on exit.
    """
    global _observer
    previous, _observer = _observer, observer
    try:
        yield
    finally:
        _observer = previous


class CachedQuery(Generic[P, R]):
    """A metric function cached on the database version; called without the connection."""

    def __init__(
        self,
        metric: Metric[P, R],
        *,
        reads_runs: bool,
        store: Store,
        benchmark: Benchmark | None = None,
        in_scope: InScope = drop_outside,
    ) -> None:
        self.metric = metric
        self.reads_runs = reads_runs
        self.benchmark = benchmark
        self.in_scope = in_scope
        self.store = store
        self.name = f"{metric.__module__}.{metric.__qualname__}"
        signature = inspect.signature(metric)
        self._signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        self.__signature__ = self._signature  # help() and inspect show the query's own parameters
        self.__doc__ = metric.__doc__
        self.__name__ = metric.__name__

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        viewer = current_viewer()
        scope = None if viewer.is_network else frozenset(viewer.clinic_ids)
        if scope is not None:
            self._check_named_clinic(bound.arguments, scope)
            if self.benchmark is None:
                for name, value in bound.arguments.items():
                    bound.arguments[name] = _narrowed(value, scope)
        call_args, call_kwargs = bound.args, bound.kwargs
        if _observer is not None:
            _observer(self, call_args, call_kwargs)
        version, path = version_key(runs=self.reads_runs)
        return self.store(
            version=version,
            path=path,
            key=call_key(self.name, call_args, call_kwargs, scope_key(viewer)),
            _query=self,
            _args=call_args,
            _kwargs=call_kwargs,
            _scope=scope,
        )

    def _check_named_clinic(self, arguments: dict[str, Any], scope: frozenset[str]) -> None:
        clinic = arguments.get("clinic_id")
        if isinstance(clinic, str) and clinic not in scope:
            raise PermissionError(f"clinic {clinic} is outside the viewer's access")

    def compute(
        self, path: str, args: tuple[Any, ...], kwargs: dict[str, Any], scope: frozenset[str] | None = None
    ) -> R:
        """The metric on a fresh read-only connection to ``path`` (what a store runs on a miss),
        with the clinics outside ``scope`` dropped, or anonymised in a network benchmark."""
        with connect(Path(path)) as con:
            result = self.metric(con, *args, **kwargs)
        if scope is None:
            return result
        if self.benchmark is None:
            return self.in_scope(result, scope)
        return redact_outside(result, scope, self.benchmark, _suppression_k(args, kwargs))

    def __repr__(self) -> str:
        return f"<cached query {self.name}{self._signature}>"


def scope_key(viewer: Viewer) -> str:
    """The part of every key that is the viewer's: their resolved clinic set (``Viewer.cache_key``)."""
    return viewer.cache_key


def _narrowed(value: Any, scope: frozenset[str]) -> Any:
    """A ``Filters`` argument kept to ``scope``'s clinics; any other argument as it is."""
    if isinstance(value, Filters) and not set(value.clinic_ids) <= scope:
        return value.with_clinics(tuple(c for c in value.clinic_ids if c in scope))
    return value


def _suppression_k(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """The small-cell threshold of the call's ``MetricConfig``, else the default one's."""
    given = [v for v in (*args, *kwargs.values()) if isinstance(v, MetricConfig)]
    return (given[0] if given else MetricConfig()).suppression_k


@st.cache_data(show_spinner=False, max_entries=2048, ttl=CACHE_TTL)
def shared_store(
    version: str,
    path: str,
    key: str,
    _query: CachedQuery[..., Any],
    _args: tuple[Any, ...],
    _kwargs: dict[str, Any],
    _scope: frozenset[str] | None,
) -> Any:
    """The store of every query without one of its own: one bounded ``st.cache_data``."""
    return _query.compute(path, _args, _kwargs, _scope)


def cached_query(
    metric: Metric[P, R],
    *,
    reads_runs: bool = False,
    store: Store = shared_store,
    benchmark: bool | Benchmark = False,
    in_scope: InScope = drop_outside,
) -> CachedQuery[P, R]:
    """``metric(con, *args, **kwargs)`` as a cached query taking ``(*args, **kwargs)``.

    ``reads_runs``: the metric reads the refresh runs recorded beside the file (see
    ``version_key``). ``store``: a cache of its own, e.g. one that shares a large frame instead
    of copying it (``st.cache_resource``); it must call ``_query.compute(path, _args, _kwargs,
    _scope)``. ``benchmark``: a network benchmark, whose filters may reach past a viewer's
    scope (``True``: counts shown in full; a ``Benchmark`` names the small cells to suppress).
    ``in_scope``: how a result is kept to a viewer's clinics when it holds them other than as
    frames with a clinic column (default: those frames' rows of other clinics dropped).
    """
    declared = IN_FULL if benchmark is True else benchmark or None
    return CachedQuery(metric, reads_runs=reads_runs, store=store, benchmark=declared, in_scope=in_scope)
