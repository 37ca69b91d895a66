"""What gets reviewed, derived from the published database by the metric functions themselves.

An item is keyed by what it is about, never by a row number, so it survives refreshes
and corrections: ``(kind, subject)`` is

- ``adverse_event``, ae_id: a serious AE (severity ``serious``) or one of grade ≥ 3 (``grade3``);
- ``excursion_without_ae``, session_id: ``safety.excursions_without_ae``;
- ``protocol_deviation``, session_id: ``safety.protocol_deviations``;
- ``clinic_signal``, ``<clinic>|<metric>|<YYYY-MM>``: a clinic above the AE-rate funnel's
  99.8% limit in a calendar month (``safety.funnel``), or a special-cause ``concern``
  point on the clinic's monthly AE u-chart (``safety.u_chart``) or no-show p-chart
  (``throughput.no_show_pcharts_by_clinic``).

Events are looked for in the last ``lookback_days`` before the data's last date; clinic
signals in the complete calendar months starting in that window. Each item carries a
fingerprint (SHA-256 of its source's relevant columns, or of a signal's counts): when a
refresh corrects the source, the fingerprint changes and the item shows "data changed
since review".
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from dashboard.metrics import safety, throughput
from dashboard.metrics.filters import Filters
from dashboard.reviews import store as review_store
from dashboard.reviews import workflow
from dashboard.reviews.config import ReviewConfig, load_review_config
from dashboard.reviews.workflow import Candidate, SyncResult
from pipelines.model.config import MetricConfig, load_config

KINDS = ("adverse_event", "excursion_without_ae", "protocol_deviation", "clinic_signal")
KIND_LABELS = {
    "adverse_event": "adverse event",
    "excursion_without_ae": "excursion without AE",
    "protocol_deviation": "protocol deviation",
    "clinic_signal": "clinic signal",
}
SIGNAL_METRICS = {
    "ae_rate_funnel": "AE rate above the funnel's 99.8% limit",
    "ae_rate_spc": "AE rate special cause",
    "no_show_spc": "no-show rate special cause",
}
# The source columns each fingerprint covers: what a reviewer judged. Session numbers are left
# out: a correction of another session of the patient renumbers this one without changing it.
AE_COLUMNS = (
    "ae_id",
    "patient_key",
    "clinic_id",
    "session_id",
    "onset_at",
    "category",
    "severity_grade",
    "serious",
    "action_taken",
    "outcome",
    "description",
)
EXCURSION_COLUMNS = (
    "session_id",
    "patient_key",
    "clinic_id",
    "scheduled_at",
    "route",
    "modality",
    "dose_mg",
    "dose_mg_per_kg",
    "duration_min",
    "bp_sys_max",
    "bp_dia_max",
    "hr_max",
    "spo2_min",
)
DEVIATION_COLUMNS = (
    "session_id",
    "patient_key",
    "clinic_id",
    "scheduled_at",
    "phase",
    "dose_mg",
    "weight_kg",
    "dose_mg_per_kg",
    "duration_min",
)
_ROW_SOURCES = {  # kind -> (table, key column, fingerprint columns)
    "adverse_event": ("adverse_events", "ae_id", AE_COLUMNS),
    "excursion_without_ae": ("sessions", "session_id", EXCURSION_COLUMNS),
    "protocol_deviation": ("sessions", "session_id", DEVIATION_COLUMNS),
}


def fingerprint(values: Sequence[Any]) -> str:
    """SHA-256 of the values in order (None, numbers and timestamps written as JSON / ISO text)."""
    text = json.dumps(list(values), default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    return hashlib.sha256(text.encode()).hexdigest()


def _row_fingerprint(row: dict[str, Any], columns: Sequence[str]) -> str:
    return fingerprint([row[c] for c in columns])


@dataclass(frozen=True)
class Derived:
    candidates: list[Candidate]
    window: tuple[date, date]  # first and last day searched


def window_for(last_day: date, cfg: ReviewConfig) -> tuple[date, date]:
    return last_day - timedelta(days=cfg.lookback_days - 1), last_day


def derive(con: duckdb.DuckDBPyConnection, mcfg: MetricConfig, rcfg: ReviewConfig) -> Derived | None:
    """Every item the database flags in the window; None for a database without sessions."""
    last_day = throughput.data_last_date(con)
    if last_day is None:
        return None
    window = window_for(last_day, rcfg)
    clinics = tuple(r[0] for r in con.execute("SELECT clinic_id FROM clinics").fetchall())
    f = Filters(start=window[0], end=window[1], clinic_ids=clinics)
    out = [
        *_adverse_events(con, f),
        *_sessions(safety.excursions_without_ae(con, f, mcfg), "excursion_without_ae", EXCURSION_COLUMNS),
        *_sessions(safety.protocol_deviations(con, f, mcfg), "protocol_deviation", DEVIATION_COLUMNS),
        *_signals(con, f, mcfg),
    ]
    return Derived(out, window)


def _adverse_events(con: duckdb.DuckDBPyConnection, f: Filters) -> list[Candidate]:
    serious = safety.serious_events(con, f)
    severe = safety.line_list(con, f, safety.AeFilters(severity_grades=(3, 4, 5)))
    out: dict[str, Candidate] = {}
    for row in pl.concat([serious, severe]).to_dicts():
        if row["ae_id"] in out:
            continue
        label = "Serious AE" if row["serious"] else "Grade ≥ 3 AE"
        out[row["ae_id"]] = Candidate(
            kind="adverse_event",
            subject=row["ae_id"],
            clinic_id=row["clinic_id"],
            occurred_on=row["onset_at"].date(),
            severity="serious" if row["serious"] else "grade3",
            title=f"{label}: {row['category']}, grade {row['severity_grade']}, {row['action_taken']}",
            fingerprint=_row_fingerprint(row, AE_COLUMNS),
        )
    return list(out.values())


def _sessions(frame: pl.DataFrame, kind: str, columns: Sequence[str]) -> list[Candidate]:
    out = []
    for row in frame.to_dicts():
        out.append(
            Candidate(
                kind=kind,
                subject=row["session_id"],
                clinic_id=row["clinic_id"],
                occurred_on=row["scheduled_at"].date(),
                severity="excursion" if kind == "excursion_without_ae" else "deviation",
                title=_excursion_title(row) if kind == "excursion_without_ae" else _deviation_title(row),
                fingerprint=_row_fingerprint(row, columns),
            )
        )
    return out


def _excursion_title(row: dict[str, Any]) -> str:
    crossed = [
        label
        for flag, label in (
            ("high_bp_sys", f"systolic BP {row['bp_sys_max']}"),
            ("high_bp_dia", f"diastolic BP {row['bp_dia_max']}"),
            ("high_hr", f"heart rate {row['hr_max']}"),
            ("low_spo2", f"SpO2 {row['spo2_min']}%"),
        )
        if row[flag]
    ]
    return f"Excursion without AE: {', '.join(crossed)}"


def _deviation_title(row: dict[str, Any]) -> str:
    parts = []
    if row["dose_deviation"]:
        parts.append(f"dose {row['dose_mg_per_kg']:.2f} mg/kg")
    if row["duration_deviation"]:
        parts.append(f"duration {row['duration_min']} min")
    return f"Protocol deviation: {', '.join(parts)}"


def _complete_months(window: tuple[date, date]) -> list[tuple[date, date]]:
    """Calendar months that start in the window and end by its last day: (first, last day)."""
    first, last = window
    month = date(first.year, first.month, 1)
    if month < first:
        month = _next_month(month)
    out = []
    while (end := _next_month(month) - timedelta(days=1)) <= last:
        out.append((month, end))
        month = _next_month(month)
    return out


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _signal(clinic_id: str, metric: str, month: date, title: str, counts: Sequence[Any]) -> Candidate:
    period = f"{month:%Y-%m}"
    return Candidate(
        kind="clinic_signal",
        subject=f"{clinic_id}|{metric}|{period}",
        clinic_id=clinic_id,
        occurred_on=month,
        severity="signal",
        title=f"{SIGNAL_METRICS[metric]} in {period}: {title}",
        fingerprint=fingerprint(counts),
    )


def _signals(con: duckdb.DuckDBPyConnection, f: Filters, cfg: MetricConfig) -> list[Candidate]:
    months = _complete_months((f.start, f.end))
    if not months:
        return []
    out = []
    for first, last in months:
        frame = safety.funnel(con, Filters(start=first, end=last, clinic_ids=f.clinic_ids))
        for row in frame.filter(pl.col("flag") == "above_998").to_dicts():
            title = f"{row['ae_per_100']:.1f} AEs per 100 sessions (network {row['target_per_100']:.1f})"
            counts = (row["ae_count"], row["administered_sessions"])
            out.append(_signal(row["clinic_id"], "ae_rate_funnel", first, title, counts))
    # fetchall: DuckDB 2 results stream and hold the connection until fully fetched
    ((first_day,),) = con.execute("SELECT CAST(min(scheduled_at) AS DATE) FROM sessions").fetchall()
    history = Filters(start=first_day or months[0][0], end=months[-1][1], clinic_ids=f.clinic_ids)
    wanted = {m for m, _ in months}
    charts = {c: safety.u_chart(con, history, cfg, "month", clinic_id=c) for c in f.clinic_ids}
    out += _chart_signals(charts, "ae_rate_spc", wanted, "AEs per 100 sessions")
    no_shows = throughput.no_show_pcharts_by_clinic(con, history, cfg, "month")
    out += _chart_signals(no_shows, "no_show_spc", wanted, "no-show share", percent=True)
    return out


def _chart_signals(
    charts: dict[str, pl.DataFrame], metric: str, months: set[date], unit: str, *, percent: bool = False
) -> list[Candidate]:
    out = []
    for clinic_id, chart in charts.items():
        for row in chart.filter(pl.col("category") == "concern").to_dicts():
            if row["period"] not in months:
                continue
            scale = 100.0 if percent else 1.0
            value = f"{row['value'] * scale:.1f}{'%' if percent else ''}"
            centre = f"{row['centre'] * scale:.1f}{'%' if percent else ''}"
            title = f"{value} {unit} (centre {centre}, rule {row['rule']})"
            out.append(_signal(clinic_id, metric, row["period"], title, (row["count"], row["n"])))
    return out


def recheck(
    con: duckdb.DuckDBPyConnection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str | None]:
    """Fingerprints of the source rows of items that are no longer flagged; None where the row is gone."""
    wanted: dict[str, list[str]] = {}
    for kind, subject in keys:
        if kind in _ROW_SOURCES:
            wanted.setdefault(kind, []).append(subject)
    out: dict[tuple[str, str], str | None] = {}
    for kind, subjects in wanted.items():
        table, key, columns = _ROW_SOURCES[kind]
        rows = con.sql(
            f"SELECT {', '.join(columns)} FROM {table} WHERE {key} IN (SELECT unnest(?::VARCHAR[]))",
            params=[subjects],
        ).pl()
        found = {r[key]: _row_fingerprint(r, columns) for r in rows.to_dicts()}
        out.update({(kind, s): found.get(s) for s in subjects})
    return out


def sync(
    conn: sqlite3.Connection,
    con: duckdb.DuckDBPyConnection,
    *,
    mcfg: MetricConfig | None = None,
    rcfg: ReviewConfig | None = None,
    now: datetime | None = None,
) -> SyncResult:
    """Raise the items the database flags and record source changes (``workflow.sync``)."""
    rcfg = rcfg or load_review_config()
    derived = derive(con, mcfg or load_config(), rcfg)
    if derived is None:
        return SyncResult(0, 0)
    flagged = {(c.kind, c.subject) for c in derived.candidates}
    stored = conn.execute("SELECT kind, subject FROM items").fetchall()
    rechecks = recheck(con, [(k, s) for k, s in stored if (k, s) not in flagged])
    return workflow.sync(conn, derived.candidates, rechecks, derived.window, rcfg, now=now)


DB_VERSION_KEY = "synced_db_version"


def sync_if_stale(store: Path, db: Path, *, now: datetime | None = None) -> SyncResult | None:
    """Sync the store from the published database unless it was synced from this very file already.

    What a page calls on opening: cheap (one read of the store) while the database is
    unchanged. None when there is no database to sync from.
    """
    from dashboard import db as published

    version = published.db_version(db)
    if version is None:
        return None
    with review_store.connect(store) as conn:
        if review_store.get_state(conn, DB_VERSION_KEY) == version:
            return None
        with published.connect(db) as con:
            result = sync(conn, con, now=now or datetime.now(UTC))
        with review_store.transaction(conn):
            review_store.set_state(conn, DB_VERSION_KEY, version)
    return result
