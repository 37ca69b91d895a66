"""Review-store fixtures: a store with hand-made items, and a tiny published database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboard.reviews import store
from dashboard.reviews.config import ReviewConfig
from dashboard.reviews.workflow import Candidate, sync

RAISED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def candidate(subject: str, clinic: str = "C1", severity: str = "serious", **kw: Any) -> Candidate:
    values = {
        "kind": "adverse_event",
        "subject": subject,
        "clinic_id": clinic,
        "occurred_on": date(2026, 2, 27),
        "severity": severity,
        "title": f"AE {subject}",
        "fingerprint": f"fp-{subject}",
    }
    return Candidate(**(values | kw))


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    """A store of three items raised on 1 March 2026: A1 serious (C1), A2 grade 3 (C1), A3 serious (C2)."""
    path = tmp_path / "k.reviews.sqlite"
    with store.connect(path) as conn:
        sync(
            conn,
            [candidate("A1"), candidate("A2", severity="grade3"), candidate("A3", clinic="C2")],
            {},
            (date(2026, 1, 1), date(2026, 2, 28)),
            ReviewConfig(),
            now=RAISED,
        )
    return path


@pytest.fixture
def conn(store_file: Path) -> Iterator[Any]:
    with store.connect(store_file) as c:
        yield c


def item_id(conn: Any, subject: str) -> int:
    return int(conn.execute("SELECT item_id FROM items WHERE subject = ?", (subject,)).fetchone()[0])


def version(conn: Any, subject: str) -> int:
    return int(conn.execute("SELECT version FROM items WHERE subject = ?", (subject,)).fetchone()[0])
