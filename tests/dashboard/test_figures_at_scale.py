"""Figures stay readable at network scale (200 clinics): outcome funnel labels, safety rate lists."""

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


def test_a_long_rate_list_has_its_scale_on_top_and_no_empty_rows() -> None:
    from dashboard.components.safety_figures import rate_dot_whisker

    def frame(n: int) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "label": [f"C{i}" for i in range(n)],
                "ae_per_100": [10.0 + i for i in range(n)],
                "ci_low": [8.0 + i for i in range(n)],
                "ci_high": [12.0 + i for i in range(n)],
                "ae_count": [10] * n,
                "administered_sessions": [100] * n,
            }
        )

    long = rate_dot_whisker(frame(200), title="t", level_title="clinic", network=12.0, label_of={})
    assert tuple(long.layout.yaxis.range) == (199.5, -0.5)  # first clinic at the top, no padding
    assert long.layout.xaxis.side == "top"
    short = rate_dot_whisker(frame(5), title="t", level_title="route", network=None, label_of={})
    assert short.layout.xaxis.side != "top"


def test_induction_funnel_shows_whole_patients_with_separators_not_si_units() -> None:
    """A network funnel of 102,544 new starts read "102.544k" with Plotly's default text."""
    from dashboard.components.charts import funnel_steps

    trace = funnel_steps(["started", "≥3", "≥6"], [102544, 75044, 55896], title="t").data[0]
    assert trace.textinfo is None and trace.texttemplate == "%{value:,}<br>%{percentInitial:.0%}"
    assert list(trace.x) == [102544, 75044, 55896]


def test_a_dated_line_chart_puts_its_legend_below_the_two_line_date_ticks() -> None:
    """Seen in Chromium: the first legend row overlapped "Week starting" under "Sep 6 / 2026" ticks."""
    from datetime import date, timedelta

    from dashboard.components.charts import line_chart

    weeks = [date(2026, 9, 7) + timedelta(days=7 * i) for i in range(10)]
    df = pl.DataFrame({"week": weeks * 2, "n": list(range(20)), "clinic": ["A"] * 10 + ["B"] * 10})
    kw = {"x": "week", "y": "n", "title": "t", "x_title": "week starting", "y_title": "n"}
    dated = line_chart(df, series="clinic", **kw)
    assert dated.layout.showlegend and dated.layout.legend.y == -0.42
    by_label = line_chart(df.with_columns(pl.col("week").cast(pl.String)), series="clinic", **kw)
    assert by_label.layout.legend.y == -0.28  # one-line category ticks keep the default place
