"""Outcome assessments: baseline, before each session, end of induction and a 60–120 day follow-up.

Scores follow a latent per-patient response ``r`` (share of the baseline lost
by the end of induction), reached gradually over the first sessions. ``r`` is
calibrated so PHQ-9 response/remission at end of induction land near the
ORKA-1 registry (53.6% / 28.9%); PCL-5 and Y-BOCS respond less (``R_SCALE``). Baselines below
caseness occur naturally (PHQ-9 ~4%, PCL-5 ~6%: the score model's lower tail), and some
pre-infusion questionnaires are logged a few minutes after the booked time (``P_LOGGED_LATE``).
"""

from __future__ import annotations

import numpy as np

from pipelines.contract import CONDITIONS, INSTRUMENTS
from pipelines.demo.patients import Arrays
from pipelines.demo.sessions import NASAL
from pipelines.model.outcome_rules import PRIMARY_INSTRUMENT  # metrics.md's table, declared once

# instrument -> (baseline mean, baseline sd, baseline floor, measurement noise sd)
SCORE_MODEL: dict[str, tuple[float, float, float, float]] = {
    "phq9": (17, 4, 8, 1.5), "madrs": (30, 6, 12, 2.5), "qids_sr16": (16, 3.5, 6, 1.5),
    "gad7": (14, 3.5, 6, 1.5), "pcl5": (50, 11, 25, 4), "ybocs": (26, 5, 14, 2),
    "craving_vas": (68, 15, 25, 8), "pain_nrs": (7, 1.4, 4, 0.7), "migraine_days": (14, 5, 5, 2),
    "cssrs_ideation": (0, 0, 0, 0),  # scored separately (ordinal, mostly 0)
}  # fmt: skip
INSTR = tuple(INSTRUMENTS)
MU, SD, FLOOR, NOISE = (np.array([SCORE_MODEL[i][k] for i in INSTR], dtype=float) for k in range(4))
LO = np.array([INSTRUMENTS[i][0] for i in INSTR], dtype=float)
HI = np.array([INSTRUMENTS[i][1] for i in INSTR], dtype=float)
CSSRS = INSTR.index("cssrs_ideation")
PRIMARY = np.array([INSTR.index(PRIMARY_INSTRUMENT[c]) if PRIMARY_INSTRUMENT[c] else -1 for c in CONDITIONS])
DEPRESSIVE = np.array([c in ("depression", "bipolar_depression") for c in CONDITIONS])
# Share of the final improvement reached after k administered sessions.
GAIN = np.array([0.0, 0.45, 0.65, 0.8, 0.9, 0.97, 1.0])
RELAPSE_P = {"maintained": 0.2, "not_maintained": 0.4}  # by the 60–120 day follow-up
RELAPSE_KEEP = 0.3  # a relapsed patient keeps this share of the improvement
P_PRE_SESSION = 0.9
# A pre-infusion questionnaire logged a few minutes after the booked time (still linked to the
# session): a baseline under the v2 rule, a "day-0 rapid response" under v1's.
P_LOGGED_LATE = 0.08
# Response by instrument relative to the latent ``r``: PCL-5 and Y-BOCS respond less than PHQ-9, so
# PCL-5 remission and Y-BOCS response land near real-world ketamine series (~40% and ~45%).
R_SCALE = {"pcl5": 0.45, "ybocs": 0.6}
SECONDARY = (("madrs", 0.3, True), ("qids_sr16", 0.2, True), ("gad7", 0.2, False))
P_CSSRS = 0.4


def _daytime(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    return days * 1440 + 9 * 60 + 15 * rng.integers(0, 32, days.size)


def assessments(rng: np.random.Generator, pts: Arrays, rows: Arrays, sess: Arrays) -> Arrays:
    """Assessment rows: patient ``p``, instrument index, minute, session ``row`` (-1 if none), score."""
    n = pts["enrol_day"].size
    admin = sess["admin"]
    p, day, minute = rows["p"], rows["day"], sess["minute"]
    ind = admin & ~rows["maintenance"]
    first_min = np.full(n, -1, dtype=np.int64)
    ar = np.nonzero(admin)[0][::-1]  # reverse so the earliest write wins
    first_min[p[ar]] = minute[ar]
    day0 = np.where(first_min >= 0, first_min // 1440, -1)
    last_ind = np.full(n, -1, dtype=np.int64)
    ir = np.nonzero(ind)[0]
    last_ind[p[ir]] = day[ir]
    n_ind = np.bincount(p[ind], minlength=n)
    full = np.where(pts["route"] == NASAL, 8, 6)
    completer = n_ind >= full - 1
    has_maint = np.bincount(p[admin & rows["maintenance"]], minlength=n) > 0
    relapsed = pts["relapse"] < np.where(has_maint, RELAPSE_P["maintained"], RELAPSE_P["not_maintained"])

    cond = pts["condition"]
    depressive = DEPRESSIVE[cond]
    # Which instruments each patient has: primary, secondary (baseline/end/follow-up only), C-SSRS.
    wants = np.zeros((n, len(INSTR)), dtype=bool)
    has_primary = PRIMARY[cond] >= 0
    wants[np.nonzero(has_primary)[0], PRIMARY[cond][has_primary]] = True
    for k, (inst, share, dep_only) in enumerate(SECONDARY):
        wants[:, INSTR.index(inst)] |= (pts["secondary"][:, k] < share) & (depressive | (not dep_only))
    cssrs = depressive & (pts["secondary"][:, 3] < P_CSSRS)
    wants[:, CSSRS] |= cssrs
    per_session = np.zeros_like(wants)
    per_session[np.nonzero(has_primary)[0], PRIMARY[cond][has_primary]] = True
    per_session[:, CSSRS] = cssrs

    # Time points: baseline, before administered sessions, end of induction, late follow-up.
    end_p = (n_ind > 0) & (pts["followup"][:, 0] < np.where(completer, 0.85, 0.3))
    end_day = np.minimum(last_ind + rng.integers(5, 15, n), day0 + 41)
    late_p = completer & (pts["followup"][:, 1] < 0.7)
    late_day = day0 + rng.integers(60, 121, n)
    pre = np.nonzero(admin & (rng.random(admin.size) < P_PRE_SESSION))[0]
    tp_p = np.concatenate([np.arange(n), p[pre], np.nonzero(end_p)[0], np.nonzero(late_p)[0]])
    logged_after = np.where(rng.random(pre.size) < P_LOGGED_LATE, rng.integers(2, 11, pre.size), -15)
    tp_min = np.concatenate([
        _daytime(rng, pts["enrol_day"]), minute[pre] + logged_after,
        _daytime(rng, end_day[end_p]), _daytime(rng, late_day[late_p]),
    ])  # fmt: skip
    tp_row = np.concatenate([np.full(n, -1), pre, np.full(int(end_p.sum() + late_p.sum()), -1)])
    tp_k = np.concatenate([np.zeros(n, dtype=np.int64), rows["ordinal"][pre], n_ind[end_p], n_ind[late_p]])
    is_session = tp_row >= 0
    late = (tp_min // 1440 - day0[tp_p] > 42) & (day0[tp_p] >= 0)

    # Expand time points × instruments the patient uses at that kind of time point.
    mask = np.where(is_session[:, None], per_session[tp_p], wants[tp_p])
    t_idx, inst = np.nonzero(mask)
    pp = tp_p[t_idx]
    gain = GAIN[np.minimum(tp_k[t_idx], GAIN.size - 1)]
    scale = np.array([R_SCALE.get(i, 1.0) for i in INSTR])[inst]
    frac = pts["r"][pp] * scale * gain * np.where(late[t_idx] & relapsed[pp], RELAPSE_KEEP, 1.0)
    base = np.clip(MU[inst] + SD[inst] * pts["severity"][pp], FLOOR[inst], HI[inst])
    score = base * (1 - frac) + NOISE[inst] * rng.normal(0, 1, pp.size)
    # C-SSRS ideation: 0–5, mostly 0, easing as the patient improves.
    c_base = np.clip(np.round(1.2 + 1.3 * pts["severity"][pp] + rng.normal(0, 0.8, pp.size)), 0, 4)
    c_score = c_base * (1 - np.clip(frac, 0, 1)) + rng.normal(0, 0.3, pp.size)
    score = np.where(inst == CSSRS, c_score, score)
    score = np.clip(np.round(score), LO[inst], HI[inst])
    return {
        "p": pp,
        "instrument": inst,
        "minute": tp_min[t_idx],
        "row": tp_row[t_idx],
        "score": score,
    }
