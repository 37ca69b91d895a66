"""The board pack's figures: ``ketaops metrics``' report for the month, the month before and the
same month a year earlier, plus the Safety page's funnel, u-chart and serious-AE categories.

Nothing is computed here: every figure comes from the functions the pages and the metrics
command use (``build_report``, ``safety.*``, ``operations.clinic_freshness``).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import duckdb
import polars as pl

from dashboard.metrics import operations, safety
from dashboard.metrics.filters import Filters
from dashboard.metrics.report import build_report
from pipelines.model.config import MetricConfig

PERIOD_KEYS = ("month", "previous", "year_before")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month: the board pack's period."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"not a YYYY-MM month: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def label(self) -> str:
        return f"{self.start:%B %Y}"

    @property
    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def filters(self, clinic_ids: tuple[str, ...]) -> Filters:
        return Filters(start=self.start, end=self.end, clinic_ids=clinic_ids)


def compared_months(month: Month) -> dict[str, Month]:
    """The month, the month before and the same month a year earlier, by PERIOD_KEYS."""
    return dict(zip(PERIOD_KEYS, (month, month.shift(-1), month.shift(-12)), strict=True))


class ReviewSource(Protocol):
    """Open and overdue quality reviews in a scope, once a review store exists."""

    def review_counts(self, clinic_ids: tuple[str, ...], as_of: date) -> dict[str, int]: ...


@dataclass
class BoardPackData:
    month: Month
    scope_label: str
    clinic_ids: tuple[str, ...]
    cfg: MetricConfig
    generated_at: datetime
    today: date
    reports: dict[str, dict[str, Any]]  # by PERIOD_KEYS: build_report's dict
    serious_by_category: pl.DataFrame  # category, label, one serious count column per PERIOD_KEYS
    funnel: pl.DataFrame  # safety.funnel of the month
    funnel_curve: pl.DataFrame
    u_chart: pl.DataFrame  # monthly, the 13 months from the same month a year earlier
    freshness: pl.DataFrame  # operations.clinic_freshness of the scope's clinics
    reviews: dict[str, int] | None = None  # None: no review store
    monitoring: dict[str, Any] | None = None  # None: monitoring compliance not measured
    notes: list[str] = field(default_factory=list)

    @property
    def stale_clinics(self) -> list[tuple[str, str]]:
        stale = self.freshness.filter(pl.col("stale"))
        return list(zip(stale["clinic_id"].to_list(), stale["clinic_name"].to_list(), strict=True))


def gather(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    clinic_ids: tuple[str, ...],
    cfg: MetricConfig,
    *,
    scope_label: str = "network",
    today: date | None = None,
    reviews: ReviewSource | None = None,
) -> BoardPackData:
    """Every figure of the board pack for ``month`` and the scope's ``clinic_ids``."""
    today = today or date.today()
    months = compared_months(month)
    reports = {key: build_report(con, m.filters(clinic_ids), cfg) for key, m in months.items()}
    by_category = None
    for key, m in months.items():
        part = safety.ae_rate_by(con, m.filters(clinic_ids), "category", cfg).select(
            category="level", label="label", **{key: "serious_ae_count"}
        )
        by_category = part if by_category is None else by_category.join(part, on=["category", "label"])
    assert by_category is not None
    f = month.filters(clinic_ids)
    funnel = safety.funnel(con, f, cfg=cfg)
    chart_f = Filters(start=month.shift(-12).start, end=month.end, clinic_ids=clinic_ids)
    freshness = operations.clinic_freshness(con, today, cfg.stale_days).filter(
        pl.col("clinic_id").is_in(list(clinic_ids))
    )
    return BoardPackData(
        month=month,
        scope_label=scope_label,
        clinic_ids=clinic_ids,
        cfg=cfg,
        generated_at=datetime.now().astimezone().replace(microsecond=0),
        today=today,
        reports=reports,
        serious_by_category=by_category.with_columns(pl.col(k).cast(pl.Int64) for k in PERIOD_KEYS),
        funnel=funnel,
        funnel_curve=safety.funnel_curve(funnel),
        u_chart=safety.u_chart(con, chart_f, cfg, "month"),
        freshness=freshness,
        reviews=reviews.review_counts(clinic_ids, today) if reviews is not None else None,
    )
