"""The access file in force follows edits; a broken edit keeps the last good one and reports why."""

from __future__ import annotations

import os

from dashboard.access.reload import AccessWatcher

REGIONS = {"C1": "North", "C2": "South"}
ENTRY = '[[user]]\nemail = "a@n.example"\nrole = "{role}"\nscope = "{scope}"\n'


def _write(path, text, tick):
    path.write_text(text)
    os.utime(path, ns=(tick * 10**9, tick * 10**9))  # a distinct mtime even within one clock tick


def test_an_edit_applies_and_a_broken_edit_keeps_the_last_good_file(tmp_path):
    path = tmp_path / "access.toml"
    _write(path, ENTRY.format(role="director", scope="clinic:C1"), 1)
    watcher = AccessWatcher(path)
    state = watcher.current(REGIONS)
    assert state.error is None and state.access.entries[0].scope.label == "clinic:C1"

    _write(path, ENTRY.format(role="quality", scope="network"), 2)
    state = watcher.current(REGIONS)
    assert state.error is None and state.access.entries[0].role == "quality"

    _write(path, ENTRY.format(role="boss", scope="network"), 3)
    state = watcher.current(REGIONS)
    assert state.access.entries[0].role == "quality"  # the last good file stays in force
    assert state.error.line == 3 and "unknown role 'boss'" in state.error.reason

    _write(path, ENTRY.format(role="ops", scope="clinic:C2"), 4)
    state = watcher.current(REGIONS)
    assert state.error is None and state.access.entries[0].role == "ops"


def test_a_file_never_good_gives_nobody_access(tmp_path):
    path = tmp_path / "access.toml"
    _write(path, ENTRY.format(role="director", scope="clinic:C9"), 1)
    state = AccessWatcher(path).current(REGIONS)
    assert state.access is None and "no clinic 'C9'" in state.error.reason


def test_a_clinic_removed_from_the_database_refuses_the_file_again(tmp_path):
    path = tmp_path / "access.toml"
    _write(path, ENTRY.format(role="director", scope="clinic:C2"), 1)
    watcher = AccessWatcher(path)
    assert watcher.current(REGIONS).error is None
    assert "no clinic 'C2'" in watcher.current({"C1": "North"}).error.reason
