"""``ketaops reviews export`` (JSON, CSV, SQLite backup) and the demo's review seed."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from dashboard.reviews import store, workflow
from dashboard.reviews.seed import apply_seed
from pipelines.cli import main
from pipelines.demo.review_seed import write_review_seed
from tests.dashboard.reviews.test_items import rows

ALICE = workflow.Actor("alice@network.example", "Alice", "quality")


def test_export_writes_items_and_history_in_each_format(store_file: Path, tmp_path: Path, capsys) -> None:
    with store.connect(store_file) as conn:
        workflow.add_note(conn, 1, 'a note, with "quotes"\nand a line break', ALICE, 1)
    args = ["reviews", "export", "--store", str(store_file)]
    assert main([*args, "--out", str(tmp_path / "r.json")]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["schema_version"] == 2
    assert sorted(i["subject"] for i in doc["items"]) == ["A1", "A2", "A3"]
    assert [h["action"] for h in doc["history"]] == ["raised", "raised", "raised", "note"]

    assert main([*args, "--out", str(tmp_path / "r.csv")]) == 0
    with (tmp_path / "r.history.csv").open(newline="") as fh:
        history = list(csv.DictReader(fh))
    assert history[-1]["note"] == 'a note, with "quotes"\nand a line break'
    with (tmp_path / "r.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3

    assert main([*args, "--out", str(tmp_path / "backup.sqlite")]) == 0
    copy = sqlite3.connect(tmp_path / "backup.sqlite")
    assert copy.execute("SELECT count(*) FROM history").fetchone() == (4,)
    copy.close()

    assert main([*args, "--out", str(tmp_path / "r.txt")]) == 1
    assert main(["reviews", "export", "--store", str(tmp_path / "none.sqlite")]) == 1
    assert "no review store" in capsys.readouterr().err


@pytest.mark.parametrize("runs", [1, 2])
def test_the_demo_seed_puts_items_in_review_once(tmp_path: Path, make_db: Callable, runs: int) -> None:
    db = make_db(rows())
    seed = write_review_seed(tmp_path)
    target = tmp_path / "r.sqlite"
    for _ in range(runs):
        apply_seed(seed, db, target)
    with store.connect(target) as conn:
        got = {tuple(r) for r in conn.execute("SELECT subject, status, outcome, assignee FROM items")}
        # the seed: newest 2 serious AEs in review, 1 excursion in review, a signal (none here),
        # then 1 more serious AE closed: the fixture has one serious AE (A1) only
        assert got == {
            ("A1", "in_review", None, "demo"),
            ("A2", "open", None, None),
            ("S1", "in_review", None, "demo"),
            ("S2", "open", None, None),
        }
        actors = {r[0] for r in conn.execute("SELECT actor FROM history WHERE action <> 'raised'")}
        assert actors == {"demo-seed"}


def test_serve_applies_a_demo_seed_found_in_the_exports(
    tmp_path: Path, make_db: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.cli import _apply_demo_review_seed

    monkeypatch.delenv(store.STORE_ENV, raising=False)
    db = make_db(rows())
    _apply_demo_review_seed(tmp_path / "no-exports", db)  # no seed: nothing is created
    assert not store.store_path(db).exists()
    write_review_seed(tmp_path)
    _apply_demo_review_seed(tmp_path, db)
    with store.connect(store.store_path(db)) as conn:
        (in_review,) = conn.execute("SELECT count(*) FROM items WHERE status = 'in_review'").fetchone()
    assert in_review == 2  # A1 and S1, as in the seed test above
