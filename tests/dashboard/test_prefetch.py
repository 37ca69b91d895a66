"""``queries.prefetch``: a page's reads started at once, their results handed to the page's own calls."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import streamlit as st

from dashboard import queries


def _barrier_reads(parties: int) -> tuple[object, Counter[int]]:
    """A cached read per index that waits until ``parties`` reads run at once (or fails after 5 s)."""
    barrier = threading.Barrier(parties, timeout=5)
    computed: Counter[int] = Counter()

    @st.cache_data(show_spinner=False)
    def read(i: int) -> tuple[int, str]:
        computed[i] += 1
        barrier.wait()
        return i, threading.current_thread().name

    return read, computed


def test_reads_run_at_once_and_the_pages_own_calls_get_their_results() -> None:
    read, computed = _barrier_reads(queries.PREFETCH_THREADS)
    reads = range(queries.PREFETCH_THREADS)
    queries.prefetch(*(lambda i=i: read(i) for i in reads))
    # the page's own calls: each waits for (or finds) the result the prefetch computed
    assert [read(i) for i in reads] == [(i, queries.PREFETCH_THREAD_NAME) for i in reads]
    assert computed == Counter(dict.fromkeys(reads, 1))  # computed once each, not again by the page


def test_more_reads_than_threads_all_run_and_none_twice() -> None:
    computed: Counter[int] = Counter()

    @st.cache_data(show_spinner=False)
    def read(i: int) -> int:
        computed[i] += 1
        return i * i

    queries.prefetch(*(lambda i=i: read(i) for i in range(10)))
    assert [read(i) for i in range(10)] == [i * i for i in range(10)]
    assert computed == Counter(dict.fromkeys(range(10), 1))


def test_a_failing_read_is_raised_by_the_pages_own_call_not_by_the_thread(monkeypatch) -> None:
    unhandled: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: unhandled.append(args.exc_value))
    started = threading.Event()

    @st.cache_data(show_spinner=False)
    def broken() -> None:
        started.set()
        raise ValueError("no such clinic")

    queries.prefetch(broken)
    assert started.wait(5)
    with pytest.raises(ValueError, match="no such clinic"):
        broken()
    for thread in threading.enumerate():
        if thread.name == queries.PREFETCH_THREAD_NAME:
            thread.join(5)
    assert unhandled == []


# Reads a page makes without reading them ahead: the header's (every page) and those that wait
# for an earlier result (the Clinic page's default clinic comes from ``throughput_by_clinic``;
# the Throughput page's p-chart opens on the clinic its signals flag).
NOT_AHEAD = {
    "overview": set(),
    "throughput": {queries.no_show_pchart},
    "clinic": {queries.throughput_by_clinic},
}
HEADER = {queries.data_last_date, queries.data_as_of, queries.clinic_freshness, queries.refresh_history}


@pytest.mark.parametrize("page", sorted(NOT_AHEAD))
def test_a_page_reads_ahead_what_it_reads_and_nothing_else(demo_like_db, page, monkeypatch) -> None:
    """A read ahead that the page does not make is wasted work; a read the page makes that is
    not read ahead waits its turn (and the benchmark replays the page as it reads)."""
    from bench.pages import capture_calls

    monkeypatch.setenv("KETAOPS_DB", str(demo_like_db))  # capture_calls sets it; restored after
    steps, _ = capture_calls(demo_like_db, page)
    ahead = {c for s in steps if s.prefetch for c in s.calls}
    own = {c for s in steps if not s.prefetch for c in s.calls}
    assert ahead and ahead <= own
    assert {c.query for c in own - ahead} <= NOT_AHEAD[page] | HEADER
