"""Row rules: one small failing example per rule, boundaries, the first failing rule, duplicates."""

from __future__ import annotations

import json

import pytest

from pipelines.validate import RULE_ORDER
from tests.pipelines.validate.export_files import (
    AES,
    ASSESSMENTS,
    CLINICS,
    GOOD_CLINIC,
    PATIENTS,
    SESSIONS,
    only_reject,
    run,
)


def test_protocol_ranges_are_not_rejects(tmp_path):
    # 0.2 mg/kg is below the usual protocol and 300 minutes far above: flagged later, never rejected
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,14,70,300\n"
    r = run(tmp_path, "sessions.csv", text)
    assert r.rows_rejected == 0 and r.accepted.height == 1


def test_intranasal_sessions_need_no_weight(tmp_path):
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,intranasal,infusion,56,,120\n"
    r = run(tmp_path, "sessions.csv", text)
    assert r.rows_rejected == 0
    assert r.accepted["dose_mg_per_kg"].to_list() == [None]


def test_cancelled_sessions_need_no_dose(tmp_path):
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,cancelled,induction,iv,infusion,,,\n"
    r = run(tmp_path, "sessions.csv", text)
    assert r.rows_rejected == 0


ROW_CASES = [
    # (file, content, reason, column, value)
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,five,\n", "unparsable", "chairs", "five"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-13-02,,5,\n", "unparsable", "opened_on", "2024-13-02"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-1-2,,5,\n", "unparsable", "opened_on", "2024-1-2"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,5,nan\n", "unparsable", "hours_per_day", "nan"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,5.5,\n", "unparsable", "chairs", "5.5"),
    ("clinics.csv", CLINICS + "CLN-001,,East,2024-01-02,,5,\n", "missing_required", "clinic_name", None),
    ("clinics.csv", CLINICS + "CLN-001,   ,East,2024-01-02,,5,\n", "missing_required", "clinic_name", None),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,51,\n", "out_of_range", "chairs", "51"),
    ("clinics.csv", CLINICS + "CLN-001,North,East,2024-01-02,,5,25\n", "out_of_range", "hours_per_day", "25"),
    (
        "clinics.csv",
        CLINICS + "CLN-001,North,East,2024-01-02,2023-12-31,5,\n",
        "closed_before_opened",
        "closed_on",
        "2023-12-31",
    ),
    ("patients.csv", PATIENTS + "P1,CLN-001,Q,18-24,ptsd,2025-01-01\n", "invalid_enum", "sex", "Q"),
    ("patients.csv", PATIENTS + "P1,CLN-001,F,18-25,ptsd,2025-01-01\n", "invalid_enum", "age_band", "18-25"),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05 9am,completed,induction,iv,infusion,35,70,40\n",
        "unparsable",
        "scheduled_at",
        "2026-01-05 9am",
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,,70,40\n",
        "missing_required",
        "dose_mg",
        None,
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,stopped_early,induction,im,infusion,35,,40\n",
        "missing_required",
        "weight_kg",
        None,
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,35,70,\n",
        "missing_required",
        "duration_min",
        None,
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,0,70,40\n",
        "out_of_range",
        "dose_mg",
        "0",
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,35,24,40\n",
        "out_of_range",
        "weight_kg",
        "24",
    ),
    (
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,oral,infusion,35,70,40\n",
        "invalid_enum",
        "route",
        "oral",
    ),
    (
        # 420 mg / 80 kg = 5.25 mg/kg > 5
        "sessions.csv",
        SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,420,80,40\n",
        "dose_per_kg_too_high",
        "dose_mg_per_kg",
        "5.25",
    ),
    (
        "assessments.csv",
        ASSESSMENTS + "A1,P1,CLN-001,phq9,28,2026-01-05T09:00,\n",
        "out_of_range",
        "score",
        "28",
    ),
    (
        "assessments.csv",
        ASSESSMENTS + "A1,P1,CLN-001,bdi,10,2026-01-05T09:00,\n",
        "invalid_enum",
        "instrument",
        "bdi",
    ),
    (
        "adverse_events.csv",
        AES + "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,4,no,none,,\n",
        "grade_not_serious",
        "serious",
        "no",
    ),
    (
        "adverse_events.csv",
        AES + "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,6,yes,none,,\n",
        "out_of_range",
        "severity_grade",
        "6",
    ),
    (
        "adverse_events.csv",
        AES + "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,2,maybe,none,,\n",
        "unparsable",
        "serious",
        "maybe",
    ),
]


@pytest.mark.parametrize(("name", "content", "reason", "column", "value"), ROW_CASES)
def test_row_reject(tmp_path, name, content, reason, column, value):
    r = run(tmp_path, name, content)
    assert r.file_error is None and r.accepted.height == 0 and r.rows_rejected == 1
    rej = only_reject(r)
    assert (rej["reason"], rej["column_name"], rej["value"]) == (reason, column, value)
    assert rej["row_number"] == 1
    assert rej["message"].startswith(f"{name} row 1, column {column}:")
    assert json.loads(rej["raw_record"])  # the row's canonical columns, as sent


def test_boundary_values_are_accepted(tmp_path):
    # hard limits are inclusive except dose_mg's 0 < x
    text = SESSIONS + "S1,P1,CLN-001,2026-01-05T09:00,completed,induction,iv,infusion,125,25,1\n"
    r = run(tmp_path, "sessions.csv", text)  # 125 / 25 = exactly 5 mg/kg: allowed
    assert r.rows_rejected == 0
    r = run(tmp_path, "assessments.csv", ASSESSMENTS + "A1,P1,CLN-001,phq9,27,2026-01-05T09:00,\n")
    assert r.rows_rejected == 0


def test_first_failing_rule_wins_and_message_counts_the_rest(tmp_path):
    # sex is an invalid enum AND enrolled_on unparsable: unparsable comes first in RULE_ORDER
    r = run(tmp_path, "patients.csv", PATIENTS + "P1,CLN-001,Q,18-24,ptsd,yesterday\n")
    rej = only_reject(r)
    assert RULE_ORDER.index("unparsable") < RULE_ORDER.index("invalid_enum")
    assert (rej["reason"], rej["column_name"]) == ("unparsable", "enrolled_on")
    assert "1 more problem" in rej["message"]


def test_duplicate_keys_that_differ_are_all_rejected(tmp_path):
    text = CLINICS + GOOD_CLINIC + "CLN-001,North,West,2024-01-02,,5,\nCLN-002,South,East,2024-01-02,,3,\n"
    r = run(tmp_path, "clinics.csv", text)
    assert r.accepted["clinic_id"].to_list() == ["CLN-002"]
    assert r.rejects["reason"].to_list() == ["duplicate_key", "duplicate_key"]
    assert r.rejects["row_number"].to_list() == [1, 2]
    assert r.rejects["column_name"].to_list() == ["clinic_id", "clinic_id"]


def test_identical_duplicates_collapse_to_one(tmp_path):
    r = run(tmp_path, "clinics.csv", CLINICS + GOOD_CLINIC * 3)
    assert r.rows_read == 3 and r.accepted.height == 1 and r.duplicates_collapsed == 2
    assert r.rows_rejected == 0 and r.accepted["_row_number"].to_list() == [1]


def test_malformed_lines_are_rejected_and_the_rest_is_read(tmp_path):
    text = (
        CLINICS
        + "CLN-001,North,East,2024-01-02,,5\n"  # one field short
        + "CLN-002,North,East,2024-01-02,,5,10,extra\n"  # one field too many
        + 'CLN-003,"North,East,2024-01-02,,5,10\n'  # an unbalanced quote
        + 'CLN-004,"Upper, North",East,2024-01-02,,5,10\n'  # proper quoting
    )
    r = run(tmp_path, "clinics.csv", text)
    assert r.accepted["clinic_id"].to_list() == ["CLN-004"]
    assert r.accepted["clinic_name"].to_list() == ["Upper, North"]
    assert r.rejects["reason"].to_list() == ["malformed_line"] * 3
    assert r.rejects["row_number"].to_list() == [1, 2, 3]
    assert r.rejects["value"].to_list() == [None] * 3
    assert "6 fields, the header has 7" in r.rejects["message"][0]


def test_malformed_line_message_does_not_count_the_consequences(tmp_path):
    r = run(tmp_path, "clinics.csv", CLINICS + "CLN-001,North\n")
    rej = only_reject(r)
    assert rej["reason"] == "malformed_line" and "more problem" not in rej["message"]
    assert json.loads(rej["raw_record"]) == {
        "clinic_id": "CLN-001",
        "clinic_name": "North",
        "region": None,
        "opened_on": None,
        "closed_on": None,
        "chairs": None,
        "hours_per_day": None,
    }
