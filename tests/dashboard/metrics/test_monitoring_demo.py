"""The contract v2 signals the demo generator plants, found by the monitoring metrics.

The demo's manifest names where each signal went (docs/demo-data.md "Planted signals"); the
expected sizes are the generator's (a third of 40-minute readings skipped, ~78-minute intranasal
observation, one provider's rushed pre-dose readings, 65% of the response on a benzodiazepine).
Runs once the contract has the v2 tables (the demo then writes them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dashboard.metrics import monitoring
from dashboard.metrics.filters import Filters
from pipelines.contract import TABLES_BY_NAME
from pipelines.model.config import MetricConfig

pytestmark = pytest.mark.skipif("vitals" not in TABLES_BY_NAME, reason="the contract has no vitals table")
ROOT = Path(__file__).resolve().parents[3]
CFG = MetricConfig()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, dict, Filters]:
    base = tmp_path_factory.mktemp("monitoring-demo")
    exports, db = base / "exports", base / "ketaops.duckdb"
    run = {"cwd": ROOT, "check": True, "capture_output": True, "timeout": 600}
    cli = [sys.executable, "-m", "pipelines.cli"]
    subprocess.run([*cli, "demo-data", "--out", str(exports), "--clinics", "6", "--years", "1",
                    "--end", "2026-11-24", "--format", "parquet"], **run)  # fmt: skip
    subprocess.run([*cli, "refresh", "--exports", str(exports), "--db", str(db)], **run)
    signals = json.loads((exports / "MANIFEST.json").read_text())["signals"]
    con = duckdb.connect(str(db), read_only=True)
    ids = tuple(r[0] for r in con.execute("SELECT clinic_id FROM clinics").fetchall())
    yield con, signals, Filters(date(2026, 1, 1), date(2026, 11, 24), ids)
    con.close()


def _clinic(frame: pl.DataFrame, clinic_id: str) -> dict:
    return frame.filter(pl.col("level") == clinic_id).row(0, named=True)


def test_v1_clinic_counts_incomplete_and_unscored(demo) -> None:
    con, signals, f = demo
    row = _clinic(monitoring.by(con, f, CFG, "clinic"), signals["v1_only"]["clinic_id"])
    assert row["administered_sessions"] > 0
    assert (row["vitals_complete_rate"], row["cadss_scored_rate"], row["moaas_scored_rate"]) == (
        0.0,
        0.0,
        0.0,
    )


def test_clinic_skipping_the_40_minute_bp_is_below_the_funnel(demo) -> None:
    con, signals, f = demo
    clinic = signals["skips_40min_bp"]["clinic_id"]
    funnel = monitoring.funnel(con, f, CFG, "vitals_complete")
    row = _clinic(funnel, clinic)
    assert row["flag"] == "below_998"
    assert 0.55 < row["rate"] < 0.72  # ~1/3 skipped, plus ~2% missing each of three readings
    others = funnel.filter((pl.col("level") != clinic) & (pl.col("level") != signals["v1_only"]["clinic_id"]))
    assert others["rate"].min() > 0.88


def test_short_intranasal_observation_found_by_route(demo) -> None:
    con, signals, f = demo
    clinic = signals["short_nasal_observation"]["clinic_id"]
    routes = monitoring.by(con, f.with_clinics((clinic,)), CFG, "route")
    assert _clinic(routes, "intranasal")["observed_long_enough_rate"] < 0.02
    elsewhere = monitoring.by(
        con, f.with_clinics(tuple(c for c in f.clinic_ids if c != clinic)), CFG, "route"
    )
    assert _clinic(elsewhere, "intranasal")["observed_long_enough_rate"] > 0.98


def test_rushed_provider_doses_despite_elevated_bp(demo) -> None:
    con, signals, f = demo
    planted = signals["bp_dosing_provider"]
    providers = monitoring.by(con, f, CFG, "provider").filter(pl.col("level") != monitoring.NO_PROVIDER)
    theirs = _clinic(providers, planted["provider_key"])["dosed_despite_elevated_bp_rate"]
    others = providers.filter(pl.col("level") != planted["provider_key"])["dosed_despite_elevated_bp_rate"]
    assert 0.12 < theirs < 0.3 and others.max() < 0.01
    flags = monitoring.funnel(
        con, f.with_clinics((planted["clinic_id"],)), CFG, "dosed_despite_elevated_bp", "provider"
    )
    assert _clinic(flags, planted["provider_key"])["flag"] == "above_998"


def test_benzodiazepine_blunts_response(demo) -> None:
    con, _, f = demo
    split = monitoring.outcomes_by_medication(con, replace_start(f), CFG).filter(
        (pl.col("condition") == "depression") & (pl.col("drug") == "benzodiazepine")
    )
    on = split.filter(pl.col("on_drug")).row(0, named=True)["response_rate"]
    off = split.filter(~pl.col("on_drug")).row(0, named=True)["response_rate"]
    assert on < off - 0.12


def replace_start(f: Filters) -> Filters:
    """The whole year: a bigger cohort for the outcome split."""
    from dataclasses import replace

    return replace(f, start=date(2025, 11, 24))
