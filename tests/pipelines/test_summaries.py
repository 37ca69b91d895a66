"""pipelines/summaries.py: time clustering keeps every row and every metric figure, and orders by time."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

import duckdb

from dashboard.db import connect
from dashboard.metrics import safety, throughput
from dashboard.metrics.config import MetricConfig
from dashboard.metrics.filters import Filters
from pipelines.summaries import PER_PATIENT_TABLES, cluster_by_time, optimise, time_spread

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


def test_optimise_leaves_small_tables_in_place(make_db) -> None:
    # 600 rows are a single DuckDB-sized group: its spread is exactly 1, nothing to gain
    path = make_db(_rows())
    con = duckdb.connect(str(path))
    try:
        assert time_spread(con, "sessions", "scheduled_at") == 1.0
        assert optimise(con) == list(PER_PATIENT_TABLES)  # built, sessions not rewritten
    finally:
        con.close()


def test_empty_table_has_no_spread(make_db) -> None:
    path = make_db({"sessions": []})
    con = duckdb.connect(str(path))
    try:
        assert time_spread(con, "sessions", "scheduled_at") == 0.0
        assert optimise(con) == list(PER_PATIENT_TABLES)  # built, sessions not rewritten
    finally:
        con.close()


def test_first_sessions_table_equals_brute_force_and_the_inline_path(tmp_path) -> None:
    """The summary table, its inline SQL and a window over the raw sessions agree on a demo-like DB."""
    from dashboard.metrics import outcomes
    from pipelines.summaries import FIRST_SESSIONS, build_first_sessions, first_sessions_source
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
    from pipelines.summaries import FIRST_SESSIONS, first_sessions_source, update_per_patient_tables
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


def _session_row(sid: str, patient: str, at: str, status: str = "completed", phase: str = "induction") -> str:
    """A sessions CSV row at clinic C1 (35 mg, 70 kg, 40 min)."""
    return f"{sid},{patient},C1,{at},{status},{phase},35,70,40"


def _clinic_and_patients(ex: Path, patients: list[str], enrolled: str) -> None:
    """One clinic and ``patients``, plus 40 untouched ones: a run that touches a few of them
    updates the per-patient tables instead of rebuilding them (``FULL_REBUILD_SHARE``)."""
    from tests.pipelines.export_folders import CLINICS as CLINICS_HEADER
    from tests.pipelines.export_folders import PATIENTS, write

    write(ex, "clinics.csv", CLINICS_HEADER, "C1,North,N,2024-01-01,40")
    others = [f"Q{i:02d}" for i in range(40)]
    rows = (f"{p},C1,F,25-34,depression,{enrolled}" for p in [*patients, *others])
    write(ex, "patients.csv", PATIENTS, *rows)


def _untouched_sessions(session: Callable[[str, str, str], str]) -> list[str]:
    """A session for each of ``_clinic_and_patients``'s untouched patients."""
    return [session(f"O{i:02d}", f"Q{i:02d}", f"2025-01-{1 + i % 28:02d}T10:00") for i in range(40)]


def _rows_as_rebuilt(
    db: Path, tmp_path: Path, build: Callable[[duckdb.DuckDBPyConnection], None], table: str, key: str
) -> dict[str, dict[str, object]]:
    """``table``'s rows by ``key``, after checking they equal those ``build`` makes on a copy of ``db``."""
    import shutil

    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(db, rebuilt)
    with duckdb.connect(str(rebuilt)) as con:
        build(con)
    query = f"SELECT * FROM {table} ORDER BY {key}"
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(query)
        updated = cursor.fetchall()
        names = [d[0] for d in cursor.description]
    with duckdb.connect(str(rebuilt), read_only=True) as con:
        assert updated == con.execute(query).fetchall()
    return {r[key]: r for r in (dict(zip(names, row, strict=True)) for row in updated)}


def _per_patient_paths(monkeypatch) -> list[str]:
    """What each refresh's ``update_per_patient_tables`` did ("rebuilt", "updated", …), in order."""
    from pipelines import summaries

    paths: list[str] = []
    original = summaries.update_per_patient_tables
    monkeypatch.setattr(
        summaries, "update_per_patient_tables", lambda con: paths.append(original(con)) or paths[-1]
    )
    return paths


def test_a_refresh_updates_exactly_the_first_sessions_that_can_change(tmp_path: Path, monkeypatch) -> None:
    """A daily refresh recomputes the first session (and induction count) only of patients whose
    touched sessions fall before the end of their induction window, or whose patients row
    changed; every kind of change below must still leave the table a rebuild would."""

    from pipelines import summaries
    from pipelines.refresh import refresh
    from tests.pipelines.export_folders import PATIENTS, SESSIONS, write

    session = _session_row

    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    _clinic_and_patients(ex, ["P1", "P2", "P3", "P4", "P5"], "2025-01-01")
    write(
        ex,
        "sessions_2025-01.csv",
        SESSIONS,
        session("A1", "P1", "2025-01-01T09:00"),
        session("A2", "P1", "2025-01-05T09:00"),
        session("A3", "P1", "2025-04-01T09:00", phase="maintenance"),
        session("B1", "P2", "2025-01-02T09:00"),
        session("C1", "P3", "2025-01-03T09:00"),
        session("C2", "P3", "2025-01-04T09:00"),
        session("D1", "P4", "2025-01-04T09:00"),
        session("E1", "P5", "2025-01-06T09:00"),
        *_untouched_sessions(session),
    )
    assert refresh(ex, db).status == "succeeded"
    write(
        ex,
        "sessions_2025-05.csv",
        SESSIONS,
        session("A4", "P1", "2025-05-01T09:00", phase="maintenance"),  # long after P1's window
        session("B0", "P2", "2024-12-30T09:00"),  # before P2's day 0: the new first session
        session("C1", "P3", "2025-01-03T09:00", status="no_show"),  # P3's first session corrected away
        session("D2", "P4", "2025-02-10T09:00"),  # inside P4's window (day 0 + 42): counted
        session("A2", "P6", "2025-01-05T09:00"),  # moved from P1 (inside P1's window) to new patient P6
    )
    write(
        ex, "patients_2025-05.csv", PATIENTS, "P5,C1,F,25-34,ptsd,2025-01-01", "P6,C1,M,35-44,ocd,2025-05-01"
    )
    paths = _per_patient_paths(monkeypatch)
    assert refresh(ex, db).status == "succeeded"
    assert paths == ["updated"]

    build = summaries.build_first_sessions
    rows = _rows_as_rebuilt(db, tmp_path, build, summaries.FIRST_SESSIONS, "patient_key")
    firsts = {k: (r["session_id"], r["primary_condition"], r["induction_sessions"]) for k, r in rows.items()}
    assert firsts["P1"] == ("A1", "depression", 1)  # A2 moved away
    assert firsts["P2"][0] == "B0" and firsts["P3"] == ("C2", "depression", 1)
    assert firsts["P4"] == ("D1", "depression", 2) and firsts["P5"] == ("E1", "ptsd", 1)
    assert firsts["P6"] == ("A2", "ocd", 1)


def test_a_refresh_recomputes_maintenance_rows_from_the_earliest_touched_session(
    tmp_path: Path, monkeypatch
) -> None:
    """Each maintenance row names the session before it: a late session, a session moved in
    time or to another patient, a patients row's new condition and a new patient must leave the
    table a rebuild would, though only rows from each patient's earliest touched session on are
    recomputed (from the sessions after the last row kept: the first run below checks that
    bound alone, as the earliest of the run)."""

    from pipelines import summaries
    from pipelines.refresh import refresh
    from tests.pipelines.export_folders import ASSESSMENTS, PATIENTS, SESSIONS, write

    session = partial(_session_row, phase="maintenance")

    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    paths = _per_patient_paths(monkeypatch)

    def refreshed_rows() -> dict[str, dict[str, object]]:
        """Refresh; the maintenance rows, checked against a rebuild."""
        assert refresh(ex, db).status == "succeeded"
        build = summaries.build_maintenance_sessions
        return _rows_as_rebuilt(db, tmp_path, build, summaries.MAINTENANCE_SESSIONS, "session_id")

    _clinic_and_patients(ex, ["P1", "P2", "P3", "P4", "P5", "P7", "P8"], "2024-12-01")
    write(
        ex,
        "sessions_2025-01.csv",
        SESSIONS,
        session("M1", "P1", "2025-02-01T09:00"),
        session("M2", "P1", "2025-02-10T09:00"),
        session("M3", "P1", "2025-03-10T09:00"),
        session("M4", "P2", "2025-03-01T09:00"),
        session("M5", "P2", "2025-04-15T09:00"),
        session("M6", "P3", "2025-03-01T09:00"),
        session("M7", "P3", "2025-04-01T09:00"),
        session("M8", "P4", "2025-01-20T09:00"),
        session("M9", "P4", "2025-02-20T09:00"),
        session("M10", "P5", "2025-03-05T09:00"),
        session("M14", "P7", "2025-01-07T09:00"),
        session("M16", "P8", "2025-03-03T09:00"),
        *_untouched_sessions(session),
    )
    refreshed_rows()
    # a late session, alone: its previous row is older than anything else the run touches
    write(ex, "sessions_2025-02.csv", SESSIONS, session("M11", "P1", "2025-02-20T09:00"))
    rows = refreshed_rows()
    assert rows["M3"]["prev_session_id"] == "M11" and rows["M11"]["prev_session_id"] == "M2"

    # P4's and P8's conditions corrected (P8 has no new session), P6 new
    new_rows = (
        "P4,C1,F,25-34,ptsd,2024-12-01",
        "P6,C1,M,35-44,ocd,2025-05-01",
        "P8,C1,F,25-34,ocd,2024-12-01",
    )
    write(ex, "patients_2025-05.csv", PATIENTS, *new_rows)
    write(
        ex,
        "sessions_2025-05.csv",
        SESSIONS,
        session("M5", "P2", "2025-02-25T09:00"),  # corrected: now before M4
        session("M7", "P5", "2025-04-01T09:00"),  # corrected: P5's, not P3's
        session("M12", "P6", "2025-05-02T09:00"),  # a new patient's
        session("M13", "P6", "2025-05-09T09:00"),
        session("M15", "P4", "2025-05-20T09:00"),  # after P4's rows, which the new condition changes
    )
    write(ex, "assessments_2025-05.csv", ASSESSMENTS, "X1,P7,C1,phq9,12,2025-05-01T09:00,")  # no session
    rows = refreshed_rows()
    assert paths == ["rebuilt", "updated", "updated"]
    assert rows["M4"]["prev_session_id"] == "M5" and rows["M5"]["prev_session_id"] is None
    assert rows["M7"]["patient_key"] == "P5" and rows["M7"]["prev_session_id"] == "M10"
    assert {rows[s]["primary_condition"] for s in ("M8", "M9", "M15")} == {"ptsd"}
    assert rows["M16"]["primary_condition"] == "ocd"
    assert rows["M13"]["prev_session_id"] == "M12" and rows["M14"]["prev_session_id"] is None


def test_only_a_run_that_updates_the_per_patient_tables_records_the_patients_it_touched(
    tmp_path: Path, monkeypatch
) -> None:
    """A first load rebuilds every per-patient table, so it skips the record (three statements over
    every row); the next run updates the touched patients' rows and needs it."""
    from pipelines.load import loader as load
    from pipelines.refresh import refresh
    from tests.pipelines.export_folders import SESSIONS, write

    recorded: list[str] = []
    original = load.record_touched_patients
    monkeypatch.setattr(
        load, "record_touched_patients", lambda con, table: recorded.append(table) or original(con, table)
    )
    paths = _per_patient_paths(monkeypatch)
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    _clinic_and_patients(ex, ["P1", "P2"], "2025-01-01")
    write(ex, "sessions_2025-01.csv", SESSIONS, _session_row("A1", "P1", "2025-01-01T09:00"))
    assert refresh(ex, db).status == "succeeded"
    assert (paths, recorded) == (["rebuilt"], [])
    write(ex, "sessions_2025-02.csv", SESSIONS, _session_row("B1", "P2", "2025-02-01T09:00"))
    assert refresh(ex, db).status == "succeeded"
    assert recorded == ["sessions"]
