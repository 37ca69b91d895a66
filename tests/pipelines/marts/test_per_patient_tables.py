"""pipelines/marts: a daily refresh updates the touched patients' per-patient rows as a rebuild would."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb


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
    from pipelines import marts

    paths: list[str] = []
    original = marts.update_per_patient_tables
    monkeypatch.setattr(
        marts, "update_per_patient_tables", lambda con: paths.append(original(con)) or paths[-1]
    )
    return paths


def test_a_refresh_updates_exactly_the_first_sessions_that_can_change(tmp_path: Path, monkeypatch) -> None:
    """A daily refresh recomputes the first session (and induction count) only of patients whose
    touched sessions fall before the end of their induction window, or whose patients row
    changed; every kind of change below must still leave the table a rebuild would."""

    from pipelines import marts
    from pipelines.marts import first_sessions
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

    build = first_sessions.build_first_sessions
    rows = _rows_as_rebuilt(db, tmp_path, build, marts.FIRST_SESSIONS, "patient_key")
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

    from pipelines import marts
    from pipelines.marts import maintenance
    from pipelines.refresh import refresh
    from tests.pipelines.export_folders import ASSESSMENTS, PATIENTS, SESSIONS, write

    session = partial(_session_row, phase="maintenance")

    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    paths = _per_patient_paths(monkeypatch)

    def refreshed_rows() -> dict[str, dict[str, object]]:
        """Refresh; the maintenance rows, checked against a rebuild."""
        assert refresh(ex, db).status == "succeeded"
        build = maintenance.build_maintenance_sessions
        return _rows_as_rebuilt(db, tmp_path, build, marts.MAINTENANCE_SESSIONS, "session_id")

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
