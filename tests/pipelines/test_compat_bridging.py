"""pipelines/compat.py: pages read a database of an older version as they read a current one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb

from dashboard.db import connect
from dashboard.metrics import safety, throughput
from dashboard.metrics.filters import Filters
from pipelines.model.config import MetricConfig


def test_pages_read_a_database_published_before_the_patient_copies(tmp_path) -> None:
    """Until its next refresh adds ``primary_condition`` to sessions and AEs and ``patient_no`` to
    sessions and scores, a database of an older version is read through temp views that join the
    patients and number the patients per read (``dashboard.db``): same figures."""
    import shutil

    from tests.dashboard.conftest import build_demo_like_db

    path = build_demo_like_db(tmp_path / "new.duckdb")
    old = tmp_path / "old.duckdb"
    shutil.copyfile(path, old)
    con = duckdb.connect(str(old))
    for table in ("sessions", "adverse_events"):
        con.execute(f"ALTER TABLE {table} DROP COLUMN primary_condition").fetchall()
    for table in ("patients", "sessions", "assessments"):  # nor did any carry patient numbers
        con.execute(f"ALTER TABLE {table} DROP COLUMN patient_no").fetchall()
    con.close()

    def figures(db: Path) -> list[object]:
        with connect(db) as c:
            end = c.execute("SELECT CAST(max(scheduled_at) AS DATE) FROM sessions").fetchall()[0][0]
            ids = tuple(r[0] for r in c.execute("SELECT clinic_id FROM clinics").fetchall())
            f = Filters(start=end - timedelta(days=364), end=end, clinic_ids=ids, conditions=("ptsd",))
            return [
                throughput.throughput_summary(c, f, MetricConfig()),
                throughput.induction(c, f)["completion"],
                safety.ae_rate(c, f),
                throughput.throughput_by_clinic(c, f, MetricConfig())["active_patients"].to_list(),
            ]

    new_figures = figures(path)
    assert figures(old) == new_figures
    assert new_figures[0]["administered_sessions"] > 50 and new_figures[2]["ae_count"] > 0
    assert new_figures[0]["active_patients"] > 20 and sum(new_figures[3]) >= new_figures[0]["active_patients"]
    bridged = (
        "SELECT count(*) FROM duckdb_views() WHERE temporary "
        "AND view_name IN ('sessions', 'adverse_events', 'assessments')"
    )
    with connect(old) as c:  # the views are this connection's: the file is untouched
        assert c.execute(bridged).fetchall()[0][0] == 3
    with connect(path) as c:  # a current database needs none
        assert c.execute(bridged).fetchall()[0][0] == 0
    with duckdb.connect(str(old), read_only=True) as raw:
        cols = {r[0] for r in raw.execute("DESCRIBE sessions").fetchall()}
    assert "primary_condition" not in cols
