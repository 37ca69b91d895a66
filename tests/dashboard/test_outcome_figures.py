"""dashboard/components/outcome_figures.py: charts stay readable at network scale."""

from __future__ import annotations

import polars as pl

from dashboard.components.outcome_figures import MAX_LABELLED, funnel_figure


def _clinics(n: int) -> pl.DataFrame:
    flags = ["above_998", "below_998", "above_95", "below_95", *["within"] * (n - 4)]
    return pl.DataFrame(
        {
            "clinic_name": [f"Clinic {i}" for i in range(n)],
            "evaluable": [40 + i for i in range(n)],
            "responders": [20 + i // 2 for i in range(n)],
            "response_rate": [(20 + i // 2) / (40 + i) for i in range(n)],
            "lower998": [0.3] * n,
            "upper998": [0.7] * n,
            "flag": flags,
        }
    )


def _labels(n: int) -> list[str]:
    fig = funnel_figure(_clinics(n), {"response_rate": 0.5, "curve": None})
    points = next(t for t in fig.data if t.name == "clinics")
    return [t for t in points.text if t]


def test_a_small_network_names_every_clinic() -> None:
    assert _labels(MAX_LABELLED) == [f"Clinic {i}" for i in range(MAX_LABELLED)]


def test_a_large_network_names_only_the_clinics_outside_the_998_limits() -> None:
    assert sorted(_labels(200)) == ["Clinic 0", "Clinic 1"]
