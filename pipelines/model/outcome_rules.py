"""The outcome rule table of metrics.md "Outcomes": condition → instrument → response and
remission rule, severity bands, the windows from day 0 and the measures reported.

Data, in one place: the per-patient outcomes (``patient_outcomes``), the Outcomes page and
docs/metrics.md (``rules_markdown``, which a test keeps in step) all read ``RULES`` and
``PRIMARY_INSTRUMENT``; the demo generator draws its scores from them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from pipelines.contract import CONDITIONS, INSTRUMENTS


@dataclass(frozen=True)
class Band:
    low: float
    high: float  # inclusive
    label: str


@dataclass(frozen=True)
class InstrumentRule:
    instrument: str
    label: str
    response_kind: Literal["percent", "points"]  # reduction from baseline
    response_amount: float  # percent (50) or points (10)
    remission_op: Literal["<", "<="] | None = None  # endpoint score compared with the threshold
    remission_threshold: float | None = None
    bands: tuple[Band, ...] = ()  # severity bands for trajectory charts
    caseness: float = 0.0  # baseline at or above it: evaluable (metrics.md "Caseness")
    reliable_change: float | None = None  # points of rise that are a worsening; None: the % rule

    @property
    def response_text(self) -> str:
        unit = "%" if self.response_kind == "percent" else "-point"
        return f"≥ {self.response_amount:g}{unit} reduction"

    @property
    def remission_text(self) -> str:
        if self.remission_op is None:
            return "—"
        op = "<" if self.remission_op == "<" else "≤"
        return f"score {op} {self.remission_threshold:g}"

    @property
    def worsening_text(self) -> str:
        if self.reliable_change is not None:
            return f"rise ≥ {self.reliable_change:g} points"
        return f"rise ≥ {WORSENING_FRACTION:.0%} and ≥ {WORSENING_MIN_POINTS} points"

    @property
    def score_range(self) -> tuple[float, float]:
        return INSTRUMENTS[self.instrument]


def _bands(*spec: tuple[float, float, str]) -> tuple[Band, ...]:
    return tuple(Band(lo, hi, label) for lo, hi, label in spec)


RULES: dict[str, InstrumentRule] = {
    r.instrument: r
    for r in (
        InstrumentRule(
            "phq9",
            "PHQ-9",
            "percent",
            50,
            "<",
            5,
            _bands(
                (0, 4, "minimal"),
                (5, 9, "mild"),
                (10, 14, "moderate"),
                (15, 19, "moderately severe"),
                (20, 27, "severe"),
            ),
        ),
        InstrumentRule(
            "gad7",
            "GAD-7",
            "percent",
            50,
            "<",
            5,
            _bands((0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 21, "severe")),
        ),
        InstrumentRule(
            "pcl5",
            "PCL-5",
            "points",
            10,
            "<",
            33,
            _bands((0, 32, "below threshold"), (33, 80, "probable PTSD")),
        ),
        InstrumentRule(
            "ybocs",
            "Y-BOCS",
            "percent",
            35,
            "<=",
            12,
            _bands(
                (0, 7, "subclinical"),
                (8, 15, "mild"),
                (16, 23, "moderate"),
                (24, 31, "severe"),
                (32, 40, "extreme"),
            ),
        ),
        InstrumentRule("craving_vas", "Craving VAS", "percent", 50),
        InstrumentRule(
            "pain_nrs",
            "Pain NRS",
            "percent",
            30,
            bands=_bands((0, 0, "none"), (1, 3, "mild"), (4, 6, "moderate"), (7, 10, "severe")),
        ),
        InstrumentRule(
            "migraine_days",
            "Migraine days",
            "percent",
            50,
            bands=_bands(
                (0, 3, "low-frequency"),
                (4, 7, "moderate-frequency"),
                (8, 14, "high-frequency"),
                (15, 31, "chronic (≥ 15)"),
            ),
        ),
        InstrumentRule(
            "madrs",
            "MADRS",
            "percent",
            50,
            "<=",
            10,
            _bands((0, 6, "normal"), (7, 19, "mild"), (20, 34, "moderate"), (35, 60, "severe")),
        ),
        InstrumentRule(
            "qids_sr16",
            "QIDS-SR16",
            "percent",
            50,
            "<=",
            5,
            _bands(
                (0, 5, "none"),
                (6, 10, "mild"),
                (11, 15, "moderate"),
                (16, 20, "severe"),
                (21, 27, "very severe"),
            ),
        ),
    )
}
# Caseness thresholds (NHS Talking Therapies' "caseness": remission only means something for a
# patient who started above the cut-off) and reliable-change thresholds in points (metrics.md v2).
CASENESS: dict[str, float] = {
    "phq9": 10, "gad7": 8, "pcl5": 33, "ybocs": 16, "madrs": 20, "qids_sr16": 11,
    "pain_nrs": 4, "migraine_days": 4, "craving_vas": 1,
}  # fmt: skip
RELIABLE_CHANGE: dict[str, float] = {"phq9": 6, "gad7": 4, "pcl5": 10}
RULES = {
    name: replace(rule, caseness=float(CASENESS[name]), reliable_change=RELIABLE_CHANGE.get(name))
    for name, rule in RULES.items()
}
PRIMARY_INSTRUMENT: dict[str, str | None] = {
    "depression": "phq9",
    "bipolar_depression": "phq9",
    "anxiety": "gad7",
    "ptsd": "pcl5",
    "ocd": "ybocs",
    "alcohol_use": "craving_vas",
    "opioid_use": "craving_vas",
    "other_substance_use": "craving_vas",
    "chronic_pain": "pain_nrs",
    "migraine": "migraine_days",
    "other": None,
}
SECONDARY_INSTRUMENTS: tuple[str, ...] = ("madrs", "qids_sr16", "gad7")  # for any condition
IDEATION_INSTRUMENT = "cssrs_ideation"
IDEATION_CONDITIONS: tuple[str, ...] = ("depression", "bipolar_depression")

# Windows in days from day 0 (metrics.md)
BASELINE_DAYS = 30
ENDPOINT_DAYS = 42
RAPID_DAYS = 7
DURABILITY_DAYS = (60, 120)
FOLLOW_UP_DAYS = 120  # time to response: later scores are administratively censored at day 120
MATURE_DAYS = 42  # day 0 at least this many days before the data's last date: end of induction
DURABLE_MATURE_DAYS = 120  # likewise for durability
WORSENING_FRACTION = 0.20  # instruments without a reliable-change threshold: ≥ 20% and ≥ 2 points
WORSENING_MIN_POINTS = 2
IDEATION_SIGNAL = 3  # C-SSRS ideation rising to this or more after day 0: a safety signal

MEASURES: dict[str, str] = {
    "response": "Response",
    "remission": "Remission",
    "mean_change": "Mean change",
    "rapid_response": "Rapid response (≤ 7 days)",
    "durability": "Durability (60–120 days)",
    "worsening": "Worsening (reliable change)",
    "ideation_improved": "C-SSRS ideation lower",
}


def caseness_thresholds(overrides: tuple[tuple[str, float], ...] = ()) -> dict[str, float]:
    """Each instrument's caseness threshold: the rule table's, with ``MetricConfig.caseness`` over it."""
    out = {name: rule.caseness for name, rule in RULES.items()}
    unknown = {name for name, _ in overrides} - set(out)
    if unknown:
        raise ValueError(f"caseness for unknown instruments: {', '.join(sorted(unknown))}")
    return out | dict(overrides)


def instruments_for(condition: str) -> list[tuple[str, bool]]:
    """(instrument, is_primary) shown for a condition: its primary one, then the secondaries."""
    primary = PRIMARY_INSTRUMENT.get(condition)
    out = [(primary, True)] if primary else []
    return out + [(i, False) for i in SECONDARY_INSTRUMENTS if i != primary]


def rules_markdown() -> str:
    """The rule table as Markdown, for docs/metrics.md (a test keeps the docs in step)."""
    lines = [
        "| condition | instrument | response | remission | caseness (baseline ≥) | worsening |",
        "|---|---|---|---|---|---|",
    ]

    def row(condition: str, r: InstrumentRule) -> str:
        return (
            f"| {condition} | {r.instrument} | {r.response_text} | {r.remission_text} "
            f"| {r.caseness:g} | {r.worsening_text} |"
        )

    for condition in CONDITIONS:
        inst = PRIMARY_INSTRUMENT[condition]
        lines.append(f"| {condition} | — | — | — | — | — |" if inst is None else row(condition, RULES[inst]))
    lines += [row("any (secondary)", RULES[inst]) for inst in SECONDARY_INSTRUMENTS]
    return "\n".join(lines)
