"""pipelines/marts/first_sessions.py: the table, its SQL inline and a brute force agree."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from dashboard.db import connect
from dashboard.metrics import throughput
from dashboard.metrics.filters import Filters
from pipelines.model.config import MetricConfig


def test_first_sessions_table_equals_brute_force_and_the_inline_path(tmp_path) -> None:
    """The summary table, its inline SQL and a window over the raw sessions agree on a demo-like DB."""
    from dashboard.metrics import outcomes
    from pipelines.compat import first_sessions_source
    from pipelines.marts import FIRST_SESSIONS
    from pipelines.marts.first_sessions import build_first_sessions
    from tests.dashboard.conftest import build_demo_like_db

    path = build_demo_like_db(tmp_path / "demo.duckdb")
    cfg = MetricConfig()
    with connect(path) as con:
        assert first_sessions_source(con) != FIRST_SESSIONS  # no table yet: the inline SQL
        end = con.execute("SELECT CAST(max(scheduled_at) AS DATE) FROM sessions").fetchall()[0][0]
        ids = tuple(r[0] for r in con.execute("SELECT clinic_id FROM clinics").fetchall())
        f = Filters(start=end - timedelta(days=364), end=end, clinic_ids=ids)
        inline = outcomes.outcome_summary(con, f, cfg)
        inline_induction = throughput.induction(con, f)
        inline_new_starts = throughput.new_starts_over_time(con, f)
        assert inline_induction["completion"]["eligible_patients"] > 20
    con = duckdb.connect(str(path))
    try:
        build_first_sessions(con)
        table = sorted(con.execute(f"SELECT * EXCLUDE (patient_no) FROM {FIRST_SESSIONS}").fetchall())
        [(misnumbered,)] = con.execute(
            f"SELECT count(*) FROM {FIRST_SESSIONS} f JOIN patients p USING (patient_key) "
            "WHERE f.patient_no IS DISTINCT FROM p.patient_no"
        ).fetchall()
        assert misnumbered == 0
        brute = sorted(
            con.execute(
                "SELECT s.patient_key, session_id, scheduled_at, clinic_id, route, modality, "
                "p.primary_condition FROM sessions s JOIN patients p USING (patient_key) "
                "WHERE status IN ('completed', 'stopped_early') "
                "QUALIFY row_number() OVER (PARTITION BY patient_key ORDER BY scheduled_at, session_id) = 1"
            ).fetchall()
        )
        sessions = con.execute("SELECT patient_key, scheduled_at, status, phase FROM sessions").fetchall()
    finally:
        con.close()

    def induction_sessions(key: str, day0: datetime) -> int:
        """By a loop: administered induction sessions from day 0 to the end of day 0's date + 42."""
        return sum(
            1
            for k, at, status, phase in sessions
            if k == key and status in ("completed", "stopped_early") and phase == "induction"
            if day0 <= at and at.date() <= day0.date() + timedelta(days=42)
        )

    brute = [(*first, induction_sessions(first[0], first[2])) for first in brute]
    assert table == brute and len(table) > 50
    assert {row[-1] for row in table} >= {1, 3, 6}  # the counts the funnel's stages compare with
    assert {row[-2] for row in table} >= {"depression", "ptsd"}
    with connect(path) as con:
        assert first_sessions_source(con) == FIRST_SESSIONS
        assert outcomes.outcome_summary(con, f, cfg).equals(inline)
        assert throughput.induction(con, f)["funnel"].equals(inline_induction["funnel"])
        assert throughput.new_starts_over_time(con, f).equals(inline_new_starts)


def test_first_sessions_table_without_the_induction_count_is_read_inline_and_rebuilt(tmp_path) -> None:
    """A database published before ``induction_sessions`` existed: pages count inline (same figures)
    until the next refresh, which rebuilds the per-patient tables instead of updating them."""
    from pipelines.compat import first_sessions_source
    from pipelines.marts import FIRST_SESSIONS, update_per_patient_tables
    from tests.dashboard.conftest import build_demo_like_db

    path = build_demo_like_db(tmp_path / "demo.duckdb")
    con = duckdb.connect(str(path))
    try:
        assert update_per_patient_tables(con) == "rebuilt"
        con.execute(f"ALTER TABLE {FIRST_SESSIONS} DROP COLUMN induction_sessions").fetchall()
        assert first_sessions_source(con) != FIRST_SESSIONS
        end = con.execute("SELECT CAST(max(scheduled_at) AS DATE) FROM sessions").fetchall()[0][0]
        ids = tuple(r[0] for r in con.execute("SELECT clinic_id FROM clinics").fetchall())
        f = Filters(start=end - timedelta(days=364), end=end, clinic_ids=ids)
        inline = throughput.induction(con, f)["funnel"]
        assert update_per_patient_tables(con) == "rebuilt"  # nothing touched, yet not "unchanged"
        assert first_sessions_source(con) == FIRST_SESSIONS
        assert throughput.induction(con, f)["funnel"].equals(inline)
        assert inline["patients"][0] > 20
    finally:
        con.close()
