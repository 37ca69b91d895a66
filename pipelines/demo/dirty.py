"""``--dirty``: bad input of every kind the validator handles, with the outcome expected of each.

Files go to ``DIR/dirty/``. Every bad row has exactly one fault, so its
reject reason is unambiguous. Keys are ``DIRTY-…`` so nothing replaces a clean
record; good rows refer to a real clinic, patient and session.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.contract import FILE_LEVEL_REASONS, REASONS, TABLES_BY_NAME


@dataclass(frozen=True)
class Refs:
    """Real records the dirty rows point at."""

    clinic_id: str
    patient_key: str
    session_id: str
    day: str  # YYYY-MM-DD of that session


# Identifier values planted in the identifier-column file and in free text.
ID_DOB = "1957-08-23"
ID_EMAIL_COLUMN = "margaret.whitfield@example.com"
ID_PHONE_COLUMN = "(415) 555-0199"
ID_EMAIL_TEXT = "j.carter.1980@example.net"
ID_PHONE_TEXT = "617-555-0142"
ID_SSN_KEY = "078-05-1120"  # an SSN sent as a patient key: the row is rejected, the value kept nowhere


def _csv(table: str, rows: list[dict[str, object]], columns: list[str] | None = None) -> bytes:
    cols = columns or TABLES_BY_NAME[table].column_names
    buf = io.BytesIO()
    pl.DataFrame([{c: (None if r.get(c) is None else str(r[c])) for c in cols} for r in rows],
                 schema=dict.fromkeys(cols, pl.String)).write_csv(buf)  # fmt: skip
    return buf.getvalue()


def _session(ref: Refs, sid: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "session_id": sid, "patient_key": ref.patient_key, "clinic_id": ref.clinic_id,
        "scheduled_at": f"{ref.day}T18:00", "status": "completed", "phase": "maintenance",
        "route": "iv", "modality": "infusion", "dose_mg": 40.0, "weight_kg": 80.0,
        "duration_min": 40, "recovery_min": 45,
    }  # fmt: skip
    row.update(kw)
    return row


def _patient(ref: Refs, key: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "patient_key": key, "home_clinic_id": ref.clinic_id, "sex": "F", "age_band": "35-44",
        "primary_condition": "depression", "enrolled_on": ref.day,
    }  # fmt: skip
    row.update(kw)
    return row


def _ae(ref: Refs, key: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "ae_id": key, "patient_key": ref.patient_key, "clinic_id": ref.clinic_id,
        "session_id": ref.session_id, "onset_at": f"{ref.day}T18:30", "category": "headache",
        "severity_grade": 1, "serious": "false", "action_taken": "none", "outcome": "resolved",
        "description": "Mild headache after infusion",
    }  # fmt: skip
    row.update(kw)
    return row


def _assessment(ref: Refs, key: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "assessment_id": key, "patient_key": ref.patient_key, "clinic_id": ref.clinic_id,
        "instrument": "phq9", "score": 12, "assessed_at": f"{ref.day}T17:45", "session_id": None,
    }  # fmt: skip
    row.update(kw)
    return row


def write_dirty(out: Path, ref: Refs, seed: int) -> dict[str, object]:
    """Write the dirty files; return the expected outcome for MANIFEST.json."""
    folder = out / "dirty"
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    rejects: dict[str, dict[str, int]] = {}

    def expect(table: str, reason: str, n: int = 1) -> None:
        assert reason in REASONS and reason not in FILE_LEVEL_REASONS
        rejects.setdefault(table, {}).setdefault(reason, 0)
        rejects[table][reason] += n

    # clinics: only bad rows (a good extra clinic would show up as a stale clinic).
    files["clinics_dirty.csv"] = _csv("clinics", [
        {"clinic_id": "DIRTY-C1", "clinic_name": "Closed Before Opened", "region": "West",
         "opened_on": "2024-05-01", "closed_on": "2024-01-01", "chairs": 4},
        {"clinic_id": "DIRTY-C2", "clinic_name": "No Chairs", "region": "West", "opened_on": "2024-05-01",
         "chairs": 0},
        {"clinic_id": "DIRTY-C3", "clinic_name": "Bad Date", "region": "West", "opened_on": "31/02/2024",
         "chairs": 4},
        {"clinic_id": "DIRTY-C4", "clinic_name": "No Region", "region": None, "opened_on": "2024-05-01",
         "chairs": 4},
    ])  # fmt: skip
    for reason in ("closed_before_opened", "out_of_range", "unparsable", "missing_required"):
        expect("clinics", reason)

    dup = _patient(ref, "DIRTY-P6")
    files["patients_dirty.csv"] = _csv("patients", [
        _patient(ref, "DIRTY-P1", sex="female"),
        _patient(ref, "DIRTY-P2", age_band="30-39"),
        _patient(ref, "DIRTY-P3", home_clinic_id="CLN-999"),
        _patient(ref, "DIRTY-P4", primary_condition=None),
        _patient(ref, "DIRTY-P5", sex="F"),
        _patient(ref, "DIRTY-P5", sex="M"),
        dup,
        dup,
        _patient(ref, "DIRTY-P7", sex=" m ", primary_condition="PTSD"),  # case/blanks are valid
    ])  # fmt: skip
    expect("patients", "invalid_enum", 2)
    expect("patients", "unknown_fk")
    expect("patients", "missing_required")
    expect("patients", "duplicate_key", 2)

    files["sessions_dirty.csv"] = _csv("sessions", [
        _session(ref, "DIRTY-S1", scheduled_at="2025-13-45T10:00"),
        _session(ref, "DIRTY-S2", dose_mg="abc"),
        _session(ref, "DIRTY-S3", weight_kg=20),
        _session(ref, "DIRTY-S4", dose_mg=1200, weight_kg=300),
        _session(ref, "DIRTY-S5", spo2_min=120),
        _session(ref, "DIRTY-S6", status=None),
        _session(ref, "DIRTY-S7", dose_mg=None),
        _session(ref, "DIRTY-S8", route="oral"),
        _session(ref, "DIRTY-S9", dose_mg=800, weight_kg=60),
        _session(ref, "DIRTY-S10", patient_key="P-DOES-NOT-EXIST"),
        _session(ref, "DIRTY-S11", status="cancelled", dose_mg=None, weight_kg=None, duration_min=None,
                 recovery_min=None),
        _session(ref, "DIRTY-S12", bp_sys_pre=110, bp_dia_pre=120),
        _session(ref, "DIRTY-S13", patient_key=ID_SSN_KEY),
    ])  # fmt: skip
    for reason, n in (("unparsable", 2), ("out_of_range", 3), ("missing_required", 2), ("invalid_enum", 1),
                      ("dose_per_kg_too_high", 1), ("unknown_fk", 1), ("diastolic_not_below_systolic", 1),
                      ("identifier_in_key", 1)):  # fmt: skip
        expect("sessions", reason, n)

    # one line in Latin-1 among UTF-8 ones: that line only is rejected
    latin = _csv("sessions", [_session(ref, "DIRTY-ENC1", status="cancelled", dose_mg=None, weight_kg=None,
                                       duration_min=None, recovery_min=None)])  # fmt: skip
    files["sessions_latin1.csv"] = latin.replace(b"DIRTY-ENC1", "DIRTY-ÉNC1".encode("latin-1"))
    expect("sessions", "invalid_encoding")

    good = _csv("sessions", [
        _session(ref, "DIRTY-M1", status="no_show", dose_mg=None, weight_kg=None, duration_min=None,
                 recovery_min=None),
        _session(ref, "DIRTY-M2", status="cancelled", dose_mg=None, weight_kg=None, duration_min=None,
                 recovery_min=None),
    ]).decode().splitlines()  # fmt: skip
    extra_field = good[1].replace("DIRTY-M1", "DIRTY-M3") + ",surplus"
    bad_quote = good[2].replace("DIRTY-M2", '"DIRTY-M4')  # unterminated quote: last line on purpose
    files["sessions_malformed.csv"] = "\n".join(
        [good[0], good[1], extra_field, good[2], bad_quote, ""]
    ).encode()
    expect("sessions", "malformed_line", 2)

    files["assessments_dirty.csv"] = _csv("assessments", [
        _assessment(ref, "DIRTY-A1", score=35),
        _assessment(ref, "DIRTY-A2", instrument="phq-9"),
        _assessment(ref, "DIRTY-A3", session_id="DIRTY-NO-SUCH-SESSION"),
        _assessment(ref, "DIRTY-A4", score="twelve"),
        _assessment(ref, "DIRTY-A5", score=11, session_id=ref.session_id),
    ])  # fmt: skip
    for reason in ("out_of_range", "invalid_enum", "unknown_fk", "unparsable"):
        expect("assessments", reason)

    files["adverse_events_dirty.csv"] = _csv("adverse_events", [
        _ae(ref, "DIRTY-E1", severity_grade=4, serious="false", action_taken="transferred_ed"),
        _ae(ref, "DIRTY-E2", severity_grade=7),
        _ae(ref, "DIRTY-E3", action_taken="called_doctor"),
        _ae(ref, "DIRTY-E4", serious="maybe"),
        _ae(ref, "DIRTY-E5", description=f"Nausea; patient asked for results at {ID_EMAIL_TEXT}"),
        _ae(ref, "DIRTY-E6", description=f"Dizzy at discharge, daughter called back on {ID_PHONE_TEXT}"),
        _ae(ref, "DIRTY-E7", severity_grade=2, outcome="fatal"),
        _ae(ref, "DIRTY-E8", severity_grade=5, serious="true", outcome="resolved"),
    ])  # fmt: skip
    for reason in ("grade_not_serious", "out_of_range", "invalid_enum", "unparsable", "fatal_not_grade_5",
                   "grade_5_not_fatal"):  # fmt: skip
        expect("adverse_events", reason)

    # Whole-file rejects.
    file_rejects: dict[str, str] = {}
    files["sessions_empty.csv"] = b""
    file_rejects["sessions_empty.csv"] = "empty_file"
    files["assessments_noheader.csv"] = (
        b"\n".join(
            _csv("assessments", [_assessment(ref, "DIRTY-NH1"), _assessment(ref, "DIRTY-NH2")]).splitlines()[
                1:
            ]
        )
        + b"\n"
    )
    file_rejects["assessments_noheader.csv"] = "no_header"
    files["patients_semicolon.csv"] = _csv("patients", [_patient(ref, "DIRTY-SC1")]).replace(b",", b";")
    file_rejects["patients_semicolon.csv"] = "wrong_delimiter"
    ae_cols = [c for c in TABLES_BY_NAME["adverse_events"].column_names if c != "category"]
    files["adverse_events_missing_column.csv"] = _csv("adverse_events", [_ae(ref, "DIRTY-MC1")], ae_cols)
    file_rejects["adverse_events_missing_column.csv"] = "missing_column"
    a_cols = TABLES_BY_NAME["assessments"].column_names
    files["assessments_duplicate_column.csv"] = _csv(
        "assessments", [_assessment(ref, "DIRTY-DC1")], [*a_cols, "SCORE"]
    ).replace(b",SCORE", b", Score ")  # same column after case folding and trimming
    file_rejects["assessments_duplicate_column.csv"] = "duplicate_column"
    rng = np.random.default_rng([seed, 0xD127])
    files["sessions_x.csv"] = (
        b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + rng.integers(0, 256, 2048, dtype=np.uint8).tobytes()
    )
    file_rejects["sessions_x.csv"] = "unreadable_file"
    files["sessions_corrupt.parquet"] = (
        b"PAR1" + rng.integers(0, 256, 1024, dtype=np.uint8).tobytes() + b"PAR1"
    )
    file_rejects["sessions_corrupt.parquet"] = "unreadable_file"
    id_cols = [*TABLES_BY_NAME["patients"].column_names, "date_of_birth", "email", "phone"]
    files["patients_with_identifiers.csv"] = _csv(
        "patients",
        [_patient(ref, "DIRTY-ID1", date_of_birth=ID_DOB, email=ID_EMAIL_COLUMN, phone=ID_PHONE_COLUMN)],
        id_cols,
    )
    file_rejects["patients_with_identifiers.csv"] = "identifier_column"

    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {
        "folder": "dirty",
        "row_rejects": rejects,
        "file_rejects": [{"path": f"dirty/{k}", "reason": v} for k, v in sorted(file_rejects.items())],
        "duplicates_collapsed": {"patients": 1},
        "redactions": 2,
        "loaded_rows": {
            "patients": ["DIRTY-P6", "DIRTY-P7"],
            "sessions": ["DIRTY-S11", "DIRTY-M1", "DIRTY-M2"],
            "assessments": ["DIRTY-A5"],
            "adverse_events": ["DIRTY-E5", "DIRTY-E6"],
        },
        "identifier_values": [
            ID_DOB,
            ID_EMAIL_COLUMN,
            ID_PHONE_COLUMN,
            ID_EMAIL_TEXT,
            ID_PHONE_TEXT,
            ID_SSN_KEY,
        ],
        "notes": (
            "Each bad row has exactly one fault. The unterminated quote is the last line of "
            "sessions_malformed.csv so it can swallow nothing else. DIRTY-P7 uses ' m ' and 'PTSD' "
            "(valid after trimming and case folding)."
        ),
    }
