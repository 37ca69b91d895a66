"""Keeps the benchmark suite from rotting: the tiny scale end to end (not a timed test)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_tiny_benchmark_runs_and_reports_every_figure(tmp_path):
    cmd = [sys.executable, "-m", "bench", "--scale", "tiny", "--combos", "2", "--skip-server",
           "--cache", str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "tiny" / "results.json").read_text())
    pipeline = results["pipeline"]
    assert pipeline["rows"] > 1000 and pipeline["full"]["returncode"] == 0
    assert pipeline["full_vs_baseline"] > 0
    for run in ("incremental", "incremental_no_standby", "idle_first", "idle", "touched"):
        assert results[run]["returncode"] == 0 and results[run]["seconds"] > 0, run
    spread = results["incremental_spread"]  # each median figure is the middle of its repeats
    assert results["incremental"]["seconds"] == spread["inc"][1] and len(spread["inc"]) == 3
    # where each refresh's time went, from its own run_finished line
    assert "optimise:" in results["incremental"]["stages"] and "load:" in pipeline["full"]["stages"]
    pages = {p["page"]: p for p in results["pages"]}
    assert set(pages) == {"overview", "throughput", "clinic", "safety", "outcomes", "data"}
    for page in pages.values():
        assert page["calls"] > 0, page  # the page's query set was captured
        assert page["warm_p95"] > 0 and page["cold_p50"] > 0 and page["baseline_p50"] > 0
        assert page["first_read"] > 0  # a number: NaN (never measured) fails this too
    assert "ratio" in done.stdout and "cold/base" in done.stdout


@pytest.mark.parametrize("megabytes", [64, 256])
def test_a_measured_run_reports_the_childs_peak_memory_exit_code_and_stages(megabytes: int) -> None:
    """The peak is the child's own high-water mark: touching N MB, then freeing it, peaks at N,
    whatever the parent holds (here 300 MB more than the child ever does)."""
    from bench.measure import python_cmd, run_measured

    child = (
        "import sys, time\n"
        f"b = bytearray({megabytes} << 20)\n"
        "b[::4096] = b'x' * len(b[::4096])  # touch every page\n"
        "del b\n"
        "time.sleep(0.3)  # long past the peak: a reading of the current RSS sees it no more\n"
        "print('run_finished stages=load:1.00,optimise:2.00')\n"
        "sys.exit(3)\n"
    )
    held = bytearray((megabytes + 300) << 20)
    held[::4096] = b"x" * len(held[::4096])  # the parent's memory must not count as the child's
    run = run_measured(python_cmd("-c", child))
    del held
    assert run.returncode == 3
    assert run.stages == "load:1.00,optimise:2.00"
    assert megabytes <= run.peak_rss_mb <= megabytes + 60  # the interpreter itself: ~10 MB


@pytest.mark.slow
def test_the_load_run_walks_every_page_across_a_publish_without_errors(tmp_path):
    """Two short levels against one server: every view names one version, none goes back,
    and each level's publish is seen (version 1 → 2 in the first, 2 → 3 in the second)."""
    from bench.load import load_runs, report
    from tests.dashboard.conftest import build_demo_like_db

    source = build_demo_like_db(tmp_path / "source.duckdb")
    runs = load_runs(source, tmp_path / "load", levels=(1, 2), seconds=16, max_views=40, wide_filters=True)
    rows = report(runs)
    assert [r["viewers"] for r in rows] == [1, 2]
    for r in runs:
        assert r.views and r.errors == 0 and r.backwards == 0 and r.mixed == 0, [v.error for v in r.views]
        assert r.rss_peak_mb > 50 and r.cpu_seconds > 0
    for r in runs:  # one cold view per page, filters and version; every repeat of it is warm
        assert sum(v.cold for v in r.views) == len(r.requested) < len(r.views)
    seen = set().union(*(r.versions_seen for r in runs))
    assert {1, 3} <= seen  # the first version, and the second level's publish (version 3)
    assert sum(r.downloads for r in runs) >= 1
    assert {v.page for r in runs for v in r.views} == {
        "overview",
        "throughput",
        "clinic",
        "safety",
        "outcomes",
        "data",
    }
