"""``dashboard.queries.cache``: metric functions as cached queries keyed on the database version."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import duckdb
import pytest
import streamlit as st

from dashboard import queries
from dashboard.queries import cache
from dashboard.queries.safety import _line_list_store
from pipelines.publish import append_side_run


def _write(path: Path, x: int) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE OR REPLACE TABLE t AS SELECT ? AS x", [x])
    return path


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = _write(tmp_path / "ketaops.duckdb", 10)
    monkeypatch.setenv("KETAOPS_DB", str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    return path


class Counting:
    """A metric ``(con, a, b=2, *, c=3)`` returning the file's x and its arguments, counting computations.

    Each has a name of its own: queries are keyed on their metric's module and name.
    """

    def __init__(self, name: str) -> None:
        self.computed: list[tuple[int, int, int]] = []

        def metric(con: duckdb.DuckDBPyConnection, a: int, b: int = 2, *, c: int = 3) -> tuple[int, ...]:
            self.computed.append((a, b, c))
            ((x,),) = con.execute("SELECT x FROM t").fetchall()
            return x, a, b, c

        metric.__qualname__ = metric.__name__ = name
        self.metric = metric


def test_a_query_takes_the_metrics_parameters_without_the_connection() -> None:
    # safety.funnel(con, f, overdispersion=False, cfg=None) -> pl.DataFrame
    sig = inspect.signature(queries.ae_funnel)
    assert [(p.name, p.default) for p in sig.parameters.values()] == [
        ("f", inspect.Parameter.empty),
        ("overdispersion", False),
        ("cfg", None),
    ]
    assert sig.return_annotation == "pl.DataFrame"
    # throughput_summary(con, f, cfg, *, active_patients=True): the keyword-only one stays so
    kinds = {n: p.kind for n, p in inspect.signature(queries.throughput_summary).parameters.items()}
    assert kinds["active_patients"] is inspect.Parameter.KEYWORD_ONLY and "con" not in kinds
    with pytest.raises(TypeError):  # checked at the call, before any read
        queries.throughput_summary(None, None, True)


def test_one_call_however_its_arguments_are_spelled_is_one_entry(published: Path) -> None:
    metric = Counting("spelled")
    query = cache.cached_query(metric.metric)
    assert query(1) == (10, 1, 2, 3)
    assert query(1, 2) == query(a=1, c=3) == query(1, b=2, c=3) == (10, 1, 2, 3)
    assert query(1, c=4) == (10, 1, 2, 4)
    assert metric.computed == [(1, 2, 3), (1, 2, 4)]


def test_a_new_publish_is_computed_afresh_and_the_old_entry_never_served(published: Path) -> None:
    metric = Counting("republished")
    query = cache.cached_query(metric.metric)
    assert query(1) == (10, 1, 2, 3)
    os.replace(_write(published.with_name("next.duckdb"), 20), published)  # the refresh's publish
    assert query(1) == (20, 1, 2, 3)
    assert query(1) == (20, 1, 2, 3)
    assert len(metric.computed) == 2


def test_only_queries_reading_the_runs_log_are_keyed_on_it(published: Path) -> None:
    plain, runs = Counting("plain"), Counting("runs")
    plain_query, runs_query = (
        cache.cached_query(plain.metric),
        cache.cached_query(runs.metric, reads_runs=True),
    )
    plain_query(1), runs_query(1)
    append_side_run(published, {"run_id": "r1", "status": "failed", "message": "unreadable"})
    plain_query(1), runs_query(1)
    assert len(plain.computed) == 1 and len(runs.computed) == 2


def test_without_a_database_a_query_raises_no_database(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KETAOPS_DB", str(tmp_path / "absent.duckdb"))
    metric = Counting("absent")
    assert not queries.database_exists()
    with pytest.raises(queries.NoDatabase):
        cache.cached_query(metric.metric)(1)
    assert metric.computed == []


def test_the_observer_sees_the_bound_arguments_and_can_stop_the_call(published: Path) -> None:
    metric = Counting("observed")
    query = cache.cached_query(metric.metric)
    seen: list[tuple[object, tuple, dict]] = []
    with cache.observing(lambda q, args, kwargs: seen.append((q, args, kwargs))):
        query(5, c=7)
    assert seen == [(query, (5, 2), {"c": 7})]
    assert metric.computed == [(5, 2, 7)]

    def refuse(q: object, args: tuple, kwargs: dict) -> None:
        raise LookupError("listed only")

    with cache.observing(refuse), pytest.raises(LookupError, match="listed only"):
        query(6)
    assert metric.computed == [(5, 2, 7)]  # the refused call was not made
    query(6)  # outside, calls are made again and nothing observes them
    assert metric.computed == [(5, 2, 7), (6, 2, 3)] and len(seen) == 1


def test_a_store_of_its_own_keeps_its_own_bound(published: Path) -> None:
    """The line list's store holds four results: a fifth evicts the least recently used."""
    metric = Counting("bounded")
    query = cache.cached_query(metric.metric, store=_line_list_store)
    for a in range(5):
        query(a)
    query(4), query(1)  # still held
    query(0)  # evicted by the fifth
    assert [a for a, _, _ in metric.computed] == [0, 1, 2, 3, 4, 0]
