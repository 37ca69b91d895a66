"""The scope in ``cached_query``: narrowed filters, declared benchmarks, scoped keys, the special
results (stale list, rejects) and the small cells of anonymous benchmark points."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
import streamlit as st

from dashboard import queries
from dashboard.access.benchmarks import ANONYMOUS_ID, PATIENT_COUNTS, Benchmark, redact_outside
from dashboard.access.current import use_viewer
from dashboard.access.scope import Scope
from dashboard.access.viewer import Viewer
from dashboard.metrics.filters import Filters
from dashboard.queries import cache
from pipelines.model.config import MetricConfig
from tests.dashboard.conftest import LAST_DATE, SILENT_CLINIC, sql_value

EVERY = ("C1", "C2", "C3", "C4")  # conftest.CLINICS, written out


def _viewer(scope: Scope, clinics: tuple[str, ...]) -> Viewer:
    return Viewer("v@n.example", "V", "director", scope, clinics)


NORTH = _viewer(Scope("region", ("North",)), ("C1", "C2"))
C2_ONLY = _viewer(Scope("clinics", ("C2",)), ("C2",))
NETWORK = _viewer(Scope("network"), EVERY)


@pytest.fixture
def published(demo_like_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KETAOPS_DB", str(demo_like_db))
    st.cache_data.clear()
    st.cache_resource.clear()
    return demo_like_db


class Seen:
    """A metric returning the clinics its ``Filters`` reached, one row each, counting computations."""

    def __init__(self, name: str) -> None:
        self.calls: list[tuple[str, ...]] = []

        def metric(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
            self.calls.append(f.clinic_ids)
            return pl.DataFrame(
                {"clinic_id": list(f.clinic_ids), "clinic_name": [f"name {c}" for c in f.clinic_ids]}
            )

        metric.__qualname__ = metric.__name__ = name
        self.metric = metric


def _f(*clinics: str) -> Filters:
    return Filters(LAST_DATE - timedelta(days=30), LAST_DATE, clinics)


def test_a_plain_query_narrows_its_filters_and_a_benchmark_reaches_the_network_anonymously(published):
    plain, bench = Seen("plain_reach"), Seen("bench_reach")
    plain_q = cache.cached_query(plain.metric)
    bench_q = cache.cached_query(bench.metric, benchmark=True)
    with use_viewer(NORTH):
        assert plain_q(_f(*EVERY))["clinic_id"].to_list() == ["C1", "C2"]
        got = bench_q(_f(*EVERY))
    assert plain.calls == [("C1", "C2")]  # the metric never saw C3 or C4
    assert bench.calls == [EVERY]  # the benchmark's population is the whole network
    assert got["clinic_id"].to_list() == ["C1", "C2", f"{ANONYMOUS_ID}1", f"{ANONYMOUS_ID}2"]
    assert got["clinic_name"].to_list()[:2] == ["name C1", "name C2"]
    assert "name C3" not in got["clinic_name"].to_list() and "name C4" not in got["clinic_name"].to_list()


def test_each_clinic_set_has_its_own_cache_entry(published):
    seen = Seen("keyed_on_scope")
    q = cache.cached_query(seen.metric, benchmark=True)  # same arguments whatever the scope
    for viewer in (NORTH, C2_ONLY, NORTH, NETWORK):
        with use_viewer(viewer):
            names = q(_f(*EVERY))["clinic_name"].to_list()
        if viewer is C2_ONLY:
            assert names.count("name C2") == 1 and "name C1" not in names  # never North's entry
    assert len(seen.calls) == 3  # North's second call is its own cached entry


def test_a_clinic_named_outright_must_be_in_scope(published):
    with use_viewer(C2_ONLY), pytest.raises(PermissionError, match="C1"):
        queries.induction_with_clinic(_f(*EVERY), "C1")


def test_the_stale_list_holds_only_the_viewers_clinics(published):
    today = date.today()
    with use_viewer(NETWORK):
        assert SILENT_CLINIC in queries.data_as_of(today, 7)["stale_clinic_ids"]
    with use_viewer(NORTH):  # the silent clinic is in the South
        as_of = queries.data_as_of(today, 7)
    assert SILENT_CLINIC not in as_of["stale_clinic_ids"]
    assert as_of["stale_clinics"] == len(as_of["stale_clinic_ids"])
    with use_viewer(NORTH):
        assert set(queries.clinic_freshness(today, 7)["clinic_id"]) == {"C1", "C2"}


def test_rejects_are_for_network_scopes_only(published):
    with use_viewer(NETWORK):
        assert queries.rejected_rows(None).height == 7  # conftest writes 7 rejected rows
        assert queries.rejected_summary("reason").height > 0
    with use_viewer(NORTH):
        assert queries.rejected_rows(None).height == 0
        assert queries.rejected_summary("reason").height == 0


def test_an_anonymous_points_small_patient_counts_are_suppressed_zero_and_own_clinics_shown():
    frame = pl.DataFrame(
        {
            "clinic_id": ["A", "B", "C", "D", "E"],
            "clinic_name": ["Mine", "Two", "Three", "Four", "Five"],
            "region": ["N", "S", "S", "S", "S"],
            "chairs": [4, 3, 2, 5, 6],
            "active_patients": [3, 3, 0, 10, 11],
            "new_starts": [1, 12, 0, 4, 0],
            "administered_sessions": [3, 3, 0, 2, 90],
        }
    )
    got = redact_outside(frame, {"A"}, PATIENT_COUNTS, k=11)
    assert got.row(0) == ("A", "Mine", "N", 4, 3, 1, 3)  # the viewer's own clinic as it is
    # anonymous: 1..10 suppressed, 0 and ≥ 11 shown; sessions in full; no name, region or chairs
    assert got["clinic_id"].to_list()[1:] == [f"{ANONYMOUS_ID}{i}" for i in (1, 2, 3, 4)]
    assert got["active_patients"].to_list() == [3, None, 0, None, 11]
    assert got["new_starts"].to_list() == [1, 12, 0, None, 0]
    assert got["administered_sessions"].to_list() == [3, 3, 0, 2, 90]
    assert got["region"].to_list()[1:] == [None] * 4 and got["chairs"].to_list()[1:] == [None] * 4
    # a counts-in-full benchmark (the AE funnel's session counts) suppresses nothing
    assert redact_outside(frame, {"A"}, Benchmark(), k=11)["active_patients"].to_list() == [3, 3, 0, 10, 11]


def test_a_directors_network_throughput_suppresses_other_clinics_small_patient_counts(published):
    cfg = MetricConfig()
    f = Filters(LAST_DATE - timedelta(days=13), LAST_DATE, EVERY)  # two weeks: small counts
    with use_viewer(C2_ONLY):
        by = queries.throughput_by_clinic(f, cfg)
    own = by.filter(pl.col("clinic_id") == "C2")
    others = by.filter(pl.col("clinic_id").str.starts_with(ANONYMOUS_ID))
    assert own.height == 1 and others.height == 3
    truth = {
        c: sql_value(
            published,
            "SELECT count(DISTINCT patient_key) FROM sessions WHERE clinic_id = ? "
            "AND status IN ('completed', 'stopped_early') AND CAST(scheduled_at AS DATE) BETWEEN ? AND ?",
            [c, f.start, f.end],
        )
        for c in ("C1", "C3", "C4")
    }

    def order(v: int | None) -> tuple[bool, int]:
        return (v is None, v or 0)

    expected = [n if n == 0 or n >= cfg.suppression_k else None for n in truth.values()]
    assert sorted(others["active_patients"].to_list(), key=order) == sorted(expected, key=order)
    assert any(0 < n < cfg.suppression_k for n in truth.values())  # not vacuous: something was hidden
    assert own["active_patients"].item() == sql_value(
        published,
        "SELECT count(DISTINCT patient_key) FROM sessions WHERE clinic_id = 'C2' "
        "AND status IN ('completed', 'stopped_early') AND CAST(scheduled_at AS DATE) BETWEEN ? AND ?",
        [f.start, f.end],
    )


def test_the_outcome_comparison_of_a_director_is_the_whole_networks(published):
    cfg = MetricConfig()
    f = Filters(LAST_DATE - timedelta(days=400), LAST_DATE, EVERY)
    with use_viewer(NETWORK):
        _, whole = queries.clinic_comparison(f, cfg, "depression", "phq9")
        _, c1_alone = queries.clinic_comparison(f.with_clinics(("C1",)), cfg, "depression", "phq9")
    with use_viewer(_viewer(Scope("clinics", ("C1",)), ("C1",))):
        comp, network = queries.clinic_comparison(f, cfg, "depression", "phq9")
    assert whole["evaluable"] != c1_alone["evaluable"]  # not vacuous: the two totals differ
    assert (network["evaluable"], network["responders"]) == (whole["evaluable"], whole["responders"])
    assert set(comp["clinic_id"]) <= {"C1"} | {f"{ANONYMOUS_ID}{i}" for i in range(1, 4)}
    assert not set(comp["clinic_name"].drop_nulls()) & {"Elm Street", "Ridge", "Bayside"}
