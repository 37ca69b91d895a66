"""Every hard limit on both sides, and the contract v2 cross-column rules.

Limits are restated here by hand from the agreed contract (shared spec), not read from
``contract.py``: a limit changed by mistake there fails these tests.
"""

from __future__ import annotations

import json

import pytest

from tests.pipelines.validate.export_files import AES, CLINICS, only_reject, run

_SESSION_HEADER = (
    "session_id,patient_key,clinic_id,scheduled_at,status,phase,route,modality,dose_mg,weight_kg,"
    "duration_min,recovery_min,bp_sys_pre,bp_sys_max,bp_dia_pre,bp_dia_max,hr_pre,hr_max,spo2_min"
)
SESSION_COLUMNS = _SESSION_HEADER.split(",")
BASE_SESSION = {
    "session_id": "S1",
    "patient_key": "P1",
    "clinic_id": "CLN-001",
    "scheduled_at": "2026-01-05T09:00",
    "status": "completed",
    "phase": "induction",
    "route": "intranasal",  # no weight needed, no dose per kg: each limit is tested alone
    "modality": "infusion",
    "dose_mg": "56",
    "duration_min": "40",
}


def session_file(**values: str) -> str:
    row = BASE_SESSION | values
    return ",".join(SESSION_COLUMNS) + "\n" + ",".join(row.get(c, "") for c in SESSION_COLUMNS) + "\n"


# (column, lowest allowed, highest allowed, just below, just above); from the contract's table
SESSION_LIMITS = [
    ("dose_mg", "0.01", "1000", "0", "1000.01"),
    ("weight_kg", "25", "350", "24.9", "350.1"),
    ("duration_min", "1", "600", "0", "601"),
    ("recovery_min", "0", "600", "-1", "601"),
    ("bp_sys_pre", "50", "300", "49", "301"),
    ("bp_sys_max", "50", "300", "49", "301"),
    ("bp_dia_pre", "20", "200", "19", "201"),
    ("bp_dia_max", "20", "200", "19", "201"),
    ("hr_pre", "20", "250", "19", "251"),
    ("hr_max", "20", "250", "19", "251"),
    ("spo2_min", "50", "100", "49", "101"),
]


@pytest.mark.parametrize(("column", "low", "high", "below", "above"), SESSION_LIMITS)
def test_session_hard_limits_on_both_sides(tmp_path, column, low, high, below, above):
    for value in (low, high):
        r = run(tmp_path, "sessions.csv", session_file(**{column: value}))
        assert r.rows_rejected == 0, (column, value, r.rejects.rows())
    for value in (below, above):
        r = run(tmp_path, "sessions.csv", session_file(**{column: value}))
        rej = only_reject(r)
        assert (rej["reason"], rej["column_name"], rej["value"]) == ("out_of_range", column, value)


def test_negative_dose_is_rejected(tmp_path):
    r = run(tmp_path, "sessions.csv", session_file(route="iv", dose_mg="-35", weight_kg="70"))
    assert r.accepted.height == 0
    assert (only_reject(r)["reason"], only_reject(r)["value"]) == ("out_of_range", "-35")


@pytest.mark.parametrize(
    ("column", "low", "high", "below", "above"),
    [("chairs", "1", "50", "0", "51"), ("hours_per_day", "1", "24", "0.9", "24.1")],
)
def test_clinic_hard_limits_on_both_sides(tmp_path, column, low, high, below, above):
    def text(value: str) -> str:
        row = {"chairs": "5", "hours_per_day": ""} | {column: value}
        return CLINICS + f"CLN-001,North,East,2024-01-02,,{row['chairs']},{row['hours_per_day']}\n"

    for value in (low, high):
        assert run(tmp_path, "clinics.csv", text(value)).rows_rejected == 0
    for value in (below, above):
        rej = only_reject(run(tmp_path, "clinics.csv", text(value)))
        assert (rej["reason"], rej["column_name"], rej["value"]) == ("out_of_range", column, value)


def ae_file(grade: str, serious: str = "true", outcome: str = "") -> str:
    return AES + f"AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,{grade},{serious},none,{outcome},\n"


def test_severity_grade_limits(tmp_path):
    assert run(tmp_path, "adverse_events.csv", ae_file("1", "false")).rows_rejected == 0
    assert run(tmp_path, "adverse_events.csv", ae_file("5", "true", "fatal")).rows_rejected == 0
    for grade in ("0", "6"):
        rej = only_reject(run(tmp_path, "adverse_events.csv", ae_file(grade)))
        assert (rej["reason"], rej["column_name"]) == ("out_of_range", "severity_grade")


# instrument: (min, max) by hand from the contract's list
INSTRUMENT_RANGES = {
    "phq9": (0, 27),
    "madrs": (0, 60),
    "qids_sr16": (0, 27),
    "gad7": (0, 21),
    "pcl5": (0, 80),
    "ybocs": (0, 40),
    "craving_vas": (0, 100),
    "pain_nrs": (0, 10),
    "migraine_days": (0, 31),
    "cssrs_ideation": (0, 5),
}


@pytest.mark.parametrize(("instrument", "bounds"), INSTRUMENT_RANGES.items())
def test_score_limits_per_instrument(tmp_path, instrument, bounds):
    low, high = bounds
    header = "assessment_id,patient_key,clinic_id,instrument,score,assessed_at,session_id\n"

    def text(score: float) -> str:
        return header + f"A1,P1,CLN-001,{instrument},{score:g},2026-01-05T09:00,\n"

    for score in (low, high):
        assert run(tmp_path, "assessments.csv", text(score)).rows_rejected == 0
    for score in (low - 0.5, high + 0.5):
        rej = only_reject(run(tmp_path, "assessments.csv", text(score)))
        assert (rej["reason"], rej["column_name"]) == ("out_of_range", "score")


@pytest.mark.parametrize(
    ("values", "column", "value"),
    [
        ({"bp_sys_pre": "120", "bp_dia_pre": "120"}, "bp_dia_pre", "120/120"),
        ({"bp_sys_pre": "110", "bp_dia_pre": "130"}, "bp_dia_pre", "110/130"),
        ({"bp_sys_max": "140", "bp_dia_max": "150"}, "bp_dia_max", "140/150"),
    ],
)
def test_diastolic_at_or_above_systolic_is_rejected(tmp_path, values, column, value):
    rej = only_reject(run(tmp_path, "sessions.csv", session_file(**values)))
    assert (rej["reason"], rej["column_name"], rej["value"]) == (
        "diastolic_not_below_systolic",
        column,
        value,
    )


def test_diastolic_below_systolic_or_alone_is_accepted(tmp_path):
    for values in (
        {"bp_sys_pre": "120", "bp_dia_pre": "119"},
        {"bp_dia_pre": "150"},  # no systolic to compare with
        {"bp_sys_pre": "120", "bp_dia_pre": "80", "bp_sys_max": "140", "bp_dia_max": "95"},
    ):
        assert run(tmp_path, "sessions.csv", session_file(**values)).rows_rejected == 0


def test_the_pressure_rule_is_reusable_for_any_pair_of_columns():
    import polars as pl

    from pipelines.validate.rules import pressure_checks
    from pipelines.validate.typed import typed_name

    frame = pl.DataFrame(
        {
            "bp_sys": ["120", "90"],
            "bp_dia": ["80", "95"],
            typed_name("bp_sys"): [120, 90],
            typed_name("bp_dia"): [80, 95],
        }
    )
    (check,) = pressure_checks((("bp_sys", "bp_dia"),), {"bp_sys", "bp_dia"})
    assert frame.select(check.fails).to_series().to_list() == [False, True]
    assert pressure_checks((("bp_sys", "bp_dia"),), {"bp_sys"}) == []


@pytest.mark.parametrize(
    ("grade", "serious", "outcome", "reason", "value"),
    [
        ("1", "false", "fatal", "fatal_not_grade_5", "fatal at grade 1"),
        ("4", "true", "fatal", "fatal_not_grade_5", "fatal at grade 4"),
        ("5", "true", "resolved", "grade_5_not_fatal", "resolved at grade 5"),
        ("5", "true", "unknown", "grade_5_not_fatal", "unknown at grade 5"),
    ],
)
def test_fatal_outcome_and_grade_5_go_together(tmp_path, grade, serious, outcome, reason, value):
    rej = only_reject(run(tmp_path, "adverse_events.csv", ae_file(grade, serious, outcome)))
    assert (rej["reason"], rej["column_name"], rej["value"]) == (reason, "outcome", value)
    assert json.loads(rej["raw_record"])["outcome"] == outcome


def test_grade_5_without_an_outcome_is_accepted(tmp_path):
    # outcome is optional (v1 exports have none): only a contradicting outcome is rejected
    assert run(tmp_path, "adverse_events.csv", ae_file("5", "true", "")).rows_rejected == 0
