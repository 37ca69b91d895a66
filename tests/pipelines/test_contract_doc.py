"""docs/export-contract.md is generated from the contract code and must match it."""

from __future__ import annotations

from pipelines.contract import IDENTIFIER_COLUMNS, REASONS, TABLES
from pipelines.contract_doc import DOC_PATH, render


def test_committed_doc_matches_the_code():
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/export-contract.md is stale: run `python -m pipelines.contract_doc` and commit it"
    )


def test_doc_names_every_table_column_reason_and_identifier():
    doc = render()
    for table in TABLES:
        assert f"### {table.name} — key `{table.key}`" in doc
        for column in table.columns:
            assert f"| {column.name} | {column.kind} |" in doc
    for reason in REASONS:
        assert f"| `{reason}` |" in doc
    for name in IDENTIFIER_COLUMNS:
        assert f"`{name}`" in doc
    assert "| dose_mg | float | DOUBLE | if administered | 0 < x ≤ 1000; total mg given |" in doc
