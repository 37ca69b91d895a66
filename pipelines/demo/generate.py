"""One clinic's full export history, generated year by year.

Each calendar year of new patients has its own random stream seeded by
(seed, clinic, year), and a patient's whole course is drawn when they
enrol. Nothing depends on ``--end`` except the final cut, so a later ``--end``
only appends records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from pipelines.contract import (
    ACTIONS,
    AE_CATEGORIES,
    AE_OUTCOMES,
    AGE_BANDS,
    CONDITIONS,
    MODALITIES,
    PHASES,
    ROUTES,
    SESSION_STATUSES,
    SEXES,
    TABLES_BY_NAME,
)
from pipelines.demo.adverse_events import adverse_events, excursion_without_matching_ae
from pipelines.demo.clinics import Clinic
from pipelines.demo.outcomes import INSTR, assessments
from pipelines.demo.params import WARMUP_DAYS, DemoSpec, from_day, to_day
from pipelines.demo.patients import Arrays, draw_patients
from pipelines.demo.sessions import NASAL, schedule, session_details

DATE_COL = "_date"  # day a record belongs to (file partition); dropped on write


@dataclass
class ClinicData:
    """A clinic's tables in contract columns plus ``_date`` (file partition) and ``_``-prefixed extras."""

    tables: dict[str, pl.DataFrame]


def _year_days(year: int, first_day: int) -> np.ndarray:
    """Days of a calendar year from ``first_day`` on (a block of new patients)."""
    lo = max(to_day(date(year, 1, 1)), first_day)
    return np.arange(lo, to_day(date(year + 1, 1, 1)))


def _concat(parts: list[Arrays]) -> Arrays:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _gather(values: tuple[str, ...], idx: np.ndarray) -> pl.Series:
    return pl.Series(values).gather(pl.Series(idx.astype(np.int64)))


def _ts(minutes: np.ndarray) -> pl.Series:
    return pl.from_epoch(pl.Series(minutes.astype(np.int64) * 60), time_unit="s")


def _day(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


def simulate(spec: DemoSpec, clinic: Clinic) -> tuple[Arrays, Arrays, Arrays, Arrays, Arrays]:
    """Raw arrays (patients, session rows, session details, AEs, assessments) for the clinic."""
    first = max(clinic.opened_day, to_day(spec.start) - WARMUP_DAYS)
    shift_day = to_day(spec.shift_from)
    P, R, S, A, Q = [], [], [], [], []
    n_p = n_r = 0
    for year in range(from_day(first).year, spec.end.year + 1):
        days = _year_days(year, first)
        rng = np.random.default_rng([spec.seed, clinic.index + 1, year])
        pts = draw_patients(rng, clinic, days)
        rows = schedule(rng, clinic, pts, shift_day)
        sess = session_details(rng, clinic, pts, rows)
        ae = adverse_events(rng, clinic, sess, rows["ordinal"], rows["maintenance"])
        asm = assessments(rng, pts, rows, sess)
        pts["block"] = np.full(pts["seq"].size, year % 100)
        rows["p"] = rows["p"] + n_p
        asm["p"] = asm["p"] + n_p
        ae["row"] = ae["row"] + n_r
        asm["row"] = np.where(asm["row"] >= 0, asm["row"] + n_r, -1)
        n_p += pts["seq"].size
        n_r += rows["p"].size
        P.append(pts), R.append(rows), S.append(sess), A.append(ae), Q.append(asm)
    return _concat(P), _concat(R), _concat(S), _concat(A), _concat(Q)


def spread_slots(clinic: Clinic, day: np.ndarray, minute: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Minute shift per session so no 90-minute slot holds more bookings than the clinic has chairs.

    Patients ask for their preferred slot; a full slot keeps its lowest keys and
    pushes the rest to the next slot (wrapping to the first), a few rounds at most.
    Runs on the whole clinic because sessions from different enrolment years share days.
    """
    first = day * 1440 + clinic.open_hour * 60
    df = pl.DataFrame({"day": day, "slot": (minute - first) // 90, "key": key})
    for _ in range(clinic.slots_per_day):
        full = pl.col("key").rank("ordinal").over("day", "slot") > clinic.chairs
        if not df.select(full.any()).item():
            break
        df = df.with_columns(
            slot=pl.when(full).then((pl.col("slot") + 1) % clinic.slots_per_day).otherwise(pl.col("slot"))
        )
    return first + df["slot"].to_numpy() * 90 - minute


def clinic_data(spec: DemoSpec, clinic: Clinic) -> ClinicData:
    """The clinic's tables in contract columns, cut to [start, end] (and its silence, if planted)."""
    pts, rows, sess, ae, asm = simulate(spec, clinic)
    shift = spread_slots(clinic, rows["day"], sess["minute"], sess["slot_key"])
    sess["minute"] = sess["minute"] + shift
    ae["minute"] = ae["minute"] + shift[ae["row"]]
    asm["minute"] = asm["minute"] + np.where(asm["row"] >= 0, shift[np.maximum(asm["row"], 0)], 0)
    start = to_day(spec.start)
    cutoff = to_day(spec.end)
    if clinic.role == "silent":
        cutoff = min(cutoff, to_day(spec.silent_after))
    keys = pl.format(
        "P{}-{}-{}",
        pl.lit(f"{clinic.index + 1:04d}"),
        pl.Series(pts["block"]).cast(pl.String).str.zfill(2),
        pl.Series(pts["seq"]).cast(pl.String).str.zfill(5),
    )
    keys = pl.select(keys).to_series()
    cid = clinic.clinic_id

    # Warm-up patients are exported only if they still have records on or after --start.
    last_day = pts["enrol_day"].copy()
    np.maximum.at(last_day, rows["p"], rows["day"])
    np.maximum.at(last_day, asm["p"], asm["minute"] // 1440)
    include = last_day >= start
    patients = pl.DataFrame(
        {
            "patient_key": keys,
            "home_clinic_id": cid,
            "sex": _gather(SEXES, pts["sex"]),
            "age_band": _gather(AGE_BANDS, pts["age"]),
            "primary_condition": _gather(CONDITIONS, pts["condition"]),
            "enrolled_on": _day(pts["enrol_day"]),
            DATE_COL: _day(np.maximum(pts["enrol_day"], start)),
        }
    ).filter(pl.Series(include) & (pl.col("enrolled_on") <= from_day(cutoff)))

    admin = pl.Series(sess["admin"])
    iv_im = pl.Series(sess["admin"] & (sess["route"] != NASAL))
    sched = _ts(sess["minute"])
    session_ids = pl.select(
        pl.format(
            "{}-{}", keys.gather(pl.Series(rows["p"])), pl.Series(rows["j"]).cast(pl.String).str.zfill(2)
        )
    ).to_series()
    vitals = ("bp_sys_pre", "bp_sys_max", "bp_dia_pre", "bp_dia_max", "hr_pre", "hr_max", "spo2_min")
    sessions = pl.DataFrame(
        {
            "session_id": session_ids,
            "patient_key": keys.gather(pl.Series(rows["p"])),
            "clinic_id": cid,
            "scheduled_at": sched,
            "status": _gather(SESSION_STATUSES, sess["status"]),
            "phase": _gather(PHASES, rows["maintenance"].astype(np.int64)),
            "route": _gather(ROUTES, sess["route"]),
            "modality": _gather(MODALITIES, sess["kap"].astype(np.int64)),
            "dose_mg": pl.Series(sess["dose_mg"]),
            "weight_kg": pl.Series(sess["weight_kg"]).fill_nan(None),
            "duration_min": pl.Series(sess["duration_min"].astype(np.int64)),
            "recovery_min": pl.Series(sess["recovery_min"].astype(np.int64)),
            **{v: pl.Series(sess[v].astype(np.int64)) for v in vitals},
            DATE_COL: _day(rows["day"]),
            "_excursion": pl.Series(sess["excursion"]),
            "_excursion_without_ae": pl.Series(excursion_without_matching_ae(sess, ae)),
        }
    ).with_columns(
        [
            pl.when(admin).then(pl.col(c)).otherwise(None).alias(c)
            for c in ("dose_mg", "duration_min", "recovery_min", *vitals)
        ]
        + [pl.when(iv_im).then(pl.col("weight_kg")).otherwise(None).alias("weight_kg")]
    )

    adverse = pl.DataFrame(
        {
            "ae_id": session_ids.gather(pl.Series(ae["row"])),
            "patient_key": keys.gather(pl.Series(rows["p"][ae["row"]])),
            "clinic_id": cid,
            "session_id": session_ids.gather(pl.Series(ae["row"])),
            "onset_at": _ts(ae["minute"]),
            "category": _gather(AE_CATEGORIES, ae["category"]),
            "severity_grade": pl.Series(ae["grade"].astype(np.int64)),
            "serious": pl.Series(ae["serious"]),
            "action_taken": _gather(ACTIONS, ae["action"]),
            "outcome": _gather(AE_OUTCOMES, ae["outcome"]),
            "description": pl.Series(ae["description"].astype(str)),
            DATE_COL: _day(ae["minute"] // 1440),
        }
    ).with_columns(
        pl.format("{}-E{}", "ae_id", pl.int_range(1, pl.len() + 1).over("ae_id").cast(pl.String)).alias(
            "ae_id"
        )
    )

    has_session = asm["row"] >= 0
    assess = (
        pl.DataFrame(
            {
                "patient_key": keys.gather(pl.Series(asm["p"])),
                "clinic_id": cid,
                "instrument": _gather(INSTR, asm["instrument"]),
                "score": pl.Series(asm["score"].astype(np.float64)),
                "assessed_at": _ts(asm["minute"]),
                "session_id": session_ids.gather(pl.Series(np.where(has_session, asm["row"], 0))),
                DATE_COL: _day(asm["minute"] // 1440),
                "_has_session": pl.Series(has_session),
                "_include": pl.Series(include[asm["p"]]),
            }
        )
        .with_columns(pl.when("_has_session").then(pl.col("session_id")).otherwise(None).alias("session_id"))
        .filter("_include")
        .drop("_has_session", "_include")
    )
    assess = assess.sort("patient_key", "assessed_at", "instrument", maintain_order=True).with_columns(
        pl.format(
            "{}-A{}",
            "patient_key",
            pl.int_range(1, pl.len() + 1).over("patient_key").cast(pl.String).str.zfill(3),
        ).alias("assessment_id")
    )

    window = pl.col(DATE_COL).is_between(from_day(start), from_day(cutoff))
    tables = {
        "patients": patients,
        "sessions": sessions.filter(window),
        "assessments": assess.filter(window),
        "adverse_events": adverse.filter(window),
    }
    tables = {
        name: df.select([*TABLES_BY_NAME[name].column_names, *[c for c in df.columns if c.startswith("_")]])
        for name, df in tables.items()
    }
    return ClinicData(tables)
