"""The conditions a quality lead wants to hear about, found in the published database.

Each signal has a stable ``key``: the same condition found again has the same key, so the
signal state (``pipelines/signal_state.py``) can tell what is new. Messages carry categories,
counts, dates and clinic names only: never an export's free text, never a patient key.
The window is the metrics command's default period (the last 90 days to the data's last date).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, Protocol

import duckdb
import polars as pl

from dashboard.alerts.links import view_url
from dashboard.components.safety_figures import FLAG_LABELS
from dashboard.metrics import operations, safety, throughput
from dashboard.metrics.filters import Filters
from dashboard.metrics.report import DEFAULT_PERIOD_DAYS
from pipelines.model.config import MetricConfig

FUNNEL_FLAGS = ("above_998", "above_95")
KINDS = ("serious_ae", "funnel", "spc", "stale", "refresh_failed", "overdue_review")
REFRESH_RUNS_READ = 200
CHART_WEEKS = 52  # a year of weekly points: the limits are held from its first spc_baseline_periods


@dataclass(frozen=True)
class Signal:
    key: str
    kind: str  # one of KINDS
    clinic_id: str | None
    clinic_name: str | None
    text: str  # one line, built from enums, counts, dates and names only
    url: str
    day: str  # the date the condition refers to (ISO), for ordering
    group: str = ""  # signals of one chart and clinic share a group: a digest gives them one line
    subject: str = ""  # what the group is about, e.g. "the weekly AE rate chart of Harbor"

    def payload(self) -> dict[str, Any]:
        return asdict(self)


class OverdueReviews(Protocol):
    """Overdue quality reviews in a scope, once a review store exists: (review id, clinic id, due)."""

    def overdue(self, clinic_ids: tuple[str, ...], as_of: date) -> list[tuple[str, str, date]]: ...


def ae_key(ae_id: str) -> str:
    """An AE's id as it appears in signal keys: hashed, since an export's ids may embed a patient key."""
    return hashlib.sha256(ae_id.encode()).hexdigest()[:24]


def window(con: duckdb.DuckDBPyConnection, clinic_ids: tuple[str, ...]) -> Filters | None:
    """The last DEFAULT_PERIOD_DAYS days to the data's last date; None without sessions."""
    last = throughput.data_last_date(con)
    if last is None:
        return None
    return Filters(start=last - timedelta(days=DEFAULT_PERIOD_DAYS - 1), end=last, clinic_ids=clinic_ids)


def detect(
    con: duckdb.DuckDBPyConnection,
    clinic_ids: tuple[str, ...],
    cfg: MetricConfig,
    *,
    base_url: str,
    today: date,
    reviews: OverdueReviews | None = None,
) -> list[Signal]:
    """Every signal that holds now for the scope's clinics, ordered by kind, clinic and date."""
    names = dict(con.execute("SELECT clinic_id, clinic_name FROM clinics").fetchall())
    f = window(con, clinic_ids)
    found: list[Signal] = []
    if f is not None and clinic_ids:
        found += _serious_aes(con, f, cfg, names, base_url)
        found += _funnel(con, f, cfg, names, base_url)
        found += _special_causes(con, f, cfg, names, base_url)
    found += _stale(con, clinic_ids, cfg, today, base_url)
    found += _refresh_failures(con, base_url)
    if reviews is not None:
        for review_id, cid, due in reviews.overdue(clinic_ids, today):
            found.append(
                Signal(
                    f"overdue_review:{review_id}",
                    "overdue_review",
                    cid,
                    names.get(cid),
                    f"Review overdue since {due.isoformat()} at {names.get(cid) or cid}",
                    view_url(base_url, "safety", due, today, {cid: names.get(cid)}),
                    due.isoformat(),
                )
            )
    return sorted(found, key=lambda s: (KINDS.index(s.kind), s.clinic_id or "", s.day, s.key))


def _serious_aes(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, names: dict[str, str], base: str
) -> list[Signal]:
    events = safety.serious_events(con, f, cfg)
    out = []
    for r in events.iter_rows(named=True):
        cid, onset = r["clinic_id"], r["onset_at"].date()
        grade = f", grade {r['severity_grade']}" if r.get("severity_grade") is not None else ""
        out.append(
            Signal(
                f"serious_ae:{ae_key(r['ae_id'])}",
                "serious_ae",
                cid,
                names.get(cid),
                f"Serious AE at {names.get(cid) or cid}: {str(r['category']).replace('_', ' ')}{grade}, "
                f"onset {onset.isoformat()}",
                view_url(base, "safety", onset, f.end, {cid: names.get(cid)}, safety_view="Serious AEs"),
                onset.isoformat(),
            )
        )
    return out


def _funnel(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, names: dict[str, str], base: str
) -> list[Signal]:
    frame = safety.funnel(con, f, cfg=cfg).filter(pl.col("flag").is_in(list(FUNNEL_FLAGS)))
    return [
        Signal(
            f"funnel:{r['clinic_id']}:{r['flag']}",
            "funnel",
            r["clinic_id"],
            names.get(r["clinic_id"]),
            f"{names.get(r['clinic_id']) or r['clinic_id']} is {FLAG_LABELS[r['flag']]} on the AE funnel: "
            f"{r['ae_count']} AEs in {r['administered_sessions']} sessions ({r['ae_per_100']:.2f} per 100, "
            f"expected {r['expected']:.1f}) from {f.start.isoformat()} to {f.end.isoformat()}",
            view_url(base, "safety", f.start, f.end, safety_view="Clinics and trend"),
            f.end.isoformat(),
        )
        for r in frame.iter_rows(named=True)
    ]


def _special_causes(
    con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig, names: dict[str, str], base: str
) -> list[Signal]:
    """Weekly charts per clinic (AE u-chart, no-show p-chart) over the last CHART_WEEKS weeks, so
    their limits come from before a recent shift: points of concern in the window."""
    chart_f = Filters(start=f.end - timedelta(weeks=CHART_WEEKS) + timedelta(days=1), end=f.end,
                      clinic_ids=f.clinic_ids)  # fmt: skip
    charts: list[tuple[str, str, str, pl.DataFrame]] = []
    for cid, chart in throughput.no_show_pcharts_by_clinic(con, chart_f, cfg, "week").items():
        charts.append(("no_show", cid, "throughput", chart))
    for cid in f.clinic_ids:
        charts.append(("ae_rate", cid, "safety", safety.u_chart(con, chart_f, cfg, "week", clinic_id=cid)))
    out = []
    for chart_name, cid, page, chart in charts:
        if chart.is_empty():
            continue
        recent = chart.filter((pl.col("category") == "concern") & (pl.col("period") >= f.start))
        for r in recent.iter_rows(named=True):
            period: date = r["period"]
            what = "no-show rate" if chart_name == "no_show" else "AE rate"
            out.append(
                Signal(
                    f"spc:{chart_name}:{cid}:{period.isoformat()}",
                    "spc",
                    cid,
                    names.get(cid),
                    f"Special cause on the weekly {what} chart of {names.get(cid) or cid}, week of "
                    f"{period.isoformat()}: {str(r['rule']).replace('_', ' ')}",
                    view_url(base, page, f.start, f.end, {cid: names.get(cid)}),
                    period.isoformat(),
                    group=f"spc:{chart_name}:{cid}",
                    subject=f"the weekly {what} chart of {names.get(cid) or cid}",
                )
            )
    return out


def _stale(
    con: duckdb.DuckDBPyConnection, clinic_ids: Sequence[str], cfg: MetricConfig, today: date, base: str
) -> list[Signal]:
    fresh = operations.clinic_freshness(con, today, cfg.stale_days).filter(
        pl.col("stale") & pl.col("clinic_id").is_in(list(clinic_ids))
    )
    out = []
    for r in fresh.iter_rows(named=True):
        newest = r["newest_data_date"]
        since = f"newest data {newest.isoformat()}" if newest else "no data yet"
        out.append(
            Signal(
                f"stale:{r['clinic_id']}:{newest.isoformat() if newest else 'none'}",
                "stale",
                r["clinic_id"],
                r["clinic_name"],
                f"{r['clinic_name'] or r['clinic_id']} has gone stale: {since} "
                f"(more than {cfg.stale_days} days before {today.isoformat()})",
                f"{base.rstrip('/')}/data",
                (newest or today).isoformat(),
            )
        )
    return out


def _refresh_failures(con: duckdb.DuckDBPyConnection, base: str) -> list[Signal]:
    runs = operations.refresh_history(con, REFRESH_RUNS_READ, include_idle=False).filter(
        pl.col("status") != "succeeded"
    )
    out = []
    for r in runs.iter_rows(named=True):
        at = r["finished_at"] or r["started_at"]
        out.append(
            Signal(
                f"refresh_failed:{r['run_id']}",
                "refresh_failed",
                None,
                None,
                f"A refresh failed at {at:%Y-%m-%d %H:%M} UTC (status {r['status']}); "
                "the published data is unchanged",
                f"{base.rstrip('/')}/data",
                at.date().isoformat(),
            )
        )
    return out
