"""Items raised from a published database, and their survival across a refresh that corrects the source.

Database (clinic C1, patient P1, last data day 10 March 2026; window = the 90 days before):

| row | what                                   | item?                          |
|-----|----------------------------------------|--------------------------------|
| S1  | iv, 0.5 mg/kg, 40 min, bp_sys_max 190  | excursion without AE           |
| S2  | iv, 1.5 mg/kg, 40 min                  | protocol deviation (dose > 1.0)|
| S3  | iv, 0.5 mg/kg, 40 min, normal vitals   | none                           |
| A1  | on S3, serious, grade 3                | adverse_event, serious         |
| A2  | on S3, grade 3, not serious            | adverse_event, grade3          |
| A3  | on S3, grade 1                         | none                           |
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboard.reviews import items, listing, store, workflow
from pipelines.cli import main

ALICE = workflow.Actor("alice@network.example", "Alice", "quality")
NOW = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)


def _session(sid: str, day: str, **kw: Any) -> dict:
    row = {
        "session_id": sid,
        "patient_key": "P1",
        "clinic_id": "C1",
        "scheduled_at": datetime.fromisoformat(f"{day}T10:00"),
        "status": "completed",
        "phase": "induction",
        "route": "iv",
        "modality": "infusion",
        "dose_mg": 35.0,
        "weight_kg": 70.0,
        "dose_mg_per_kg": 0.5,
        "duration_min": 40,
        "bp_sys_max": 130,
    }
    return row | kw


def _ae(aid: str, **kw: Any) -> dict:
    row = {
        "ae_id": aid,
        "patient_key": "P1",
        "clinic_id": "C1",
        "session_id": "S3",
        "onset_at": datetime(2026, 3, 10, 11, 0),
        "category": "hypertension",
        "severity_grade": 1,
        "serious": False,
        "action_taken": "monitored",
        "outcome": "resolved",
        "description": "BP rose during infusion",
    }
    return row | kw


def rows(a1: dict | None = None, a2: dict | None = None) -> dict:
    return {
        "clinics": [
            {
                "clinic_id": "C1",
                "clinic_name": "Harbor",
                "region": "North",
                "opened_on": date(2020, 1, 1),
                "chairs": 3,
            }
        ],
        "patients": [
            {
                "patient_key": "P1",
                "home_clinic_id": "C1",
                "sex": "F",
                "age_band": "35-44",
                "primary_condition": "depression",
                "enrolled_on": date(2026, 1, 1),
            }
        ],
        "sessions": [
            _session("S1", "2026-03-01", bp_sys_max=190),
            _session("S2", "2026-03-05", dose_mg=105.0, dose_mg_per_kg=1.5),
            _session("S3", "2026-03-10"),
        ],
        "adverse_events": [
            _ae("A1", **({"serious": True, "severity_grade": 3} | (a1 or {}))),
            _ae("A2", **({"severity_grade": 3} | (a2 or {}))),
            _ae("A3"),
        ],
    }


def _items(conn) -> dict[tuple[str, str], tuple]:
    return {
        (r[0], r[1]): tuple(r[2:])
        for r in conn.execute("SELECT kind, subject, severity, status, source_state, clinic_id FROM items")
    }


def test_items_are_raised_for_what_the_database_flags(tmp_path: Path, make_db: Callable) -> None:
    db = make_db(rows())
    path = tmp_path / "r.sqlite"
    assert items.sync_if_stale(path, db, now=NOW) is not None
    with store.connect(path) as conn:
        assert _items(conn) == {
            ("adverse_event", "A1"): ("serious", "open", "flagged", "C1"),
            ("adverse_event", "A2"): ("grade3", "open", "flagged", "C1"),
            ("excursion_without_ae", "S1"): ("excursion", "open", "flagged", "C1"),
            ("protocol_deviation", "S2"): ("deviation", "open", "flagged", "C1"),
        }
        # due dates count from the sync (11 March): serious 7 days, grade 3 / excursion 14, deviation 30
        due = dict(conn.execute("SELECT subject, due_on FROM items").fetchall())
        assert due == {"A1": "2026-03-18", "A2": "2026-03-25", "S1": "2026-03-25", "S2": "2026-04-10"}
    assert items.sync_if_stale(path, db, now=NOW) is None  # same file: nothing to do


def test_a_reviewed_item_survives_a_refresh_that_corrects_its_source(
    tmp_path: Path, make_db: Callable
) -> None:
    db = tmp_path / "ketaops.duckdb"
    os.replace(make_db(rows()), db)
    path = tmp_path / "ketaops.reviews.sqlite"
    items.sync_if_stale(path, db, now=NOW)
    with store.connect(path) as conn:
        a1 = int(conn.execute("SELECT item_id FROM items WHERE subject = 'A1'").fetchone()[0])
        workflow.transition(conn, a1, "in_review", ALICE, 1, note="Checked the chart.")
    # the clinic corrects A1's outcome and A2's grade; the refresh publishes a new file over the old one
    os.replace(make_db(rows(a1={"outcome": "not_resolved"}, a2={"severity_grade": 2})), db)
    result = items.sync_if_stale(path, db, now=NOW)
    assert result is not None and (result.raised, result.changed) == (0, 2)
    with store.connect(path) as conn:
        got = listing.get_item(conn, a1, clinic_ids=("C1",), today=date(2026, 3, 12))
        assert got is not None
        item, history = got
        assert (item.status, item.assignee, item.data_changed) == ("in_review", ALICE.user_id, True)
        assert [h.action for h in history] == ["raised", "change", "change", "note", "source_changed"]
        assert _items(conn)[("adverse_event", "A2")] == ("grade3", "open", "not_flagged", "C1")
        # a reviewer's next action is based on the corrected row: the flag clears
        workflow.add_note(conn, a1, "Seen the correction.", ALICE, item.version)
        again = listing.get_item(conn, a1, clinic_ids=("C1",), today=date(2026, 3, 12))
        assert again is not None and not again[0].data_changed


@pytest.mark.slow
def test_a_refresh_never_touches_the_store(tmp_path: Path) -> None:
    exports, db = tmp_path / "exports", tmp_path / "ketaops.duckdb"
    common = ["--clinics", "1", "--years", "0.2", "--end", "2026-03-10"]
    assert main(["demo-data", "--out", str(exports), *common]) == 0
    assert main(["refresh", "--exports", str(exports), "--db", str(db)]) == 0
    assert main(["reviews", "sync", "--db", str(db)]) == 0
    path = tmp_path / "ketaops.reviews.sqlite"
    before = path.read_bytes()
    assert main(["demo-data", "--out", str(exports), *common[:-1], "2026-03-11"]) == 0
    assert main(["refresh", "--exports", str(exports), "--db", str(db)]) == 0
    assert path.read_bytes() == before
