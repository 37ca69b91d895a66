"""New patients of one clinic-month: demographics, condition, route and latent response."""

from __future__ import annotations

import numpy as np

from pipelines.contract import AGE_BANDS, CONDITIONS, ROUTES, SEXES
from pipelines.demo.clinics import Clinic
from pipelines.demo.params import weekday

Arrays = dict[str, np.ndarray]

SEX_P = np.array([0.58, 0.40, 0.01, 0.01])  # F, M, X, U
AGE_P = np.array([0.01, 0.10, 0.22, 0.23, 0.19, 0.14, 0.08, 0.025, 0.004, 0.001])
# depression, bipolar_depression, anxiety, ptsd, ocd, alcohol_use, opioid_use,
# other_substance_use, chronic_pain, migraine, other
CONDITION_P = np.array([0.50, 0.08, 0.07, 0.10, 0.03, 0.03, 0.02, 0.02, 0.08, 0.03, 0.04])
ROUTE_P = np.array([0.78, 0.09, 0.13])  # iv, im, intranasal (esketamine)
KAP_P = {"iv": 0.05, "im": 0.4, "intranasal": 0.0}
# Administered induction sessions a patient will attend (registry: ~half do not finish 6, 20% stop after 1).
IND_COUNTS = np.arange(1, 9)
IND_P_INFUSION = np.array([0.20, 0.07, 0.07, 0.06, 0.06, 0.50, 0.02, 0.02])
IND_P_NASAL = np.array([0.20, 0.06, 0.06, 0.05, 0.05, 0.05, 0.05, 0.48])  # Spravato: 8 in 4 weeks
MAINTENANCE_P = 0.55  # of patients completing induction
MEAN_BOOSTERS = 4.0
# Average administered sessions per new patient, measured on generated data; turns a
# clinic's target chair use into an arrival rate.
SESSIONS_PER_PATIENT = 5.3
CHAIR_MINUTES = 100.0  # mean chair time of an administered session (administration + recovery)
RAMP_DAYS = 270  # a new clinic reaches full demand over about nine months
SATURDAY_WEIGHT = 0.5

assert len(SEX_P) == len(SEXES) and len(AGE_P) == len(AGE_BANDS)
assert len(CONDITION_P) == len(CONDITIONS) and len(ROUTE_P) == len(ROUTES)


def arrival_rate(clinic: Clinic, days: np.ndarray) -> np.ndarray:
    """Expected new patients per day: fills ~utilisation of chair time at steady state."""
    per_day = clinic.utilisation * clinic.chairs * clinic.hours_per_day * 60 / CHAIR_MINUTES
    ramp = np.clip(0.3 + 0.7 * (days - clinic.opened_day) / RAMP_DAYS, 0.3, 1.0)
    wd = weekday(days)
    week = np.where(wd == 6, 0.0, np.where(wd == 5, SATURDAY_WEIGHT, 1.0))
    return per_day / SESSIONS_PER_PATIENT * ramp * week


def draw_patients(rng: np.random.Generator, clinic: Clinic, days: np.ndarray) -> Arrays:
    """One row per new patient enrolled on one of ``days``."""
    counts = rng.poisson(arrival_rate(clinic, days))
    enrol = np.repeat(days, counts)
    n = enrol.size
    route = rng.choice(len(ROUTES), size=n, p=ROUTE_P)
    kap_p = np.array([KAP_P[r] for r in ROUTES])[route]
    nasal = route == ROUTES.index("intranasal")
    n_ind = np.where(
        nasal,
        rng.choice(IND_COUNTS, size=n, p=IND_P_NASAL),
        rng.choice(IND_COUNTS, size=n, p=IND_P_INFUSION),
    )
    dropped = n_ind < np.where(nasal, 8, 6)
    # Latent response: share of the baseline score lost at the end of induction. A
    # minority worsens; patients who drop out respond less (they often leave for that).
    worse = rng.random(n) < 0.11
    r = np.where(worse, rng.normal(-0.28, 0.15, n), rng.normal(0.71, 0.24, n)) - 0.1 * dropped
    return {
        "enrol_day": enrol,
        "seq": np.arange(n),
        "sex": rng.choice(len(SEXES), size=n, p=SEX_P),
        "age": rng.choice(len(AGE_BANDS), size=n, p=AGE_P / AGE_P.sum()),
        "condition": rng.choice(len(CONDITIONS), size=n, p=CONDITION_P),
        "route": route,
        "kap": rng.random(n) < kap_p,
        "weight": np.clip(rng.lognormal(np.log(80), 0.22, n), 42, 190).round(1),
        "n_ind": n_ind,
        "maint": rng.random(n) < MAINTENANCE_P,
        "n_boost": rng.geometric(1 / MEAN_BOOSTERS, n),  # boosters (≥ 1) if in maintenance
        "lag": rng.integers(1, 18, n),  # enrolment → first scheduled session (open days)
        "slot": rng.integers(0, clinic.slots_per_day, n),
        "titrate": rng.random(n) < 0.6,
        "dose_cap": rng.uniform(0.7, 1.0, n),
        "dose_start": rng.choice(np.array([0.5, 0.5, 0.5, 0.45, 0.55]), n),
        "r": r,
        "relapse": rng.random(n),
        "severity": rng.normal(0, 1, n),
        "secondary": rng.random((n, 4)),  # madrs, qids_sr16, gad7, cssrs flags
        "followup": rng.random((n, 2)),  # end-of-induction, 60–120 day
    }
