"""Two writers in two processes at once: one wins, the other is told; no update is ever lost."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from dashboard.reviews import store, workflow
from dashboard.reviews.workflow import Actor, StaleEdit

pytestmark = pytest.mark.slow
CTX = mp.get_context("spawn")  # fresh interpreters, as two Streamlit servers would be


def _transition_at_once(path: str, who: str, barrier, results) -> None:
    actor = Actor(who, who, "quality")
    with store.connect(Path(path)) as conn:
        (version,) = conn.execute("SELECT version FROM items WHERE subject = 'A1'").fetchone()
        barrier.wait()  # both have read version 1 before either writes
        try:
            workflow.transition(conn, 1, "in_review", actor, version, note=f"taken by {who}")
            results.put((who, "saved"))
        except StaleEdit as exc:
            results.put((who, f"stale {exc.expected}->{exc.current}"))


def _notes_with_retry(path: str, who: str, count: int, barrier) -> None:
    actor = Actor(who, who, "quality")
    with store.connect(Path(path)) as conn:
        barrier.wait()
        for n in range(count):
            while True:
                (version,) = conn.execute("SELECT version FROM items WHERE item_id = 1").fetchone()
                try:
                    workflow.add_note(conn, 1, f"{who} {n}", actor, version)
                    break
                except StaleEdit:
                    continue  # what a person does after the message: reload, write again


def _run(target, args_list) -> None:
    procs = [CTX.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0


def test_two_processes_editing_one_item_one_wins_one_is_told(store_file: Path) -> None:
    barrier, results = CTX.Barrier(2), CTX.Queue()
    _run(_transition_at_once, [(str(store_file), w, barrier, results) for w in ("ann", "ben")])
    outcomes = sorted(results.get(timeout=5)[1] for _ in range(2))
    assert outcomes == ["saved", "stale 1->2"]
    with store.connect(store_file) as conn:
        notes = [r[0] for r in conn.execute("SELECT note FROM history WHERE item_id = 1 AND action = 'note'")]
        (version,) = conn.execute("SELECT version FROM items WHERE item_id = 1").fetchone()
    assert len(notes) == 1 and version == 2


def test_many_concurrent_writers_lose_no_update(store_file: Path) -> None:
    writers, each = 3, 8
    barrier = CTX.Barrier(writers)
    _run(_notes_with_retry, [(str(store_file), f"w{i}", each, barrier) for i in range(writers)])
    with store.connect(store_file) as conn:
        notes = sorted(
            r[0] for r in conn.execute("SELECT note FROM history WHERE item_id = 1 AND action = 'note'")
        )
        (version,) = conn.execute("SELECT version FROM items WHERE item_id = 1").fetchone()
    assert notes == sorted(f"w{i} {n}" for i in range(writers) for n in range(each))
    assert version == 1 + writers * each
