"""The clinic league table of the Overview: one row per clinic with traffic lights.

The thresholds below are display conventions for a quick scan (documented in
docs/dashboard.md), not metric definitions: the figures themselves come from
the metric functions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl
from pandas.io.formats.style import Styler

from dashboard import queries
from dashboard.metrics.filters import Filters
from pipelines.model.config import MetricConfig

# Chair utilisation: networks run at about 60% (domain.md); very low is idle capacity, very high is no slack.
UTILISATION_RED_BELOW = 0.30
UTILISATION_AMBER_BELOW = 0.50
UTILISATION_AMBER_ABOVE = 0.85
NO_SHOW_AMBER_FROM = 0.08
NO_SHOW_RED_FROM = 0.15
FUNNEL_LIGHTS = {
    "above_998": "red",
    "above_95": "amber",
    "within": "green",
    "below_95": "green",
    "below_998": "green",
}


def _utilisation_light(col: str) -> pl.Expr:
    v = pl.col(col)
    return (
        pl.when(v.is_null())
        .then(pl.lit("grey"))
        .when(v < UTILISATION_RED_BELOW)
        .then(pl.lit("red"))
        .when((v < UTILISATION_AMBER_BELOW) | (v > UTILISATION_AMBER_ABOVE))
        .then(pl.lit("amber"))
        .otherwise(pl.lit("green"))
    )


def _no_show_light(col: str) -> pl.Expr:
    v = pl.col(col)
    return (
        pl.when(v.is_null())
        .then(pl.lit("grey"))
        .when(v >= NO_SHOW_RED_FROM)
        .then(pl.lit("red"))
        .when(v >= NO_SHOW_AMBER_FROM)
        .then(pl.lit("amber"))
        .otherwise(pl.lit("green"))
    )


# Cell backgrounds: soft tints so the table stays calm; text keeps full contrast.
LIGHT_STYLES = {
    "green": "background-color: #e3f1e6",
    "amber": "background-color: #fbe8cc",
    "red": "background-color: #f6d5d3",
    "grey": "",
}
# shown column → its light column
LIT_COLUMNS = {
    "chair_utilisation": "util_light",
    "no_show_rate": "no_show_light",
    "ae_flag": "ae_light",
    "newest_data_date": "data_light",
}


def league_reads(
    f: Filters, network_f: Filters, cfg: MetricConfig, today: date
) -> list[Callable[[], object]]:
    """The reads ``league_table`` makes, for ``queries.prefetch``."""
    return [
        lambda: queries.throughput_by_clinic(f, cfg, active_patients=False),
        lambda: queries.ae_funnel(network_f),
        lambda: queries.clinic_freshness(today, cfg.stale_days),
    ]


def league_table(f: Filters, network_f: Filters, cfg: MetricConfig, today: date) -> pl.DataFrame:
    """One row per clinic in scope: throughput, AE funnel position, freshness and a light per column.

    The funnel flag is read against ``network_f`` (every allowed clinic), as on the Safety page.
    """
    df = queries.throughput_by_clinic(f, cfg, active_patients=False).select(
        "clinic_id", "clinic_name", "region", "administered_sessions", "chair_utilisation", "no_show_rate"
    )
    funnel = queries.ae_funnel(network_f).select("clinic_id", "ae_per_100", "flag")
    df = df.join(funnel, on="clinic_id", how="left")
    fresh = queries.clinic_freshness(today, cfg.stale_days).select("clinic_id", "newest_data_date", "stale")
    df = df.join(fresh, on="clinic_id", how="left")
    return df.with_columns(
        util_light=_utilisation_light("chair_utilisation"),
        no_show_light=_no_show_light("no_show_rate"),
        ae_light=pl.col("flag").replace_strict(FUNNEL_LIGHTS, default="grey"),
        data_light=pl.when(pl.col("stale").is_null())
        .then(pl.lit("grey"))
        .when(pl.col("stale"))
        .then(pl.lit("red"))
        .otherwise(pl.lit("green")),
        ae_flag=pl.col("flag").str.replace_all("_", " ").fill_null("–"),
    ).sort("clinic_name")


def styled(league: pl.DataFrame, columns: list[str]) -> Styler:
    """The shown columns as a pandas Styler whose lit cells carry their traffic-light tint."""
    shown = league.select(columns).to_pandas()
    lights = league.select(list(LIT_COLUMNS.values())).to_pandas()

    def tint(col):  # type: ignore[no-untyped-def]
        light = LIT_COLUMNS.get(col.name)
        if light is None:
            return [""] * len(col)
        return [LIGHT_STYLES.get(v, "") for v in lights[light]]

    return shown.style.apply(tint, axis=0)
