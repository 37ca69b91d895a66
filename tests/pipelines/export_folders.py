"""Small hand-written export folders and what a refresh made of them.

Shared by the tests that run real refreshes (load, compat, read-side tables): export
headers, a writer, and readers of the database that compute nothing themselves.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.contract import TABLES

CLINICS = "clinic_id,clinic_name,region,opened_on,chairs"
PATIENTS = "patient_key,home_clinic_id,sex,age_band,primary_condition,enrolled_on"
SESSIONS = "session_id,patient_key,clinic_id,scheduled_at,status,phase,dose_mg,weight_kg,duration_min"
ASSESSMENTS = "assessment_id,patient_key,clinic_id,instrument,score,assessed_at,session_id"
AES = "ae_id,patient_key,clinic_id,session_id,onset_at,category,severity_grade,serious,action_taken"


def write(exports: Path, rel: str, header: str, *rows: str) -> Path:
    path = exports / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def rows(db: Path, sql: str, params: list[object] | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def checksums(db: Path, tables: list[str]) -> dict[str, tuple]:
    """Order-independent content fingerprint of each table: row count and md5 of the sorted rows."""
    sql = "SELECT count(*), md5(coalesce(string_agg(r::VARCHAR, chr(10) ORDER BY r::VARCHAR), '')) FROM {} r"
    return {t: rows(db, sql.format(t))[0] for t in tables}


DATA_TABLES = [t.name for t in TABLES]


def sess(sid: str, patient: str, clinic: str, at: str, status: str = "completed") -> str:
    dose = "35,70,40" if status in ("completed", "stopped_early") else ",,"
    return f"{sid},{patient},{clinic},{at},{status},induction,{dose}"
