"""Session numbers and the patient's condition on their rows, through corrections and runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.refresh import refresh
from tests.pipelines.export_folders import AES, CLINICS, PATIENTS, SESSIONS, rows, sess, write


@pytest.mark.parametrize("update_limit", [50_000, 0], ids=["update", "rewrite"])
def test_session_number_counts_administered_sessions_network_wide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_limit: int
) -> None:
    # both ways of renumbering shifted rows
    monkeypatch.setattr("pipelines.load.numbering.UPDATE_LIMIT", update_limit)
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4", "C2,South,S,2025-01-01,3")
    write(
        ex, "patients.csv", PATIENTS, "P1,C1,F,25-34,depression,2025-02-01", "P2,C1,M,25-34,ptsd,2025-02-01"
    )
    write(
        ex,
        "C1/sessions_1.csv",
        SESSIONS,
        sess("A", "P1", "C1", "2025-03-03T09:00"),
        sess("B", "P1", "C1", "2025-03-01T09:00", "cancelled"),
        sess("C", "P1", "C1", "2025-03-05T09:00", "stopped_early"),
        sess("Z", "P2", "C1", "2025-03-01T09:00"),
    )
    write(
        ex, "C2/sessions_1.csv", SESSIONS, sess("D", "P1", "C2", "2025-03-04T09:00")
    )  # other clinic, same patient
    refresh(ex, db)
    # P1 administered by time: A (03-03) 1, D (03-04, C2) 2, C (03-05) 3; B cancelled → null. P2: Z 1.
    numbers = "SELECT session_id, session_number FROM sessions ORDER BY 1"
    assert rows(db, numbers) == [("A", 1), ("B", None), ("C", 3), ("D", 2), ("Z", 1)]
    # a later run: two earlier sessions arrive and A is corrected to no_show
    write(
        ex,
        "C1/sessions_2.csv",
        SESSIONS,
        sess("E", "P1", "C1", "2025-03-02T09:00"),
        sess("F", "P1", "C1", "2025-02-28T09:00"),
        sess("A", "P1", "C1", "2025-03-03T09:00", "no_show"),
    )
    refresh(ex, db)
    # P1 now: F (02-28) 1, E (03-02) 2, D (03-04) 3, C (03-05) 4 — D and C, already stored, shift;
    # A no_show → null; P2 untouched
    assert rows(db, numbers) == [("A", None), ("B", None), ("C", 4), ("D", 3), ("E", 2), ("F", 1), ("Z", 1)]


def test_session_numbers_over_runs_match_a_brute_force_count(tmp_path: Path) -> None:
    """Runs of new days, late arrivals, status corrections and sessions moved to another patient.

    Fast path (new sessions after the patient's last: numbers continue from
    ``patient_session_tails``) and slow path (renumbering from the table) are both
    checked against numbers counted in Python from the final rows alone.
    """
    import random

    rng = random.Random(7)
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4")
    patients = [f"P{i}" for i in range(6)]
    write(ex, "patients.csv", PATIENTS, *(f"{p},C1,F,25-34,depression,2025-01-01" for p in patients))
    statuses = ["completed", "completed", "stopped_early", "cancelled", "no_show"]
    given_statuses = {"completed", "stopped_early"}  # administered: numbered
    current: dict[str, tuple[str, str, str]] = {}  # session_id → (patient, scheduled_at, status)
    next_id = 0
    for run in range(5):
        sent = []
        for _ in range(12):  # new sessions, mostly on the run's own days, some late arrivals
            day = 1 + run * 5 + rng.randrange(5) if rng.random() < 0.8 else 1 + rng.randrange(run * 5 + 1)
            sid = f"S{next_id:03d}"
            next_id += 1
            current[sid] = (
                rng.choice(patients),
                f"2025-03-{day:02d}T{rng.randrange(8, 18):02d}:00",
                rng.choice(statuses),
            )
            sent.append(sid)
        for sid in rng.sample(sorted(set(current) - set(sent)), min(3, len(current) - len(sent))):
            patient, at, _ = current[sid]  # a correction of an earlier run's session, some move patient
            current[sid] = (rng.choice(patients) if rng.random() < 0.5 else patient, at, rng.choice(statuses))
            sent.append(sid)
        write(
            ex,
            f"sessions_{run}.csv",
            SESSIONS,
            *(sess(sid, current[sid][0], "C1", *current[sid][1:]) for sid in sent),
        )
        summary = refresh(ex, db)
        assert summary.status == "succeeded", summary.message

        expected: dict[str, int | None] = {sid: None for sid in current}
        tails = set()
        for patient in patients:
            given = sorted(
                (at, sid) for sid, (p, at, st) in current.items() if p == patient and st in given_statuses
            )
            expected.update({sid: i + 1 for i, (_, sid) in enumerate(given)})
            if given:
                tails.add((patient, len(given), given[-1][1]))
        assert dict(rows(db, "SELECT session_id, session_number FROM sessions")) == expected, run
        stored_tails = rows(
            db, "SELECT patient_key, administered, last_session_id FROM patient_session_tails"
        )
        assert set(stored_tails) == tails, run


def test_sessions_carry_their_patients_condition_through_corrections(tmp_path: Path) -> None:
    """sessions.primary_condition is the patient's on every load: new sessions take it, and a
    corrected patients row (another condition) moves all that patient's stored sessions."""
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4")
    write(
        ex, "patients.csv", PATIENTS, "P1,C1,F,25-34,depression,2025-02-01", "P2,C1,M,25-34,ptsd,2025-02-01"
    )
    write(
        ex,
        "sessions_1.csv",
        SESSIONS,
        sess("A", "P1", "C1", "2025-03-01T09:00"),
        sess("B", "P1", "C1", "2025-03-02T09:00", "no_show"),
        sess("Z", "P2", "C1", "2025-03-01T09:00"),
    )
    write(ex, "adverse_events.csv", AES, "AE1,P1,C1,A,2025-03-01T09:30,headache,1,false,none")
    refresh(ex, db)
    conditions = "SELECT session_id, primary_condition FROM sessions ORDER BY 1"
    ae_conditions = "SELECT ae_id, primary_condition FROM adverse_events ORDER BY 1"
    assert rows(db, conditions) == [("A", "depression"), ("B", "depression"), ("Z", "ptsd")]
    assert rows(db, ae_conditions) == [("AE1", "depression")]
    # P1's condition is corrected; a new session of P1 arrives in the same run
    write(ex, "patients_fix.csv", PATIENTS, "P1,C1,F,25-34,anxiety,2025-02-01")
    write(ex, "sessions_2.csv", SESSIONS, sess("C", "P1", "C1", "2025-03-03T09:00"))
    refresh(ex, db)
    assert rows(db, conditions) == [("A", "anxiety"), ("B", "anxiety"), ("C", "anxiety"), ("Z", "ptsd")]
    assert rows(db, ae_conditions) == [("AE1", "anxiety")]
    # the condition filter then selects P1's sessions as anxiety (the page's path, no patients join)
    from datetime import date

    from dashboard.metrics.filters import Filters, scoped_sessions

    sql, params = scoped_sessions(
        Filters(date(2025, 3, 1), date(2025, 3, 31), ("C1",), conditions=("anxiety",))
    )
    assert "patients" not in sql
    assert sorted(r[0] for r in rows(db, f"SELECT session_id FROM ({sql})", params)) == ["A", "B", "C"]
