"""pipelines/marts/time_order.py: clustering keeps every row and every metric figure, and orders by time."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from dashboard.db import connect
from dashboard.metrics import safety, throughput
from dashboard.metrics.filters import Filters
from pipelines.marts import PER_PATIENT_TABLES, maintain
from pipelines.marts.time_order import cluster_by_time, time_spread
from pipelines.model.config import MetricConfig

CLINICS = tuple(f"CLN-{i:03d}" for i in range(1, 7))
START = datetime(2025, 1, 6, 8, 0)


def _rows(n_per_clinic: int = 100) -> dict[str, list[dict[str, object]]]:
    """Clinic-major sessions (each clinic's whole history in turn), like a file-by-file load."""
    rng = random.Random(7)
    clinics = [
        {"clinic_id": c, "clinic_name": c, "region": "North", "opened_on": date(2024, 1, 1), "chairs": 4}
        for c in CLINICS
    ]
    patients = [{"patient_key": f"P{i:03d}", "primary_condition": "depression"} for i in range(40)]
    sessions, aes = [], []
    for c in CLINICS:
        for i in range(n_per_clinic):
            at = START + timedelta(days=i, hours=rng.randint(0, 8))
            sid = f"{c}-{i}"
            status = rng.choice(["completed", "completed", "stopped_early", "no_show", "cancelled"])
            sessions.append(
                {
                    "session_id": sid,
                    "patient_key": f"P{rng.randrange(40):03d}",
                    "clinic_id": c,
                    "scheduled_at": at,
                    "status": status,
                    "phase": "induction",
                    "route": rng.choice(["iv", "im"]),
                    "modality": "infusion",
                    "duration_min": 40,
                    "recovery_min": 30,
                    "session_number": i + 1 if status in ("completed", "stopped_early") else None,
                }
            )
            if rng.random() < 0.1:
                aes.append(
                    {
                        "ae_id": f"AE-{sid}",
                        "patient_key": "P000",
                        "clinic_id": c,
                        "session_id": sid,
                        "onset_at": at,
                        "category": "nausea",
                        "severity_grade": 1,
                        "serious": False,
                    }
                )
    return {"clinics": clinics, "patients": patients, "sessions": sessions, "adverse_events": aes}


def _all_rows(path: Path) -> list[tuple[object, ...]]:
    with connect(path) as con:
        return sorted(con.execute("SELECT * FROM sessions").fetchall(), key=repr)


def _figures(path: Path, n_days: int = 100) -> list[object]:
    cfg = MetricConfig()
    out: list[object] = []
    for days in (30, 90, 365):
        end = (START + timedelta(days=n_days - 1)).date()
        f = Filters(start=end - timedelta(days=days - 1), end=end, clinic_ids=CLINICS)
        with connect(path) as con:
            out.append(throughput.throughput_summary(con, f, cfg))
            out.append(throughput.sessions_over_time(con, f, "week", "clinic").to_dicts())
            out.append(safety.ae_rate(con, f))
    return out


def test_clustering_keeps_rows_and_figures_and_orders_by_time(make_db) -> None:
    path = make_db(_rows())
    before_rows, before_figures = _all_rows(path), _figures(path)
    con = duckdb.connect(str(path))
    try:
        # 6 clinics × 100 days stored clinic by clinic, in groups of 50 rows: each group spans
        # 50 days, 12 groups → 600 group-days over a 100-day history, spread ≈ 6 (> MAX_SPREAD 4)
        assert time_spread(con, "sessions", "scheduled_at", row_group_rows=50) > 5
        assert cluster_by_time(con, "sessions", "scheduled_at", row_group_rows=50)
        # in time order each 50-row group spans ~100/12 days: the spans add up to < 100 days
        assert time_spread(con, "sessions", "scheduled_at", row_group_rows=50) <= 1.0
        times = [r[0] for r in con.execute("SELECT scheduled_at FROM sessions ORDER BY rowid").fetchall()]
        assert times == sorted(times)
        assert not cluster_by_time(con, "sessions", "scheduled_at", row_group_rows=50)  # already ordered
        # the rewritten table keeps the contract's storage of its ids (contract.per_row_ids)
        [(ddl,)] = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'sessions'").fetchall()
        assert "session_id VARCHAR USING COMPRESSION ZSTD" in ddl
    finally:
        con.close()
    assert _all_rows(path) == before_rows
    assert _figures(path) == before_figures


def test_maintain_leaves_small_tables_in_place(make_db) -> None:
    # 600 rows are a single DuckDB-sized group: its spread is exactly 1, nothing to gain
    path = make_db(_rows())
    con = duckdb.connect(str(path))
    try:
        assert time_spread(con, "sessions", "scheduled_at") == 1.0
        assert maintain(con) == list(PER_PATIENT_TABLES)  # built, sessions not rewritten
    finally:
        con.close()


def test_empty_table_has_no_spread(make_db) -> None:
    path = make_db({"sessions": []})
    con = duckdb.connect(str(path))
    try:
        assert time_spread(con, "sessions", "scheduled_at") == 0.0
        assert maintain(con) == list(PER_PATIENT_TABLES)  # built, sessions not rewritten
    finally:
        con.close()
