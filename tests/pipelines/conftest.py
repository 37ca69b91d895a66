"""Fixtures of the pipelines tests: an export folder with one of most kinds of trouble."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipelines.export_folders import AES, CLINICS, PATIENTS, SESSIONS, sess, write


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    """A small folder with one of most kinds of trouble; counts per file are in the comments."""
    ex = tmp_path / "exports"
    # 3 read: C1, C2 loaded; C3 has 99 chairs (out_of_range)
    write(
        ex,
        "clinics.csv",
        CLINICS,
        "C1,North,N,2025-01-01,4",
        "C2,South,S,2025-01-01,3",
        "C3,Bad,S,2025-01-01,99",
    )
    # 5 read: P1 twice identical (1 collapsed), P2 loaded, P3 → C3 which was rejected (unknown_fk), P4 sex Q
    write(
        ex,
        "CLN-1/patients.csv",
        PATIENTS,
        "P1,C1,F,25-34,depression,2025-02-01",
        "P1,C1,F,25-34,depression,2025-02-01",
        "P2,C2,M,35-44,ptsd,2025-02-01",
        "P3,C3,M,35-44,ptsd,2025-02-01",
        "P4,C1,Q,35-44,ptsd,2025-02-01",
    )
    # 4 read: S1, S3 loaded; S2's patient P3 was rejected (unknown_fk); one line with an extra field
    write(
        ex,
        "CLN-1/sessions_2025-03-01.csv",
        SESSIONS,
        sess("S1", "P1", "C1", "2025-03-01T09:00"),
        sess("S2", "P3", "C1", "2025-03-01T10:00"),
        sess("S3", "P2", "C1", "2025-03-01T11:00", "no_show"),
        sess("S4", "P1", "C1", "2025-03-01T12:00") + ",extra",
    )
    # 2 read: AE1 loaded; AE2 names session S99 that does not exist (unknown_fk)
    write(
        ex,
        "CLN-2/adverse_events.csv",
        AES,
        "AE1,P2,C2,S3,2025-03-01T11:30,headache,1,false,none",
        "AE2,P1,C1,S99,2025-03-01T11:30,nausea_vomiting,1,no,monitored",
    )
    (ex / "CLN-2" / "README.txt").write_text("not an export\n")
    (ex / ".sessions_partial.csv.tmp").write_text("upload in progress\n")
    return ex
