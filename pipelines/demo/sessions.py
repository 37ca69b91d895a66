"""Session schedules (induction series with drop-out, maintenance boosters) and what happened in each.

A patient's sessions are a fixed-width matrix of *attempts* (rows = patients,
columns = attempt number) so everything is vectorised; masks decide which
attempts exist. Missed attempts (no-show, cancellation) do not count towards
the series, so a patient who misses simply needs more attempts.
"""

from __future__ import annotations

import numpy as np

from pipelines.contract import ROUTES, SESSION_STATUSES
from pipelines.demo.clinics import SHIFT_NO_SHOW_DELTA, Clinic
from pipelines.demo.params import weekday
from pipelines.demo.patients import Arrays
from pipelines.model.config import MetricConfig

K_IND = 12  # induction attempts
K_MAINT = 20  # maintenance attempts
K = K_IND + K_MAINT
IV, IM, NASAL = (ROUTES.index(r) for r in ("iv", "im", "intranasal"))
COMPLETED, STOPPED, CANCELLED, NO_SHOW = (
    SESSION_STATUSES.index(s) for s in ("completed", "stopped_early", "cancelled", "no_show")
)
P_STOPPED = {IV: 0.02, IM: 0.01, NASAL: 0.01}
P_DOSE_DEVIATION = 0.006  # per tail: iv dose per kg below 0.4 or above 1.0
P_DURATION_DEVIATION = 0.005  # per tail: iv duration below 30 or above 120 minutes
MIN_PULSE_PRESSURE = 20  # mmHg: systolic minus diastolic, before and at the peak
EXCURSION = MetricConfig()  # default excursion thresholds of metrics.md
MONDAY = -3  # 1969-12-29, a Monday: origin of the open-day index
P_SATURDAY_TO_MONDAY = 0.3  # Saturdays are lighter: some patients prefer the next Monday


def _lighter_saturday(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """Move some Saturday sessions to the Monday after (never past the next session: gaps ≥ 2 open days)."""
    return days + 2 * ((weekday(days) == 5) & (rng.random(days.shape) < P_SATURDAY_TO_MONDAY))


def _open_day(days: np.ndarray) -> np.ndarray:
    """Calendar day → index over Monday–Saturday days (Sundays closed)."""
    week, wd = np.divmod(days - MONDAY, 7)
    return week * 6 + np.minimum(wd, 5)


def _calendar(open_days: np.ndarray) -> np.ndarray:
    week, wd = np.divmod(open_days, 6)
    return MONDAY + week * 7 + wd


def _statuses(u: np.ndarray, days: np.ndarray, clinic: Clinic, shift_day: int) -> np.ndarray:
    p_ns = np.full(days.shape, clinic.p_no_show)
    if clinic.role == "no_show_shift":
        p_ns = p_ns + SHIFT_NO_SHOW_DELTA * (days >= shift_day)
    return np.where(u < p_ns, NO_SHOW, np.where(u < p_ns + clinic.p_cancel, CANCELLED, COMPLETED))


def schedule(rng: np.random.Generator, clinic: Clinic, pts: Arrays, shift_day: int) -> Arrays:
    """One row per scheduled session, in patient then time order."""
    n = pts["enrol_day"].size
    nasal = pts["route"] == NASAL
    # Induction gaps count open days (Mon–Sat), so series skip Sundays naturally.
    gaps = np.where(
        nasal[:, None],
        rng.choice(np.array([3, 3, 4]), size=(n, K_IND)),
        rng.choice(np.array([2, 3, 4, 5]), size=(n, K_IND), p=[0.35, 0.35, 0.2, 0.1]),
    )
    gaps[:, 0] = pts["lag"]
    ind_days = _calendar(_open_day(pts["enrol_day"])[:, None] + np.cumsum(gaps, axis=1))
    ind_days = _lighter_saturday(rng, ind_days)
    u = rng.random((n, K))
    status = np.empty((n, K), dtype=np.int64)
    status[:, :K_IND] = _statuses(u[:, :K_IND], ind_days, clinic, shift_day)
    admin = status[:, :K_IND] == COMPLETED
    before = np.cumsum(admin, axis=1) - admin
    n_ind = pts["n_ind"][:, None]
    keep_ind = before < n_ind
    prev_admin = np.zeros_like(admin)
    prev_admin[:, 1:] = admin[:, :-1]
    full = np.where(nasal, 8, 6)
    # A drop-out often shows as one last no-show after the final infusion.
    trailing = (before == n_ind) & ~admin & prev_admin & (pts["n_ind"] < full)[:, None]
    status[:, :K_IND] = np.where(trailing, NO_SHOW, status[:, :K_IND])
    keep_ind |= trailing
    done = keep_ind & admin
    achieved = done.sum(axis=1)
    last = np.where(done.any(axis=1), K_IND - 1 - np.argmax(done[:, ::-1], axis=1), 0)
    boosters = np.where(pts["maint"] & (achieved >= full - 1), np.minimum(pts["n_boost"], K_MAINT), 0)
    # Boosters every few weeks (open days: 18–48 ≈ 3–8 weeks); esketamine weekly or fortnightly.
    mgaps = np.where(
        nasal[:, None],
        rng.choice(np.array([6, 6, 12]), size=(n, K_MAINT)),
        rng.integers(18, 49, size=(n, K_MAINT)),
    )
    mgaps[:, 0] = np.where(nasal, rng.integers(6, 13, n), rng.integers(12, 37, n))
    last_day = ind_days[np.arange(n), last]
    m_days = _calendar(_open_day(last_day)[:, None] + np.cumsum(mgaps, axis=1))
    m_days = _lighter_saturday(rng, m_days)
    status[:, K_IND:] = _statuses(u[:, K_IND:], m_days, clinic, shift_day)
    keep = np.concatenate([keep_ind, np.arange(K_MAINT)[None, :] < boosters[:, None]], axis=1)
    days = np.concatenate([ind_days, m_days], axis=1)
    administered = keep & (status == COMPLETED)
    ordinal = np.cumsum(administered, axis=1) - administered  # administered sessions before this one
    pi, j = np.nonzero(keep)
    return {
        "p": pi,
        "j": j,
        "day": days[pi, j],
        "status": status[pi, j],
        "ordinal": ordinal[pi, j],
        "maintenance": j >= K_IND,
    }


def session_details(rng: np.random.Generator, clinic: Clinic, pts: Arrays, rows: Arrays) -> Arrays:
    """Time, status refinement, dose, duration and vitals of each scheduled session."""
    m = rows["p"].size
    p = rows["p"]
    route = pts["route"][p]
    kap = pts["kap"][p]
    u = rng.random((m, 6))
    slot = np.where(u[:, 0] < 0.25, rng.integers(0, clinic.slots_per_day, m), pts["slot"][p])
    minute = rows["day"] * 1440 + clinic.open_hour * 60 + slot * 90
    p_stop = np.select([route == IV, route == IM], [P_STOPPED[IV], P_STOPPED[IM]], P_STOPPED[NASAL])
    status = np.where((rows["status"] == COMPLETED) & (u[:, 1] < p_stop), STOPPED, rows["status"])
    admin = (status == COMPLETED) | (status == STOPPED)
    stopped = status == STOPPED
    ordinal = rows["ordinal"]

    # iv: 0.5 mg/kg titrated up by 0.1 per session for some patients, capped near 1.0.
    dpk_iv = np.minimum(pts["dose_start"][p] + 0.1 * ordinal * pts["titrate"][p], pts["dose_cap"][p])
    dpk_iv = np.round(dpk_iv / 0.05) * 0.05
    dpk_iv = np.where(u[:, 2] < P_DOSE_DEVIATION, rng.uniform(0.25, 0.38, m), dpk_iv)
    dpk_iv = np.where(u[:, 2] > 1 - P_DOSE_DEVIATION, rng.uniform(1.05, 1.3, m), dpk_iv)
    dpk_im = np.where(kap, rng.uniform(0.75, 1.5, m), rng.uniform(0.5, 1.0, m))
    weight = np.round(pts["weight"][p] + rng.normal(0, 0.7, m), 1)
    nasal_mg = np.where((ordinal < 2) | (u[:, 3] < 0.3), 56.0, 84.0)
    planned = np.select(
        [route == IV, route == IM],
        [np.clip(np.round(rng.normal(42, 4, m)), 35, 55), rng.integers(1, 6, m)],
        rng.integers(10, 16, m),
    )
    planned = np.where((route == IV) & (u[:, 4] < P_DURATION_DEVIATION), rng.integers(121, 151, m), planned)
    planned = np.where((route == IV) & (u[:, 4] > 1 - P_DURATION_DEVIATION), rng.integers(22, 30, m), planned)
    duration = np.where(stopped & (route == IV), rng.integers(8, 31, m), planned)
    dose = np.select([route == IV, route == IM], [dpk_iv * weight, dpk_im * weight], nasal_mg)
    dose = np.round(np.where(stopped & (route == IV), dose * duration / planned, dose), 1)
    recovery = np.select(
        [route == IV, route == IM],
        [rng.integers(30, 61, m), np.where(kap, rng.integers(90, 151, m), rng.integers(60, 121, m))],
        rng.integers(120, 151, m),
    )

    # Vitals: BP peaks during administration (mean +16/+11 mmHg); rare desaturation/tachycardia.
    sys_pre = np.clip(np.round(rng.normal(126, 13, m)), 90, 200)
    dia_pre = np.clip(np.round(rng.normal(77, 8, m)), 50, 125)
    hr_pre = np.clip(np.round(rng.normal(74, 11, m)), 45, 130)
    sys_max = sys_pre + np.round(np.maximum(rng.normal(16, 8, m), 0))
    dia_max = dia_pre + np.round(np.maximum(rng.normal(11, 5, m), 0))
    # Diastolic stays below systolic, by a pulse pressure of at least MIN_PULSE_PRESSURE mmHg.
    dia_pre = np.minimum(dia_pre, sys_pre - MIN_PULSE_PRESSURE)
    dia_max = np.minimum(dia_max, sys_max - MIN_PULSE_PRESSURE)
    hr_max = hr_pre + np.round(np.maximum(rng.normal(9, 7, m), 0))
    hr_max = np.where(u[:, 5] < 0.002, rng.integers(130, 151, m), hr_max)
    spo2 = np.clip(np.round(98 - np.abs(rng.normal(0, 1.2, m))), 88, 100)
    spo2 = np.where(u[:, 5] > 0.997, rng.integers(86, 92, m), spo2)
    excursion = admin & (
        (sys_max >= EXCURSION.bp_sys_max)
        | (dia_max >= EXCURSION.bp_dia_max)
        | (hr_max >= EXCURSION.hr_max)
        | (spo2 < EXCURSION.spo2_min)
    )
    return {
        "minute": minute,
        "slot_key": rng.random(m),  # who keeps a full slot (see generate.spread_slots)
        "status": status,
        "admin": admin,
        "route": route,
        "kap": kap,
        "dose_mg": dose,
        "weight_kg": np.where(route == NASAL, np.nan, weight),
        "duration_min": duration,
        "recovery_min": recovery,
        "bp_sys_pre": sys_pre,
        "bp_sys_max": np.minimum(sys_max, 300),
        "bp_dia_pre": dia_pre,
        "bp_dia_max": np.minimum(dia_max, 200),
        "hr_pre": hr_pre,
        "hr_max": np.minimum(hr_max, 250),
        "spo2_min": spo2,
        "excursion": excursion,
    }
