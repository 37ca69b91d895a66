"""Free-text redaction: what counts as an identifier, and what must survive untouched."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.redact import redact_columns, redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jo.doe+ae@clinic-mail.example.org now", "mail [redacted:email] now"),
        ("call 555-123-4567", "call [redacted:phone]"),
        ("call (555) 123-4567.", "call [redacted:phone]."),
        ("call +1 555.123.4567", "call [redacted:phone]"),
        ("call 5551234567", "call [redacted:phone]"),
        ("call +44 20 7946 0958 today", "call [redacted:phone] today"),
        ("tel +33 1 23 45 67 89", "tel [redacted:phone]"),
        ("ssn 123-45-6789", "ssn [redacted:ssn]"),
        ("ssn 123 45 6789", "ssn [redacted:ssn]"),
    ],
)
def test_identifiers_are_replaced(text, expected):
    assert redact_text(text) == (expected, 1)


@pytest.mark.parametrize(
    "text",
    [
        "BP 182/110 at 10:45, resolved 2026-01-05",
        "BP rose +16/+11 mmHg, grade +2 at 40 min",
        "dose 0.5 mg/kg over 40 min, 35 mg total",
        "transferred to ED at CLN-007, room 12",
        "score 12-14 on 2026-11-24T10:00",
    ],
)
def test_clinical_text_is_left_alone(text):
    assert redact_text(text) == (text, 0)


def test_counts_every_match_in_every_column():
    frame = pl.DataFrame({"a": ["a@b.org and c@d.org", None], "b": ["555-123-4567", "ok"]})
    out, count = redact_columns(frame, ["a", "b"])
    assert count == 3  # two e-mails + one phone
    assert out.rows() == [("[redacted:email] and [redacted:email]", "[redacted:phone]"), (None, "ok")]
