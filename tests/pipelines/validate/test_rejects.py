"""Rejects and de-identification: no identifier reaches the accepted rows or the quarantine."""

from __future__ import annotations

import json

from pipelines.contract import TABLES_BY_NAME
from tests.pipelines.validate.export_files import (
    AES,
    CLINICS,
    everything_text,
    only_reject,
    run,
)


def test_free_text_is_redacted_in_accepted_rows(tmp_path):
    text = AES + (
        "AE1,P1,CLN-001,S1,2026-01-05T10:00,headache,1,false,none,resolved,"
        '"Pt called from 555-123-4567, mail jo.doe@example.com, SSN 123-45-6789"\n'
    )
    r = run(tmp_path, "adverse_events.csv", text)
    assert r.accepted["description"].to_list() == [
        "Pt called from [redacted:phone], mail [redacted:email], SSN [redacted:ssn]"
    ]
    assert r.redactions == 3


def test_identifiers_never_reach_the_quarantine(tmp_path):
    text = AES + (
        # rejected for its category; its description carries an e-mail
        "AE1,P1,CLN-001,S1,2026-01-05T10:00,stomachache,1,false,none,,write to jo@example.com\n"
        # an identifier typed into a numeric column
        "AE2,P1,CLN-001,S1,2026-01-05T10:00,headache,555-123-4567,false,none,,\n"
        # a malformed line whose text carries an SSN
        "AE3,P1,CLN-001,S1,2026-01-05T10:00,headache,1,false,none,,SSN 123-45-6789,extra\n"
    )
    r = run(tmp_path, "adverse_events.csv", text)
    assert r.rejects["reason"].to_list() == ["invalid_enum", "unparsable", "malformed_line"]
    everything = everything_text(r)
    for leaked in ("jo@example.com", "555-123-4567", "123-45-6789"):
        assert leaked not in everything
    assert r.rejects["value"][1] == "[redacted:phone]"
    assert "[redacted:email]" in r.rejects["raw_record"][0]
    assert r.redactions == 3


def test_unknown_columns_never_reach_raw_record(tmp_path):
    text = CLINICS.rstrip("\n") + ",internal_note\nCLN-001,North,East,2024-01-02,,99,,call Dr Who\n"
    r = run(tmp_path, "clinics.csv", text)
    rej = only_reject(r)
    assert rej["reason"] == "out_of_range"
    assert "internal_note" not in rej["raw_record"] and "Dr Who" not in rej["raw_record"]
    assert set(json.loads(rej["raw_record"])) == set(TABLES_BY_NAME["clinics"].column_names)


def test_identifier_split_by_a_line_break_is_redacted_in_the_raw_record(tmp_path):
    text = AES + 'AE1,P1,CLN-001,S1,2026-01-05T10:00,"call 555\n123-4567",1,false,none,,\n'
    r = run(tmp_path, "adverse_events.csv", text)
    rej = only_reject(r)
    assert rej["reason"] == "invalid_enum" and rej["value"] == "call [redacted:phone]"
    assert "123-4567" not in rej["raw_record"] and "[redacted:phone]" in rej["raw_record"]
    assert r.redactions == 1
