"""The Monitoring funnel names only the clinics on the worse side of its limits (and the picked one):
near 100% the clinics above the limits crowd the top of the chart and their names overlap."""

from __future__ import annotations

import polars as pl

from dashboard.components.monitoring_figures import funnel_figure


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "level": ["A", "B", "C", "D"],
            "administered_sessions": [400, 300, 200, 100],
            "count": [399, 299, 120, 95],
            "rate": [399 / 400, 299 / 300, 0.6, 0.95],
            "flag": ["above_998", "above_95", "below_998", "within"],
            "target": [0.9] * 4,
        }
    )


def _curve() -> pl.DataFrame:
    n = [10, 200, 400]
    return pl.DataFrame(
        {"n": n, **{c: [0.5, 0.8, 0.85] for c in ("lower998", "lower95")}}
        | {c: [1.0, 0.97, 0.95] for c in ("upper998", "upper95")}
    )


def _labels(higher_is_better: bool, highlight: tuple[str, ...] = ()) -> set[str]:
    fig = funnel_figure(
        _frame(),
        _curve(),
        title="t",
        unit="complete",
        names={c: f"Clinic {c}" for c in "ABCD"},
        higher_is_better=higher_is_better,
        highlight=highlight,
    )
    return {t for trace in fig.data if trace.text is not None for t in trace.text if t}


def test_a_share_where_higher_is_better_names_only_the_clinics_below_the_limits() -> None:
    assert _labels(True) == {"Clinic C"}


def test_a_share_where_lower_is_better_names_only_the_clinics_above_the_limits() -> None:
    assert _labels(False) == {"Clinic A", "Clinic B"}


def test_the_picked_clinic_is_always_named() -> None:
    assert _labels(True, highlight=("D",)) == {"Clinic C", "Clinic D"}
