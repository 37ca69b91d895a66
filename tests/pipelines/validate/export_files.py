"""Export files written for a validator test, and checks every result must pass.

``run`` validates one file and asserts the invariants the loader relies on (every row
read is accepted, rejected or collapsed; rejects in their schema), so every test gets them.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.validate import FileResult, validate_file
from pipelines.validate.rejects import REJECT_SCHEMA

CLINICS = "clinic_id,clinic_name,region,opened_on,closed_on,chairs,hours_per_day\n"
PATIENTS = "patient_key,home_clinic_id,sex,age_band,primary_condition,enrolled_on\n"
SESSIONS = (
    "session_id,patient_key,clinic_id,scheduled_at,status,phase,route,modality,"
    "dose_mg,weight_kg,duration_min\n"
)
ASSESSMENTS = "assessment_id,patient_key,clinic_id,instrument,score,assessed_at,session_id\n"
AES = (
    "ae_id,patient_key,clinic_id,session_id,onset_at,category,severity_grade,serious,action_taken,"
    "outcome,description\n"
)
GOOD_CLINIC = "CLN-001,North,East,2024-01-02,,5,\n"
GOOD_SESSION = "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,35,70,40\n"
GOOD_AE = "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,1,false,none,resolved,mild headache\n"


def run(tmp_path: Path, name: str, content: str | bytes) -> FileResult:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    result = validate_file(path, name)
    assert result.rows_read == result.accepted.height + result.rows_rejected + result.duplicates_collapsed
    assert result.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert result.rejects.height == (1 if result.file_error else result.rows_rejected)
    return result


def only_reject(result: FileResult) -> dict:
    assert result.rejects.height == 1, result.rejects
    return result.rejects.row(0, named=True)


def everything_text(result: FileResult) -> str:
    """Every value a FileResult could hand to the loader, as one string."""
    parts = [str(v) for frame in (result.accepted, result.rejects) for row in frame.iter_rows() for v in row]
    return " ".join(parts + result.unknown_columns)
