"""Property: whatever the scope and the filters (URL clinics and regions included), every query
result names only the viewer's clinics; network benchmarks show the others only anonymously."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import queries
from dashboard.access.benchmarks import ANONYMOUS_ID, ANONYMOUS_NAME
from dashboard.access.current import use_viewer
from dashboard.access.scope import Scope
from dashboard.access.viewer import Viewer
from dashboard.components.filters import resolve_scope
from dashboard.metrics.filters import Filters
from dashboard.metrics.safety import AeFilters
from pipelines.model.config import MetricConfig
from tests.dashboard.conftest import CLINICS, LAST_DATE

# The test database's clinics, written out by hand from conftest.CLINICS (not read back through the code).
REGION_OF = {"C1": "North", "C2": "North", "C3": "South", "C4": "South"}
NAME_OF = {"C1": "Harbor", "C2": "Elm Street", "C3": "Ridge", "C4": "Bayside"}
assert {c[0]: c[2] for c in CLINICS} == REGION_OF

scopes = st.one_of(
    st.just(Scope("network")),
    st.sampled_from(["North", "South"]).map(lambda r: Scope("region", (r,))),
    st.lists(st.sampled_from(sorted(REGION_OF)), min_size=1, max_size=3, unique=True).map(
        lambda ids: Scope("clinics", tuple(ids))
    ),
)
requests = st.fixed_dictionaries(
    {
        # what a URL may ask for: any clinic, including unknown ones, and any region
        "clinics": st.lists(st.sampled_from([*REGION_OF, "C9"]), max_size=4),
        "regions": st.lists(st.sampled_from(["North", "South", "East"]), max_size=2, unique=True),
        "days": st.integers(min_value=0, max_value=400),
        "length": st.integers(min_value=1, max_value=200),
        "conditions": st.lists(st.sampled_from(["depression", "ptsd", "anxiety"]), max_size=2, unique=True),
    }
)


@pytest.fixture(scope="module", autouse=True)
def _database(demo_like_db) -> Iterator[None]:
    before = os.environ.get("KETAOPS_DB")
    os.environ["KETAOPS_DB"] = str(demo_like_db)
    yield
    if before is None:
        os.environ.pop("KETAOPS_DB")
    else:
        os.environ["KETAOPS_DB"] = before


def _expected_clinics(scope: Scope) -> set[str]:
    if scope.kind == "network":
        return set(REGION_OF)
    if scope.kind == "region":
        return {c for c, r in REGION_OF.items() if r == scope.values[0]}
    return set(scope.values)


def _frames(result: Any) -> Iterator[pl.DataFrame]:
    if isinstance(result, pl.DataFrame):
        yield result
    elif isinstance(result, dict):
        for v in result.values():
            yield from _frames(v)
    elif isinstance(result, (list, tuple)):
        for v in result:
            yield from _frames(v)


def _named(result: Any) -> tuple[set[str], set[str]]:
    """Every clinic id and clinic name the result holds (ids from clinic_id and a by-clinic level)."""
    ids: set[str] = set()
    names: set[str] = set()
    for frame in _frames(result):
        for col in ("clinic_id", "level"):
            if col in frame.columns and frame.schema[col] == pl.String:
                ids |= {v for v in frame[col].to_list() if v is not None}
        if "clinic_name" in frame.columns:
            names |= {v for v in frame["clinic_name"].to_list() if v is not None}
    if isinstance(result, list):  # outcomes_report: a list of dicts with clinic_id
        ids |= {r["clinic_id"] for r in result if isinstance(r, dict) and r.get("clinic_id")}
    return ids, names


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scope=scopes, req=requests)
def test_every_query_result_holds_only_in_scope_clinics(scope: Scope, req: dict[str, Any]) -> None:
    inside = _expected_clinics(scope)
    viewer = Viewer("v@n.example", "V", "quality", scope, tuple(sorted(inside)))
    cfg = MetricConfig()
    end = LAST_DATE - timedelta(days=req["days"])
    start = end - timedelta(days=req["length"])
    with use_viewer(viewer):
        from dashboard.components.filters import allowed_clinics, network_clinics

        allowed = allowed_clinics()
        assert set(allowed) == inside
        picked = resolve_scope(allowed, req["clinics"], req["regions"], REGION_OF)
        f = Filters(start, end, picked, tuple(req["regions"]), tuple(req["conditions"]))
        # a forged filter naming every clinic, as if the scope check in the sidebar were bypassed
        forged = Filters(start, end, (*REGION_OF, "C9"), conditions=tuple(req["conditions"]))
        network = f.with_clinics(network_clinics())
        own = sorted(inside)[0]
        # row-level and per-clinic reads: rows of in-scope clinics only, even for the forged filter
        plain = [
            lambda g: queries.throughput_summary(g, cfg),
            lambda g: queries.sessions_over_time(g, "month", "clinic"),
            lambda g: queries.no_show_pcharts_by_clinic(g, cfg, "month"),
            lambda g: queries.outcome_summary(g, cfg),
            lambda g: queries.ae_rate_by(g, "clinic"),
            lambda g: queries.serious_events(g),
            lambda g: queries.excursions_without_ae(g, cfg),
            lambda g: queries.protocol_deviations(g, cfg),
            lambda g: queries.line_list(g, AeFilters()),
            lambda g: queries.outcome_measures(g, cfg),
            lambda g: queries.outcomes_report(g, cfg),
        ]
        for read in plain:
            for g in (f, forged):
                ids, names = _named(read(g))
                assert ids <= inside, (read, g, ids)
                assert names <= {NAME_OF[c] for c in inside}
        # network benchmarks: the other clinics only as anonymous points
        benchmarks = [
            queries.ae_funnel(network),
            queries.ae_funnel(forged),
            queries.ae_rate(forged),
            queries.throughput_by_clinic(network, cfg),
            queries.throughput_by_clinic(forged, cfg),
            queries.throughput_summary_with_clinic(network, own, cfg),
            queries.induction_with_clinic(network, own),
        ]
        for result in benchmarks:
            ids, names = _named(result)
            assert all(c in inside or c.startswith(ANONYMOUS_ID) for c in ids), ids
            assert all(n in {NAME_OF[c] for c in inside} or n.startswith(ANONYMOUS_NAME) for n in names)
        if {"C1", "C3"} - inside:  # busy clinics outside the scope are there, as anonymous points
            year = Filters(LAST_DATE - timedelta(days=364), LAST_DATE, network_clinics())
            ids, _ = _named(queries.throughput_by_clinic(year, cfg))
            assert any(c.startswith(ANONYMOUS_ID) for c in ids)
        assert set(queries.clinics()["clinic_id"].to_list()) == inside
        if scope.kind != "network":
            outside = sorted(set(REGION_OF) - inside)
            if outside:
                with pytest.raises(PermissionError):
                    queries.induction_with_clinic(network, outside[0])
