"""Adverse events per administered session: rates, categories, grades, actions, short clinical text.

Everything recorded about an event follows its grade: the action, the outcome, the
description (mild text for grade 1) and seriousness (grade 4 or a transfer to the ED).
"""

from __future__ import annotations

import numpy as np

from pipelines.contract import ACTIONS, AE_CATEGORIES, AE_OUTCOMES
from pipelines.demo.clinics import OUTLIER_AE_FACTOR, Clinic
from pipelines.demo.patients import Arrays
from pipelines.demo.sessions import EXCURSION, IM, IV, NASAL, STOPPED

BASE_RATE = 0.075  # AEs per administered session (later iv maintenance sessions)
EARLY_FACTOR = 1.6  # sessions 1–3 (hypertension and dissociation cluster early)
MAINTENANCE_FACTOR = 0.75
ROUTE_FACTOR = {IV: 1.0, IM: 1.1, NASAL: 1.3}
P_EXCURSION_REPORTED = 0.85  # the rest are the planted "excursion without AE"

CATEGORY_WEIGHTS = {
    "dissociation": 30, "dizziness": 18, "nausea_vomiting": 17, "sedation": 12, "headache": 10,
    "anxiety_agitation": 6, "hypertension": 3, "blurred_vision": 3, "hallucinations": 2,
    "confusion": 2, "tachycardia": 1, "urinary": 1, "other": 1.5, "respiratory_depression": 0.2,
    "misuse": 0.1,
}  # fmt: skip
STOP_REASONS = ("anxiety_agitation", "nausea_vomiting", "hypertension", "dissociation", "dizziness")
GRADE_P = np.array([0.7, 0.27, 0.028, 0.002])  # grades 1–4; grade 5 never occurs in demo data
ACTION_BY_GRADE = {
    1: {"none": 0.55, "monitored": 0.45},
    2: {"monitored": 0.35, "infusion_paused": 0.25, "medication_given": 0.3, "dose_reduced": 0.1},
    3: {"infusion_stopped": 0.45, "medication_given": 0.4, "transferred_ed": 0.15},
    4: {"transferred_ed": 1.0},
}
OUTCOME_BY_GRADE = {
    1: {"resolved": 0.95, "resolving": 0.03, "unknown": 0.02},
    2: {"resolved": 0.9, "resolving": 0.07, "unknown": 0.03},
    3: {"resolved": 0.7, "resolving": 0.2, "not_resolved": 0.05, "unknown": 0.05},
    4: {"resolving": 0.5, "resolved": 0.4, "not_resolved": 0.1},
}
# One description per severity: grade 1 (mild, settled without treatment), grade 2 (needed
# attention), grade 3 or worse (severe). None names a treatment, so no text contradicts the action
# recorded beside it.
TEMPLATES: dict[str, tuple[str, str, str]] = {
    "dissociation": ("Transient dissociation, settled", "Felt detached and floating, needed coaching",
                     "Marked depersonalisation, distressed, infusion could not continue"),
    "dizziness": ("Mild dizziness on standing, settled", "Lightheaded in recovery, kept longer",
                  "Collapsed on standing, unable to walk unaided"),
    "nausea_vomiting": ("Mild nausea, settled", "Nausea and one vomit during recovery",
                        "Repeated vomiting, unable to keep fluids down"),
    "sedation": ("Drowsy in recovery, rousable to voice", "Sleepy for over an hour after dosing",
                 "Deeply sedated, rousable only to pain"),
    "headache": ("Mild headache, settled", "Frontal headache lasting into the evening",
                 "Severe headache with vomiting"),
    "anxiety_agitation": ("Anxious during onset, settled", "Agitated during dosing, needed reassurance",
                          "Panic and agitation, a risk to self"),
    "hypertension": ("Mild BP rise during dosing, settled", "BP rise needing checks every 5 min",
                     "Hypertensive response with chest tightness"),
    "blurred_vision": ("Blurred vision during dosing, settled", "Double vision lasting into recovery",
                       "Visual disturbance persisting at discharge"),
    "hallucinations": ("Vivid imagery, not distressing", "Distressing perceptual disturbance",
                       "Severe hallucinations, could not be reoriented"),
    "confusion": ("Brief confusion on emergence, settled", "Disoriented in recovery, kept longer",
                  "Confused and disoriented beyond recovery"),
    "tachycardia": ("Heart rate rose during dosing, settled", "Palpitations with a sustained high HR",
                    "Sustained tachycardia with chest pain"),
    "urinary": ("Mild urinary urgency the same day", "Dysuria reported at follow-up",
                "Haematuria and pelvic pain"),
    "other": ("Tingling in hands, settled", "Dry mouth and fatigue into the evening",
              "Felt acutely unwell, could not be discharged"),
    "respiratory_depression": ("Brief SpO2 dip, settled", "Shallow breathing needing prompting",
                               "Respiratory depression needing airway support"),
    "misuse": ("Asked about extra doses", "Reported using ketamine outside clinic",
               "Drug-seeking behaviour with intoxication at arrival"),
}  # fmt: skip
CAT_P = np.array([CATEGORY_WEIGHTS[c] for c in AE_CATEGORIES], dtype=float)
CAT_P /= CAT_P.sum()
TEMPLATE_TABLE = np.array([TEMPLATES[c] for c in AE_CATEGORIES])  # (category, variant)
ACTION_INDEX = {a: i for i, a in enumerate(ACTIONS)}
NOT_INFUSION = np.array([a.startswith("infusion_") or a == "dose_reduced" for a in ACTIONS])


def _by_grade(
    rng: np.random.Generator, grade: np.ndarray, table: dict, values: tuple[str, ...]
) -> np.ndarray:
    out = np.zeros(grade.size, dtype=np.int64)
    for g, probs in table.items():
        sel = grade == g
        idx = np.array([values.index(k) for k in probs])
        out[sel] = rng.choice(idx, size=int(sel.sum()), p=np.array(list(probs.values())))
    return out


def _vitals_text(sess: Arrays, rows: np.ndarray, category: np.ndarray) -> np.ndarray:
    """Descriptions quoting the recorded vitals, built with numpy string ops."""
    s = np.char.mod
    bp = np.char.add(
        np.char.add("BP peaked at ", s("%d", sess["bp_sys_max"][rows])),
        np.char.add("/", s("%d", sess["bp_dia_max"][rows])),
    )
    bp = np.char.add(bp, " mmHg during infusion")
    hr = np.char.add(np.char.add("HR up to ", s("%d", sess["hr_max"][rows])), " bpm")
    sat = np.char.add(np.char.add("SpO2 fell to ", s("%d", sess["spo2_min"][rows])), "%, oxygen given")
    hyp, tac = AE_CATEGORIES.index("hypertension"), AE_CATEGORIES.index("tachycardia")
    return np.where(category == hyp, bp, np.where(category == tac, hr, sat)).astype(object)


def adverse_events(rng: np.random.Generator, clinic: Clinic, sess: Arrays, ordinal: np.ndarray,
                   maintenance: np.ndarray) -> Arrays:  # fmt: skip
    """AE rows with ``row`` = index of their session; ``minute`` = onset."""
    m = sess["admin"].size
    route = sess["route"]
    rate = BASE_RATE * np.select([route == IV, route == IM], [ROUTE_FACTOR[IV], ROUTE_FACTOR[IM]],
                                 ROUTE_FACTOR[NASAL])  # fmt: skip
    rate = rate * np.where(ordinal < 3, EARLY_FACTOR, 1.0) * np.where(maintenance, MAINTENANCE_FACTOR, 1.0)
    if clinic.role == "ae_outlier":
        rate = rate * OUTLIER_AE_FACTOR
    counts = np.where(sess["admin"], rng.poisson(rate), 0)
    base_rows = np.repeat(np.arange(m), counts)
    base_cat = rng.choice(len(AE_CATEGORIES), size=base_rows.size, p=CAT_P)
    base_grade = 1 + rng.choice(4, size=base_rows.size, p=GRADE_P)

    # Every stopped infusion has the event that stopped it.
    stop_rows = np.nonzero(sess["status"] == STOPPED)[0]
    stop_cat = np.array([AE_CATEGORIES.index(c) for c in STOP_REASONS])[
        rng.integers(0, len(STOP_REASONS), stop_rows.size)
    ]
    stop_grade = rng.choice(np.array([2, 3]), size=stop_rows.size, p=[0.85, 0.15])

    # Most vital-sign excursions are reported as an AE of the matching category.
    exc = np.nonzero(sess["excursion"] & (rng.random(m) < P_EXCURSION_REPORTED))[0]
    bp = (sess["bp_sys_max"][exc] >= EXCURSION.bp_sys_max) | (sess["bp_dia_max"][exc] >= EXCURSION.bp_dia_max)
    hr = sess["hr_max"][exc] >= EXCURSION.hr_max
    exc_cat = np.select(
        [bp, hr],
        [AE_CATEGORIES.index("hypertension"), AE_CATEGORIES.index("tachycardia")],
        AE_CATEGORIES.index("respiratory_depression"),
    )
    severe = (sess["bp_sys_max"][exc] >= 200) | (sess["bp_dia_max"][exc] >= 120)
    exc_grade = np.where(severe, 3, 2)

    rows = np.concatenate([base_rows, stop_rows, exc])
    cat = np.concatenate([base_cat, stop_cat, exc_cat])
    grade = np.concatenate([base_grade, stop_grade, exc_grade])
    kind = np.concatenate([np.zeros(base_rows.size), np.ones(stop_rows.size), np.full(exc.size, 2)])
    order = np.lexsort((kind, rows))
    rows, cat, grade, kind = rows[order], cat[order], grade[order], kind[order]
    n = rows.size

    action = _by_grade(rng, grade, ACTION_BY_GRADE, ACTIONS)
    action = np.where(kind == 1, ACTION_INDEX["infusion_stopped"], action)
    nasal = route[rows] == NASAL
    action = np.where(nasal & NOT_INFUSION[action], ACTION_INDEX["monitored"], action)
    # Serious follows what happened (ICH E2A): life-threatening (grade 4) or a transfer to the
    # emergency department; a grade 1-2 event, described as mild or settled, never is.
    serious = (grade >= 4) | (action == ACTION_INDEX["transferred_ed"])
    text = TEMPLATE_TABLE[cat, np.minimum(grade, 3) - 1].astype(object)
    vit = kind == 2
    text[vit] = _vitals_text(sess, rows[vit], cat[vit])
    return {
        "row": rows,
        "minute": sess["minute"][rows] + rng.integers(10, 71, n),
        "category": cat,
        "grade": grade,
        "serious": serious,
        "action": action,
        "outcome": _by_grade(rng, grade, OUTCOME_BY_GRADE, AE_OUTCOMES),
        "description": text,
    }


# The AE category that reports each kind of excursion, as the excursion review list matches them
# (metrics.md "Safety": BP → hypertension, HR → tachycardia, SpO₂ → respiratory_depression).
EXCURSION_CATEGORY = {"bp": "hypertension", "hr": "tachycardia", "spo2": "respiratory_depression"}


def excursion_without_matching_ae(sess: Arrays, ae: Arrays) -> np.ndarray:
    """Per session: an excursion of some kind with no AE of that kind's category for the session."""
    m = sess["excursion"].size

    def reported(kind: str) -> np.ndarray:
        rows = ae["row"][ae["category"] == AE_CATEGORIES.index(EXCURSION_CATEGORY[kind])]
        return np.bincount(rows, minlength=m) > 0

    bp = (sess["bp_sys_max"] >= EXCURSION.bp_sys_max) | (sess["bp_dia_max"] >= EXCURSION.bp_dia_max)
    hr = sess["hr_max"] >= EXCURSION.hr_max
    spo2 = sess["spo2_min"] < EXCURSION.spo2_min
    unmatched = (bp & ~reported("bp")) | (hr & ~reported("hr")) | (spo2 & ~reported("spo2"))
    return sess["excursion"] & unmatched
