"""Every Streamlit cache of the dashboard is bounded: in entries, and (holding data) in time."""

from __future__ import annotations

import ast
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
# Resources that hold no query result, only an object re-reading its own source: no expiry needed.
HOLD_NO_DATA = {"gate.py:_watcher"}  # the access file's watcher, which re-reads the file when it changes


def _cache_decorators() -> list[tuple[str, str, dict[str, ast.expr]]]:
    found = []
    for path in sorted(DASHBOARD.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.FunctionDef):
                continue
            for dec in node.decorator_list:
                call = dec if isinstance(dec, ast.Call) else None
                target = call.func if call else dec
                if isinstance(target, ast.Attribute) and target.attr in ("cache_data", "cache_resource"):
                    keywords = {k.arg: k.value for k in call.keywords} if call else {}
                    found.append((f"{path.name}:{node.name}", target.attr, keywords))
    return found


def test_every_cache_has_a_bounded_number_of_entries_and_data_caches_expire():
    decorators = _cache_decorators()
    assert len(decorators) >= 4  # the metric, SQL, config and line-list caches at least
    for where, kind, keywords in decorators:
        bound = keywords.get("max_entries")
        assert isinstance(bound, ast.Constant) and 0 < bound.value <= 4096, where
        if where in HOLD_NO_DATA:
            continue
        if kind == "cache_data" or where != "lookups.py:metric_config":
            assert "ttl" in keywords, f"{where}: no ttl"


def test_the_metric_cache_evicts_beyond_its_bound():
    """max_entries is honoured by the installed Streamlit: the oldest entry is computed again."""
    import streamlit as st

    calls: list[int] = []

    @st.cache_data(max_entries=3, ttl="1h")
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    for x in (1, 2, 3, 4, 1):
        square(x)
    # 1 was evicted when 4 came in (least recently used), so it was computed twice
    assert calls == [1, 2, 3, 4, 1]
