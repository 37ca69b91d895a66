"""The demo's review seed: a few items already in review, so a first start shows the workflow.

``ketaops demo-data`` writes ``REVIEWS-SEED.json`` beside its MANIFEST; ``ketaops serve``
applies it once to the review store (``dashboard/reviews/seed.py``). Steps pick the newest
open items of a kind rather than naming ids, so the seed fits whatever the demo generated.
The refresh ignores the file (its name matches no table).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REVIEW_SEED_FILE = "REVIEWS-SEED.json"

DEMO_REVIEW_SEED: dict[str, Any] = {
    "format": 1,
    "actor": {"user_id": "demo-seed", "name": "demo seed"},
    "assignee": "demo",
    "steps": [
        {
            "kind": "adverse_event",
            "severity": "serious",
            "count": 2,
            "status": "in_review",
            "note": "Asked the clinic for the discharge summary; checking the infusion record.",
        },
        {
            "kind": "excursion_without_ae",
            "count": 1,
            "status": "in_review",
            "note": "Vital-sign excursion with no AE recorded: asked the clinic whether one was missed.",
        },
        {
            "kind": "clinic_signal",
            "count": 1,
            "status": "in_review",
            "note": "Signal discussed with the clinic lead; waiting for their case review.",
        },
        {
            "kind": "adverse_event",
            "severity": "serious",
            "count": 1,
            "status": "closed",
            "outcome": "action_taken",
            "note": "Reviewed with the medical director: monitoring interval shortened for this patient.",
        },
    ],
}


def write_review_seed(out: Path) -> Path:
    path = out / REVIEW_SEED_FILE
    path.write_text(json.dumps(DEMO_REVIEW_SEED, indent=1) + "\n")
    return path
