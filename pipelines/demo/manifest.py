"""MANIFEST.json: what was generated and where the planted signals are, measured on the written data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from pipelines.contract import ADMINISTERED_STATUSES
from pipelines.demo.clinics import OUTLIER_AE_FACTOR, SHIFT_NO_SHOW_DELTA, Clinic
from pipelines.demo.generate import DATE_COL
from pipelines.demo.params import DemoSpec


@dataclass
class ClinicStats:
    clinic_id: str
    role: str | None
    rows: dict[str, int]
    scheduled: int
    administered: int
    no_shows: int
    ae_count: int
    last_data_date: date | None
    no_show_before_shift: float | None
    no_show_after_shift: float | None
    excursions: int
    excursion_without_ae: list[str] = field(default_factory=list)


def clinic_stats(spec: DemoSpec, clinic: Clinic, tables: dict[str, pl.DataFrame]) -> ClinicStats:
    s = tables["sessions"]
    admin = s.filter(pl.col("status").is_in(ADMINISTERED_STATUSES))
    shift = pl.col(DATE_COL) >= spec.shift_from
    no_show = pl.col("status") == "no_show"
    rates = s.select(
        before=no_show.filter(~shift).mean(),
        after=no_show.filter(shift).mean(),
    ).row(0)
    dates = [df[DATE_COL].max() for df in tables.values() if df.height]
    exc = admin.filter(pl.col("_excursion"))
    return ClinicStats(
        clinic_id=clinic.clinic_id,
        role=clinic.role,
        rows={name: df.height for name, df in tables.items()},
        scheduled=s.height,
        administered=admin.height,
        no_shows=int(s.select(no_show.sum()).item()),
        ae_count=tables["adverse_events"].height,
        last_data_date=max(dates) if dates else None,
        no_show_before_shift=rates[0],
        no_show_after_shift=rates[1],
        excursions=exc.height,
        excursion_without_ae=exc.filter(pl.col("_excursion_without_ae"))["session_id"].sort().to_list(),
    )


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def build_manifest(spec: DemoSpec, clinics: list[Clinic], stats: list[ClinicStats]) -> dict:
    by_role = {s.role: s for s in stats if s.role}
    total_ae = sum(s.ae_count for s in stats)
    total_admin = sum(s.administered for s in stats)
    theta = total_ae / total_admin if total_admin else 0.0
    signals: dict[str, object] = {}
    if o := by_role.get("ae_outlier"):
        from scipy.stats import poisson  # slow import; only needed here

        expected = theta * o.administered
        upper = float(poisson.ppf(0.999, expected)) if expected else 0.0
        signals["ae_outlier"] = {
            "clinic_id": o.clinic_id,
            "rate_factor": OUTLIER_AE_FACTOR,
            "administered_sessions": o.administered,
            "ae_count": o.ae_count,
            "ae_per_100": _round(100 * o.ae_count / o.administered if o.administered else None, 2),
            "network_ae_per_100": _round(100 * theta, 2),
            "expected_ae": _round(expected, 1),
            "poisson_upper_998": upper,
            "above_998": o.ae_count > upper,
        }
    if sh := by_role.get("no_show_shift"):
        signals["no_show_shift"] = {
            "clinic_id": sh.clinic_id,
            "shift_from": spec.shift_from.isoformat(),
            "added_no_show_probability": SHIFT_NO_SHOW_DELTA,
            "no_show_rate_before": _round(sh.no_show_before_shift),
            "no_show_rate_after": _round(sh.no_show_after_shift),
        }
    if si := by_role.get("silent"):
        signals["silent"] = {
            "clinic_id": si.clinic_id,
            "last_data_date": si.last_data_date.isoformat() if si.last_data_date else None,
            "days_before_end": (spec.end - si.last_data_date).days if si.last_data_date else None,
        }
    ids = sorted(i for s in stats for i in s.excursion_without_ae)
    signals["excursions_without_ae"] = {
        "excursion_sessions": sum(s.excursions for s in stats),
        "count": len(ids),
        "session_ids": ids,
    }
    tables = ("patients", "sessions", "assessments", "adverse_events")
    return {
        "generator": "ketaops demo-data",
        "arguments": {
            "clinics": spec.n_clinics,
            "years": spec.years,
            "start": spec.start.isoformat(),
            "end": spec.end.isoformat(),
            "seed": spec.seed,
            "format": spec.fmt,
            "dirty": spec.dirty,
        },
        "nominal_end": spec.nominal_end.isoformat(),
        "rows": {
            "clinics": len(clinics),
            **{t: sum(s.rows.get(t, 0) for s in stats) for t in tables},
        },
        "network": {
            "administered_sessions": total_admin,
            "ae_count": total_ae,
            "ae_per_100": _round(100 * theta, 2),
            "no_show_rate": _round(sum(s.no_shows for s in stats) / max(1, sum(s.scheduled for s in stats))),
        },
        "clinics": [
            {
                "clinic_id": s.clinic_id,
                "role": s.role,
                "administered_sessions": s.administered,
                "ae_count": s.ae_count,
                "last_data_date": s.last_data_date.isoformat() if s.last_data_date else None,
            }
            for s in stats
        ],
        "signals": signals,
    }
