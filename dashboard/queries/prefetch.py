"""Reading ahead: a page starts the reads it makes further down at once, on a few threads."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from streamlit.runtime.scriptrunner import (
    RerunException,
    StopException,
    add_script_run_ctx,
    get_script_run_ctx,
)

# Reads a page starts at once (each on a read cursor of its own, dashboard/db.py). A cold page's
# ~12 reads each leave a core partly idle (planning, converting to Polars, Python); three at a
# time beat two and four on the 2-core machine (docs/performance.md).
PREFETCH_THREADS = 3
PREFETCH_THREAD_NAME = "ketaops-prefetch"  # the benchmark tells their reads from the page's by it
_log = logging.getLogger(__name__)


def prefetch(*reads: Callable[[], object]) -> None:
    """Start reads the page makes further down, ``PREFETCH_THREADS`` at a time; return at once.

    Each read is a cached query call (``lambda: queries.ae_rate(f)``). The page then makes the
    same calls in its own order, as without this: ``st.cache_data`` hands over a finished result,
    waits for one being computed (one computation per cache key), or the page computes it if no
    thread has started it yet. So results never differ from reading in order, and a read that
    fails is raised again by the page's own call, where the page shows errors. A warm page finds
    every read cached, here and below. The threads carry the page run's context (Streamlit's
    documented way for threads of a page). A run stopped by a new interaction leaves its queued
    reads to finish (at most one page's reads): they fill the cache for that view.
    """
    queue = deque(reads)  # popleft is atomic: the threads share it without a lock
    ctx = get_script_run_ctx(suppress_warning=True)
    for _ in range(min(PREFETCH_THREADS, len(reads))):
        thread = threading.Thread(target=_read_ahead, args=(queue,), name=PREFETCH_THREAD_NAME, daemon=True)
        if ctx is not None:
            add_script_run_ctx(thread, ctx)
        thread.start()


def _read_ahead(queue: deque[Callable[[], object]]) -> None:
    while queue:
        try:
            read = queue.popleft()
        except IndexError:  # another thread took the last one
            return
        try:
            read()
        except (StopException, RerunException):  # Streamlit stopped this thread (waiting on a cache key)
            return
        except Exception:  # the page's own call raises it again where it is shown
            _log.debug("read ahead failed; the page's own call will report it", exc_info=True)
