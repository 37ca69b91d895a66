"""The access file in force: re-read when it changes, the last good version kept on a broken edit.

``AccessWatcher.current`` is called on every rerun; it costs a ``stat`` unless the file (its
modification time or size) or the clinics it is checked against changed. A file refused at
start stops ``ketaops serve``; one broken later leaves the last good file in force and reports
the error (on the Data page and in the server log) until it is fixed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dashboard.access.access_file import AccessFile, AccessFileError, load_access

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessState:
    access: AccessFile | None  # None: no good version was ever read (nobody has access)
    error: AccessFileError | None  # the current file's problem, if it is refused


class AccessWatcher:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, tuple[tuple[str, str | None], ...]] | None = None
        self._good: AccessFile | None = None
        self._error: AccessFileError | None = None

    def current(self, region_of: Mapping[str, str | None]) -> AccessState:
        """The file in force for these clinics (clinic id → region), re-read if anything changed."""
        try:
            st = self.path.stat()
            file_stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            file_stamp = (-1, -1)
        stamp = (*file_stamp, tuple(sorted(region_of.items())))
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._good = load_access(self.path, region_of)
                    self._error = None
                except AccessFileError as exc:
                    self._error = exc
                    kept = "the last good version stays in force" if self._good else "nobody has access"
                    _log.error("access file refused: %s; %s", exc, kept)
            return AccessState(self._good, self._error)
