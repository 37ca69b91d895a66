"""Contract v2 rows: vitals and medications limits and rules, new instruments and categories, v1 files."""

from __future__ import annotations

import pytest

from tests.pipelines.validate.export_files import ASSESSMENTS, GOOD_SESSION, SESSIONS, only_reject, run

VITALS = "vital_id,session_id,taken_at,timepoint,bp_sys,bp_dia,hr,spo2,resp_rate\n"
MEDICATIONS = "medication_id,patient_key,drug_class,started_on,stopped_on\n"
GOOD_READING = {"bp_sys": "130", "bp_dia": "80", "hr": "70", "spo2": "98", "resp_rate": "14"}


def _vital(**values: str) -> str:
    v = GOOD_READING | values
    return (
        f"V1,S1,2026-01-05T09:40,during,{v['bp_sys']},{v['bp_dia']},{v['hr']},{v['spo2']},{v['resp_rate']}\n"
    )


# (column, lowest accepted, highest accepted) as the spec's table gives them
VITAL_LIMITS = [
    ("bp_sys", 50, 300),
    ("bp_dia", 20, 200),
    ("hr", 20, 250),
    ("spo2", 50, 100),
    ("resp_rate", 4, 60),
]


def _reading_at(column: str, value: int) -> dict[str, str]:
    """A reading with ``column`` at ``value``, its partner pressure kept on the right side of it."""
    reading = {column: str(value)}
    if column == "bp_sys":
        reading["bp_dia"] = str(max(20, min(value - 1, 200)))
    if column == "bp_dia":
        reading["bp_sys"] = str(min(300, max(value + 1, 50)))
    return reading


@pytest.mark.parametrize(("column", "low", "high"), VITAL_LIMITS)
def test_vitals_limits_both_sides(tmp_path, column, low, high):
    for value in (low, high):
        r = run(tmp_path, "vitals.csv", VITALS + _vital(**_reading_at(column, value)))
        assert r.rows_rejected == 0, (column, value, r.rejects)
    for value in (low - 1, high + 1):
        reject = only_reject(run(tmp_path, "vitals.csv", VITALS + _vital(**_reading_at(column, value))))
        assert (reject["reason"], reject["column_name"], reject["value"]) == (
            "out_of_range",
            column,
            str(value),
        )


def test_vitals_diastolic_must_be_below_systolic(tmp_path):
    assert run(tmp_path, "vitals.csv", VITALS + _vital(bp_sys="120", bp_dia="119")).rows_rejected == 0
    reject = only_reject(run(tmp_path, "vitals.csv", VITALS + _vital(bp_sys="120", bp_dia="120")))
    assert (reject["reason"], reject["column_name"], reject["value"]) == (
        "diastolic_not_below_systolic",
        "bp_dia",
        "120/120",  # systolic/diastolic, as the sessions' pressure pairs report it
    )
    # one pressure alone is no pair to compare
    assert run(tmp_path, "vitals.csv", VITALS + _vital(bp_sys="", bp_dia="120")).rows_rejected == 0


def test_vitals_required_columns_and_timepoints(tmp_path):
    reject = only_reject(
        run(tmp_path, "vitals.csv", VITALS + "V1,S1,2026-01-05T09:40,during_infusion,,,,,\n")
    )
    assert (reject["reason"], reject["column_name"]) == ("invalid_enum", "timepoint")
    reject = only_reject(run(tmp_path, "vitals.csv", VITALS + "V1,,2026-01-05T09:40,during,,,,,\n"))
    assert (reject["reason"], reject["column_name"]) == ("missing_required", "session_id")
    # a reading with only a timepoint is a valid (empty) row: every measure is optional
    r = run(tmp_path, "vitals.csv", VITALS + "V1,S1,2026-01-05 09:40,PRE_DOSE,,,,,\n")
    assert r.rows_rejected == 0 and r.accepted["timepoint"].to_list() == ["pre_dose"]


def test_medications_rules(tmp_path):
    good = MEDICATIONS + "M1,P1,benzodiazepine,2025-01-01,2025-01-01\nM2,P1,ssri_snri,2025-01-01,\n"
    r = run(tmp_path, "medications.csv", good)
    assert r.rows_rejected == 0 and r.accepted.height == 2
    reject = only_reject(run(tmp_path, "medications.csv", MEDICATIONS + "M1,P1,maoi,2025-01-02,2025-01-01\n"))
    assert (reject["reason"], reject["column_name"], reject["value"]) == (
        "stopped_before_started",
        "stopped_on",
        "2025-01-01",
    )
    reject = only_reject(run(tmp_path, "medications.csv", MEDICATIONS + "M1,P1,ketamine,2025-01-02,\n"))
    assert (reject["reason"], reject["column_name"]) == ("invalid_enum", "drug_class")
    reject = only_reject(run(tmp_path, "medications.csv", MEDICATIONS + "M1,P1,opioid,,\n"))
    assert (reject["reason"], reject["column_name"]) == ("missing_required", "started_on")


@pytest.mark.parametrize(("instrument", "high"), [("cadss", 92), ("moaas", 5)])
def test_session_instruments_ranges(tmp_path, instrument, high):
    row = "A1,P1,CLN-001,{},{},2026-01-05T10:00,S1\n"
    for score in (0, high):
        r = run(tmp_path, "assessments.csv", ASSESSMENTS + row.format(instrument, score))
        assert r.rows_rejected == 0
    for score in (-1, high + 1):
        reject = only_reject(run(tmp_path, "assessments.csv", ASSESSMENTS + row.format(instrument, score)))
        assert (reject["reason"], reject["column_name"]) == ("out_of_range", "score")


@pytest.mark.parametrize("category", ["suicidal_ideation", "nasal_discomfort", "injection_site_reaction"])
def test_new_ae_categories_are_accepted(tmp_path, category):
    text = (
        "ae_id,patient_key,clinic_id,session_id,onset_at,category,severity_grade,serious,action_taken\n"
        f"AE1,P1,CLN-001,S1,2026-01-05T10:00,{category},1,false,none\n"
    )
    r = run(tmp_path, "adverse_events.csv", text)
    assert r.rows_rejected == 0 and r.accepted["category"].to_list() == [category]


def test_provider_key_is_optional(tmp_path):
    v1 = run(tmp_path, "sessions_v1.csv", SESSIONS + GOOD_SESSION)
    assert v1.rows_rejected == 0 and v1.unknown_columns == []
    assert v1.accepted["provider_key"].to_list() == [None]
    v2 = run(
        tmp_path,
        "sessions_v2.csv",
        SESSIONS.rstrip("\n") + ",provider_key\n" + GOOD_SESSION.rstrip() + ",PRV-7\n",
    )
    assert v2.rows_rejected == 0 and v2.accepted["provider_key"].to_list() == ["PRV-7"]
