"""``patient_no``: each patient's number in the database, copied onto their sessions and scores.

The refresh finds a patient's rows by it (contract.PATIENT_NUMBER), so it must name the
same patient for the life of the database: kept through corrections, never reused, and
equal on every row to the patients row's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from pipelines import marts
from pipelines.refresh import refresh
from tests.pipelines.export_folders import ASSESSMENTS, CLINICS, PATIENTS, SESSIONS, sess, write


def _patient(key: str, condition: str = "depression") -> str:
    return f"{key},C1,F,25-34,{condition},2025-01-01"


def _score(aid: str, patient: str, at: str, session: str = "") -> str:
    return f"{aid},{patient},C1,phq9,18,{at},{session}"


def _numbers(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT patient_key, patient_no FROM patients").fetchall())


def _misnumbered_rows(db: Path) -> int:
    """Rows of any table carrying a patient number other than their patients row's.

    The outcome rows carry the number only: theirs must name a patient whose first session
    (itself checked by key) is the row's day 0."""
    keyed = ("sessions", "assessments", marts.FIRST_SESSIONS, marts.MAINTENANCE_SESSIONS)
    numbered_only = [t for t in marts.PER_PATIENT_TABLES if t not in keyed]
    assert len(numbered_only) == 3  # the three outcome tables
    checks = [
        f"SELECT count(*) FROM {t} x JOIN patients p USING (patient_key) "
        "WHERE x.patient_no IS DISTINCT FROM p.patient_no"
        for t in keyed
    ] + [
        f"SELECT count(*) FROM {t} x LEFT JOIN {marts.FIRST_SESSIONS} f USING (patient_no) "
        "WHERE x.day0 IS DISTINCT FROM f.day0"
        for t in numbered_only
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        return sum(con.execute(sql).fetchall()[0][0] for sql in checks)


def _first_run(tmp_path: Path) -> tuple[Path, Path]:
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2024-01-01,40")
    write(ex, "patients.csv", PATIENTS, *(_patient(p) for p in ("P1", "P2", "P3")))
    write(
        ex,
        "sessions_2025-01.csv",
        SESSIONS,
        sess("S1", "P1", "C1", "2025-01-02T09:00"),
        sess("S2", "P2", "C1", "2025-01-03T09:00"),
        sess("S3", "P3", "C1", "2025-01-04T09:00"),
    )
    write(
        ex,
        "assessments_2025-01.csv",
        ASSESSMENTS,
        _score("A1", "P1", "2025-01-01T08:00"),
        _score("A3", "P3", "2025-01-20T08:00", "S3"),
    )
    assert refresh(ex, db).status == "succeeded"
    return ex, db


def test_patients_keep_their_number_through_corrections_and_new_ones_are_never_reused(
    tmp_path: Path,
) -> None:
    ex, db = _first_run(tmp_path)
    before = _numbers(db)
    assert sorted(before.values()) == [1, 2, 3]
    assert _misnumbered_rows(db) == 0

    # P3 holds the highest number and is corrected in the same run that adds P0 (a key that
    # sorts first) and P4: the new ones must come after it, not take it over.
    write(ex, "patients_2025-02.csv", PATIENTS, _patient("P0"), _patient("P3", "ptsd"), _patient("P4"))
    write(
        ex,
        "sessions_2025-02.csv",
        SESSIONS,
        sess("S1", "P4", "C1", "2025-01-02T09:00"),  # S1 corrected: it was P4's, not P1's
        sess("S5", "P0", "C1", "2025-02-01T09:00"),
    )
    write(ex, "assessments_2025-02.csv", ASSESSMENTS, _score("A5", "P0", "2025-02-02T08:00", "S5"))
    assert refresh(ex, db).status == "succeeded"

    after = _numbers(db)
    assert {k: after[k] for k in before} == before  # corrected or not, the same number
    assert sorted(after.values()) == [1, 2, 3, 4, 5]  # unique; the new ones after the highest
    assert min(after["P0"], after["P4"]) > max(before.values())
    assert _misnumbered_rows(db) == 0  # S1 now carries P4's number, A5 P0's
    with duckdb.connect(str(db), read_only=True) as con:
        [(moved,)] = con.execute("SELECT patient_no FROM sessions WHERE session_id = 'S1'").fetchall()
    assert moved == after["P4"]


def test_a_database_published_before_patient_numbers_gets_them_on_its_next_refresh(
    tmp_path: Path,
) -> None:
    ex, db = _first_run(tmp_path)
    old = tmp_path / "old.duckdb"
    shutil.copyfile(db, old)
    with duckdb.connect(str(old)) as con:  # as an older version published it
        for table in ("patients", "sessions", "assessments", *marts.PER_PATIENT_TABLES):
            con.execute(f"ALTER TABLE {table} DROP COLUMN patient_no").fetchall()

    # nothing new in the exports: the run still publishes, because the schema is not current
    summary = refresh(ex, old)
    assert summary.status == "succeeded" and summary.files_read == 0
    numbers = _numbers(old)
    assert sorted(numbers.values()) == [1, 2, 3]
    assert _misnumbered_rows(old) == 0
    with duckdb.connect(str(old), read_only=True) as con:
        # the per-patient tables were rebuilt with the numbers: the same rows as a fresh build's
        for table in marts.PER_PATIENT_TABLES:
            columns = ", ".join(
                r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[0] != "patient_no"
            )
            migrated = sorted(con.execute(f"SELECT {columns} FROM {table}").fetchall(), key=repr)
            with duckdb.connect(str(db), read_only=True) as fresh:
                built = sorted(fresh.execute(f"SELECT {columns} FROM {table}").fetchall(), key=repr)
            assert migrated == built, table
