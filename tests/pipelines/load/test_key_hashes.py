"""The key-hash index: rebuilt when missing, stale or of another function; collisions told apart."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.refresh import refresh
from tests.pipelines.export_folders import ASSESSMENTS, CLINICS, PATIENTS, SESSIONS, rows, sess, write


@pytest.mark.parametrize("probe_ratio", [0, 10**9], ids=["key-hashes", "key-join"])
def test_key_hashes_missing_or_stale_are_rebuilt_before_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe_ratio: int
) -> None:
    """Replaced keys and foreign keys are found through stored key hashes (load.key_hashes).

    A database published before them, or whose rows were changed by hand, must not make a
    correction a duplicate or let a foreign key point at a row that is gone.
    """
    monkeypatch.setattr("pipelines.load.loader.HASH_PROBE_RATIO", probe_ratio)
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4")
    write(ex, "patients.csv", PATIENTS, "P1,C1,F,25-34,depression,2025-02-01")
    write(
        ex,
        "sessions_1.csv",
        SESSIONS,
        sess("S1", "P1", "C1", "2025-03-01T09:00"),
        sess("S2", "P1", "C1", "2025-03-02T09:00"),
    )
    refresh(ex, db)
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE sessions_key_hashes")  # as published before the hashes existed
    con.execute("DELETE FROM sessions WHERE session_id = 'S2'")  # and a row removed by hand
    con.close()
    # S1 corrected (must replace, not add); A1 names the removed S2 (unknown_fk), A2 names S1
    write(ex, "sessions_2.csv", SESSIONS, sess("S1", "P1", "C1", "2025-03-01T09:00", "no_show"))
    write(
        ex,
        "assessments_1.csv",
        ASSESSMENTS,
        "A1,P1,C1,phq9,12,2025-03-02T08:50,S2",
        "A2,P1,C1,phq9,10,2025-03-01T08:50,S1",
    )
    summary = refresh(ex, db)
    assert summary.status == "succeeded", summary.message
    assert rows(db, "SELECT session_id, status FROM sessions") == [("S1", "no_show")]
    assert rows(db, "SELECT assessment_id FROM assessments") == [("A2",)]
    assert rows(db, "SELECT value FROM rejected_rows WHERE reason = 'unknown_fk'") == [("S2",)]
    # one hash per stored key: S1 in sessions; A2 in assessments
    assert rows(db, "SELECT count(*) FROM sessions_key_hashes") == [(1,)]
    assert rows(db, "SELECT count(*) FROM assessments_key_hashes") == [(1,)]


def test_keys_sharing_a_hash_are_told_apart_by_the_keys_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """64-bit key hashes can collide: a new key sharing a stored key's hash must still be new."""
    monkeypatch.setattr("pipelines.load.key_hashes.KEY_HASH", "length")  # every two-character key collides
    monkeypatch.setattr("pipelines.load.key_hashes.KEY_HASH_TYPE", "BIGINT")
    monkeypatch.setattr("pipelines.load.loader.HASH_PROBE_RATIO", 10**9)  # foreign keys by joining the keys
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4")
    write(ex, "patients.csv", PATIENTS, "P1,C1,F,25-34,depression,2025-02-01")
    write(ex, "sessions_1.csv", SESSIONS, sess("S1", "P1", "C1", "2025-03-01T09:00"))
    refresh(ex, db)
    write(
        ex,
        "sessions_2.csv",
        SESSIONS,
        sess("S1", "P1", "C1", "2025-03-01T09:00", "no_show"),  # a correction of S1
        sess("S2", "P1", "C1", "2025-03-02T09:00"),  # new, with S1's hash
    )
    assert refresh(ex, db).status == "succeeded"
    assert rows(db, "SELECT session_id, status, session_number FROM sessions ORDER BY 1") == [
        ("S1", "no_show", None),
        ("S2", "completed", 1),
    ]
    assert rows(db, "SELECT count(*), count(DISTINCT key_hash) FROM sessions_key_hashes") == [(2, 1)]


@pytest.mark.parametrize(
    "published",
    [
        # 128-bit MD5, before 1 Dec 2026
        [
            "CREATE OR REPLACE TABLE sessions_key_hashes AS "
            "SELECT md5_number(session_id) AS key_hash FROM sessions"
        ],
        # 64-bit MD5 halves and no canary, before 2 Dec 2026: same type and count, other values
        [
            "CREATE OR REPLACE TABLE sessions_key_hashes AS "
            "SELECT md5_number_lower(session_id) AS key_hash FROM sessions",
            "DROP TABLE key_hash_canary",
        ],
        # hashed by a DuckDB whose hash() differs from this one's (an upgrade): its canary differs too
        [
            "CREATE OR REPLACE TABLE sessions_key_hashes AS "
            "SELECT hash(session_id) + 1 AS key_hash FROM sessions",
            "UPDATE key_hash_canary SET canary = canary + 1",
        ],
    ],
    ids=["md5-128", "md5-64", "other-duckdb"],
)
def test_key_hashes_of_another_function_are_rebuilt(tmp_path: Path, published: list[str]) -> None:
    """Stored hashes made otherwise would not find a corrected key: the correction would be a duplicate."""
    ex, db = tmp_path / "exports", tmp_path / "k.duckdb"
    write(ex, "clinics.csv", CLINICS, "C1,North,N,2025-01-01,4")
    write(ex, "patients.csv", PATIENTS, "P1,C1,F,25-34,depression,2025-02-01")
    write(ex, "sessions_1.csv", SESSIONS, sess("S1", "P1", "C1", "2025-03-01T09:00"))
    refresh(ex, db)
    con = duckdb.connect(str(db))
    for sql in published:
        con.execute(sql)
    con.close()
    write(ex, "sessions_2.csv", SESSIONS, sess("S1", "P1", "C1", "2025-03-01T09:00", "no_show"))
    assert refresh(ex, db).status == "succeeded"
    assert rows(db, "SELECT session_id, status FROM sessions") == [("S1", "no_show")]
    assert rows(db, "SELECT typeof(key_hash), key_hash = hash('S1') FROM sessions_key_hashes") == [
        ("UBIGINT", True)
    ]
    assert rows(db, "SELECT function, canary = hash('KetaOps key-hash canary') FROM key_hash_canary") == [
        ("hash", True)
    ]
