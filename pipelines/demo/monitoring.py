"""Contract v2 data of one clinic-year: providers, vitals rows, CADSS/MOAA/S scores, medications.

Drawn from a random stream of its own (seeded by seed, clinic, year and ``V2_STREAM``),
so the v1 records of a clinic come out as before. ``plan`` also edits the session arrays
it is given where v2 changes what happened: a provider's rushed pre-dose readings, the
pre-dose re-check other providers make, a clinic's short intranasal observation, the
session maxima a clinic records when it skips the 40-minute reading, and the lower
response of patients on a benzodiazepine. Every clinic but the ``v1_only`` one sends
the rows (``generate.clinic_data``).
"""

from __future__ import annotations

import numpy as np

from pipelines.contract import DRUG_CLASSES, INSTRUMENTS, TIMEPOINTS
from pipelines.demo.clinics import Clinic
from pipelines.demo.patients import Arrays
from pipelines.demo.sessions import EXCURSION, IM, NASAL

V2_STREAM = 2
PRE, DURING, POST, DISCHARGE = (TIMEPOINTS.index(t) for t in ("pre_dose", "during", "post_dose", "discharge"))
CADSS, MOAAS = (tuple(INSTRUMENTS).index(i) for i in ("cadss", "moaas"))
# Planted signals (``Clinic.v2_role``) and the network's habits they stand out from.
P_SKIP_40 = 1 / 3  # the skipping clinic: sessions without the 40-minute reading
P_MISSED_READING = 0.02  # elsewhere: each of the pre-dose, 40-minute and discharge readings
SHORT_NASAL_RECOVERY = (78, 6)  # minutes (mean, sd): ~90 min in the chair instead of ≥ 120
RUSHED_PRE = (10, 6)  # the planted provider's pre-dose readings, mmHg above the patient's (sys, dia)
ELEVATED_PRE = (150, 95)  # metrics.md's default pre-dose limits: other providers re-check above them
P_SCORED = (0.75, 0.97)  # per clinic, the share of sessions scored with CADSS and MOAA/S
# Concomitant medications at intake: prevalence per drug class (contract order).
MED_P = np.array([0.15, 0.06, 0.015, 0.07, 0.05, 0.08, 0.45, 0.04, 0.10])
P_STOPPED_BEFORE = 0.2  # of those episodes, stopped before enrolment
BENZO_RESPONSE = 0.65  # share of the latent response left to a patient on a benzodiazepine
BENZO = DRUG_CLASSES.index("benzodiazepine")
MIN_PULSE_PRESSURE = 25  # mmHg

assert MED_P.size == len(DRUG_CLASSES)


def provider_keys(clinic: Clinic) -> list[str]:
    """The clinic's providers' pseudonyms; the first is the planted one where there is one."""
    return [f"PRV{clinic.index + 1:03d}-{k + 1:02d}" for k in range(2 + clinic.chairs // 3)]


def _medications(rng: np.random.Generator, pts: Arrays) -> Arrays:
    """Episodes known at intake: ongoing ones, and some stopped before enrolment."""
    n = pts["enrol_day"].size
    has = rng.random((n, MED_P.size)) < MED_P
    p, drug = np.nonzero(has)
    enrol = pts["enrol_day"][p]
    started = enrol - rng.integers(30, 1500, p.size)
    stopped_before = rng.random(p.size) < P_STOPPED_BEFORE
    stopped = np.where(
        stopped_before, started + ((enrol - started) * rng.random(p.size)).astype(np.int64), -1
    )
    return {"p": p, "drug": drug, "started": started, "stopped": stopped}


def _reading(base: np.ndarray, peak: np.ndarray, share: np.ndarray) -> np.ndarray:
    return np.round(base + (peak - base) * share)


def plan(rng: np.random.Generator, clinic: Clinic, pts: Arrays, rows: Arrays, sess: Arrays) -> Arrays:
    """The year's v2 rows; edits ``pts`` and ``sess`` in place (see the module docstring)."""
    m = rows["p"].size
    p = rows["p"]
    admin = sess["admin"]
    route = sess["route"]
    meds = _medications(rng, pts)
    on_benzo = np.zeros(pts["enrol_day"].size, dtype=bool)
    on_benzo[meds["p"][(meds["drug"] == BENZO) & (meds["stopped"] < 0)]] = True
    pts["r"] = np.where(on_benzo, pts["r"] * BENZO_RESPONSE, pts["r"])

    n_prov = len(provider_keys(clinic))
    usual = rng.integers(0, n_prov, pts["enrol_day"].size)
    provider = np.where(rng.random(m) < 0.7, usual[p], rng.integers(0, n_prov, m))
    rushed = (provider == 0) & (clinic.v2_role == "bp_dosing_provider")
    sys_pre = sess["bp_sys_pre"] + rushed * np.round(rng.normal(RUSHED_PRE[0], 4, m))
    dia_pre = sess["bp_dia_pre"] + rushed * np.round(rng.normal(RUSHED_PRE[1], 3, m))
    # The session's peak rises with the reading it starts from (the same patient that day).
    sess["bp_sys_max"] = np.minimum(sess["bp_sys_max"] + sys_pre - sess["bp_sys_pre"], 300)
    sess["bp_dia_max"] = np.minimum(sess["bp_dia_max"] + dia_pre - sess["bp_dia_pre"], 200)
    # Systolic and diastolic are drawn apart: keep a pulse pressure (the contract rejects dia ≥ sys).
    dia_pre = np.minimum(dia_pre, sys_pre - MIN_PULSE_PRESSURE)
    sess["bp_dia_max"] = np.minimum(sess["bp_dia_max"], sess["bp_sys_max"] - MIN_PULSE_PRESSURE)
    sess["bp_sys_pre"], sess["bp_dia_pre"] = sys_pre, dia_pre
    if clinic.v2_role == "short_nasal_observation":
        short = np.round(rng.normal(*SHORT_NASAL_RECOVERY, m)).astype(np.int64)
        sess["recovery_min"] = np.where(route == NASAL, short, sess["recovery_min"])
    if clinic.v2_role == "v1_only":
        return {"providers": provider, "meds": meds, "vitals": None, "scores": None}

    u = rng.random((m, 6))
    elevated = (sys_pre >= ELEVATED_PRE[0]) | (dia_pre >= ELEVATED_PRE[1])
    recheck = admin & elevated & ~rushed
    re_sys = sys_pre - rng.integers(12, 26, m)
    re_dia = np.minimum(dia_pre - rng.integers(6, 13, m), re_sys - 20)
    start = sess["minute"]
    p_skip = P_SKIP_40 if clinic.v2_role == "skips_40min_bp" else P_MISSED_READING
    has_pre = admin & (u[:, 0] >= P_MISSED_READING)
    has_40 = admin & (u[:, 1] >= p_skip)
    end = start + sess["duration_min"] + sess["recovery_min"]
    has_post = admin & ((route == NASAL) | (route == IM)) & (end - start > 100)
    has_discharge = admin & (u[:, 2] >= P_MISSED_READING)
    spo2_pre = np.clip(np.round(98 + rng.normal(0, 0.8, m)), sess["spo2_min"], 100)
    hr_pre = sess["hr_pre"]
    post_share, discharge_share = rng.uniform(0.3, 0.6, m), rng.uniform(0.0, 0.3, m)
    parts = [
        # (rows, timepoint, minute, sys, dia, hr, spo2)
        (has_pre, PRE, start - 10, sys_pre, dia_pre, hr_pre, spo2_pre),
        (has_pre & recheck, PRE, start - 2, re_sys, re_dia, hr_pre, spo2_pre),
        (has_40, DURING, start + rng.integers(35, 46, m), sess["bp_sys_max"], sess["bp_dia_max"],
         sess["hr_max"], sess["spo2_min"]),
        (has_post, POST, start + 90, _reading(sys_pre, sess["bp_sys_max"], post_share),
         _reading(dia_pre, sess["bp_dia_max"], post_share),
         _reading(hr_pre, sess["hr_max"], post_share), spo2_pre),
        (has_discharge, DISCHARGE, end, _reading(sys_pre, sess["bp_sys_max"], discharge_share),
         _reading(dia_pre, sess["bp_dia_max"], discharge_share),
         _reading(hr_pre, sess["hr_max"], discharge_share), spo2_pre),
    ]  # fmt: skip
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("row", "timepoint", "minute", "sys", "dia", "hr", "spo2")
    }
    for mask, tp, minute, sys_, dia, hr, spo2 in parts:
        idx = np.nonzero(mask)[0]
        for key, values in zip(cols, (idx, np.full(idx.size, tp), minute[idx], sys_[idx], dia[idx], hr[idx],
                                      spo2[idx]), strict=True):  # fmt: skip
            cols[key].append(np.asarray(values))
    vitals = {k: np.concatenate(v).astype(np.int64) for k, v in cols.items()}
    order = np.lexsort((vitals["minute"], vitals["row"]))
    vitals = {k: v[order] for k, v in vitals.items()}
    vitals["resp_rate"] = np.clip(np.round(rng.normal(15, 2, vitals["row"].size)), 8, 30).astype(np.int64)

    # What the published session will show: pre = the latest pre-dose reading, max and min over the
    # rest. Adverse events follow these values (an unrecorded peak is no excursion on the dashboard).
    later = vitals["timepoint"] != PRE
    for column, values, fill in (("bp_sys_max", "sys", 0), ("bp_dia_max", "dia", 0), ("hr_max", "hr", 0)):
        recorded = np.full(m, fill, dtype=np.int64)
        np.maximum.at(recorded, vitals["row"][later], vitals[values][later])
        sess[column] = np.where(admin, np.maximum(recorded, 0), sess[column])
    spo2_min = np.full(m, 101, dtype=np.int64)
    np.minimum.at(spo2_min, vitals["row"][later], vitals["spo2"][later])
    sess["spo2_min"] = np.where(admin & (spo2_min <= 100), spo2_min, sess["spo2_min"])
    sess["bp_sys_pre"] = np.where(recheck, re_sys, sess["bp_sys_pre"])
    sess["bp_dia_pre"] = np.where(recheck, re_dia, sess["bp_dia_pre"])
    sess["excursion"] = admin & (
        (sess["bp_sys_max"] >= EXCURSION.bp_sys_max)
        | (sess["bp_dia_max"] >= EXCURSION.bp_dia_max)
        | (sess["hr_max"] >= EXCURSION.hr_max)
        | (sess["spo2_min"] < EXCURSION.spo2_min)
    )

    # CADSS and MOAA/S after the session: dissociation higher intranasally and early in a series.
    p_scored = rng.uniform(*P_SCORED)
    scored = admin & (u[:, 3] < p_scored)
    idx = np.nonzero(scored)[0]
    early = rows["ordinal"][idx] < 3
    cadss_mean = np.where(route[idx] == NASAL, 14.0, 9.0) * np.where(early, 1.4, 1.0)
    cadss = np.clip(np.round(rng.gamma(2.0, cadss_mean / 2.0)), 0, 92)
    moaas = np.where(u[idx, 4] < 0.05, rng.integers(2, 4, idx.size), np.where(u[idx, 5] < 0.2, 4, 5))
    at = sess["minute"][idx] + sess["duration_min"][idx] + rng.integers(5, 16, idx.size)
    scores = {
        "p": np.concatenate([p[idx], p[idx]]),
        "instrument": np.concatenate([np.full(idx.size, CADSS), np.full(idx.size, MOAAS)]),
        "minute": np.concatenate([at, at]),
        "row": np.concatenate([idx, idx]),
        "score": np.concatenate([cadss, moaas]).astype(np.float64),
    }
    return {"providers": provider, "meds": meds, "vitals": vitals, "scores": scores}
