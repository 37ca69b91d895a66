"""Applying the demo's review seed (``pipelines/demo/review_seed.py``) once to a review store.

Each step takes the newest open items of its kind (and severity), starts their review
assigned to the seed's assignee with the step's note, and closes them when the step
says so: ordinary workflow writes, attributed to the seed's actor in the history.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dashboard.reviews import items, store, workflow

SEED_KEY = "demo_seed"


def apply_seed(seed_file: Path, db: Path, store_file: Path | None = None) -> int:
    """Sync the store from ``db`` and apply the seed unless this store has one already; items changed."""
    raw = seed_file.read_bytes()
    spec = json.loads(raw)
    target = store_file or store.store_path(db)
    items.sync_if_stale(target, db)
    actor = workflow.Actor(spec["actor"]["user_id"], spec["actor"]["name"], workflow.REVIEW_ROLES[0])
    changed = 0
    with store.connect(target) as conn:
        if store.get_state(conn, SEED_KEY) is not None:
            return 0
        for step in spec["steps"]:
            params: list[object] = [step["kind"]]
            severity = ""
            if "severity" in step:
                severity, params = " AND severity = ?", [*params, step["severity"]]
            picked = conn.execute(
                f"SELECT item_id, version FROM items WHERE status = 'open' AND kind = ?{severity} "
                "ORDER BY occurred_on DESC, item_id LIMIT ?",
                [*params, int(step["count"])],
            ).fetchall()
            for item_id, version in picked:
                version = workflow.assign(conn, item_id, spec["assignee"], actor, version)
                version = workflow.transition(conn, item_id, "in_review", actor, version, note=step["note"])
                if step["status"] == "closed":
                    workflow.transition(conn, item_id, "closed", actor, version, outcome=step["outcome"])
                changed += 1
        with store.transaction(conn):
            store.set_state(conn, SEED_KEY, hashlib.sha256(raw).hexdigest())
    return changed
