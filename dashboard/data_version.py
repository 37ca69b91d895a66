"""Which published version a page run reads: one per run, never older than the viewer saw.

Every publish is an immutable file ``<stem>.v<N><suffix>`` named by the published path, a
symlink (``pipelines/versions.py``). A page run reads one version from start to end: ``pin_run``
(called by ``app.py`` before any read, the sign-in gate's included) resolves it once and every
cached read of the run, prefetch threads included, is keyed on that version and reads that file
(``queries.cache.version_key``). So a publish during a run never mixes two versions on one page.

Between runs a viewer only moves forward. The version a viewer last saw is a *floor*, kept in the
session and in the page URL (``?v=N``): the next run reads the newer of the floor and the version
the published path names now. A replica whose pointer lags (a file-synced copy of the folder) and
that receives a viewer who saw N+1 elsewhere (after a fail-over, the browser reconnects with its
URL) reads N+1's file if it has it, or waits for it (``KETAOPS_VERSION_WAIT_SECONDS``, default 20)
and then shows a notice instead of older data. A bookmark with an old ``v`` is only a floor: it
never takes a viewer back.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard.db import db_path, db_version
from pipelines import versions

SESSION_KEY = "_ketaops_data_version"
URL_PARAM = "v"
DEFAULT_WAIT_SECONDS = 20.0
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Pinned:
    """The version a run reads: ``version`` keys the caches, ``path`` is the file read."""

    version: str
    path: Path
    number: int | None  # None for a database published before versions (a regular file)


class NotHereYet(LookupError):
    """The viewer saw a version this server's folder does not hold yet."""

    def __init__(self, number: int) -> None:
        super().__init__(f"version {number} is not on this server yet")
        self.number = number


def resolve(db: Path, floor: int | None = None) -> Pinned | None:
    """The version to read now: the pointer's, or ``floor`` if that is newer; None without a database.

    Raises ``NotHereYet`` when ``floor`` is newer than every version this folder can serve.
    """
    current = versions.current(db)
    if current is None:  # no database, or one published before versions: read the path itself
        version = db_version(db)
        if version is None:
            if floor is not None:
                raise NotHereYet(floor)
            return None
        return Pinned(version, db, None)
    number = max(current, floor or 0)
    path = versions.version_path(db, number)
    if number != current and not path.exists():
        raise NotHereYet(number)
    return Pinned(f"v{number}", path, number)


def pinned() -> Pinned | None:
    """The version this page run pinned; None outside a page run (tools, the benchmark)."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    pin = st.session_state.get(SESSION_KEY)
    return pin if isinstance(pin, Pinned) else None


def pin_run(wait_seconds: float | None = None) -> Pinned | None:
    """Resolve this run's version (see the module docstring) and remember it as the viewer's floor.

    None when there is no database. Stops the run with a notice when the viewer's version has
    not reached this server within the wait.
    """
    db = db_path()
    floor = _floor()
    wait = _wait_seconds() if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    while True:
        try:
            pin = resolve(db, floor)
            break
        except NotHereYet as missing:
            if time.monotonic() >= deadline:
                st.info(
                    f"This server has not received data version {missing.number} yet, which you "
                    "have already seen. Reload the page in a minute.",
                    icon=":material/sync:",
                )
                st.stop()
            time.sleep(POLL_SECONDS)
    if pin is None:
        st.session_state.pop(SESSION_KEY, None)
        return None
    st.session_state[SESSION_KEY] = pin
    if pin.number is not None and st.query_params.get(URL_PARAM) != str(pin.number):
        st.query_params[URL_PARAM] = str(pin.number)
    return pin


def _floor() -> int | None:
    seen = []
    pin = st.session_state.get(SESSION_KEY)
    if isinstance(pin, Pinned) and pin.number is not None:
        seen.append(pin.number)
    text = st.query_params.get(URL_PARAM)
    if text is not None and text.isdigit() and len(text) < 12:  # untrusted: digits only, bounded
        seen.append(int(text))
    return max(seen, default=None)


def _wait_seconds() -> float:
    text = os.environ.get("KETAOPS_VERSION_WAIT_SECONDS")
    return float(text) if text else DEFAULT_WAIT_SECONDS
