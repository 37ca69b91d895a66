"""The outcome rule table is metrics.md's, and docs/metrics.md carries it."""

from __future__ import annotations

from pathlib import Path

from pipelines.model.outcome_rules import PRIMARY_INSTRUMENT, RULES, rules_markdown


def test_rule_table_matches_metrics_md() -> None:
    # metrics.md's table, restated by hand
    assert PRIMARY_INSTRUMENT["bipolar_depression"] == "phq9"
    assert PRIMARY_INSTRUMENT["other"] is None
    assert (RULES["pcl5"].response_kind, RULES["pcl5"].response_amount) == ("points", 10)
    assert (RULES["ybocs"].remission_op, RULES["ybocs"].remission_threshold) == ("<=", 12)
    assert RULES["pain_nrs"].remission_op is None and RULES["pain_nrs"].response_amount == 30
    assert (RULES["madrs"].remission_op, RULES["madrs"].remission_threshold) == ("<=", 10)
    table = rules_markdown()
    assert "| ptsd | pcl5 | ≥ 10-point reduction | score < 33 |" in table
    assert "| ocd | ybocs | ≥ 35% reduction | score ≤ 12 |" in table


def test_docs_carry_the_rule_table() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
    assert rules_markdown() in docs.read_text(encoding="utf-8")
