"""Cached queries over ``dashboard/metrics/operations.py`` (header, league and Data page).

``data_as_of`` and ``refresh_history`` read the refresh runs recorded beside the file too, so
they are keyed on that log's version as well. ``today`` (the wall clock's) keys the freshness
queries: staleness is about exports that stopped arriving, and a new day re-evaluates it.

A viewer of part of the network sees their clinics' freshness and stale list only, and no
rejected input (its rows carry no trusted clinic: ``dashboard/access/scoped_results.py``).
"""

from __future__ import annotations

from dashboard.access.scoped_results import network_scope_only, stale_clinics_in_scope
from dashboard.metrics import operations
from dashboard.queries.cache import cached_query

data_as_of = cached_query(operations.data_as_of, reads_runs=True, in_scope=stale_clinics_in_scope)
refresh_history = cached_query(operations.refresh_history, reads_runs=True)
clinic_freshness = cached_query(operations.clinic_freshness)
rejected_summary = cached_query(operations.rejected_summary, in_scope=network_scope_only)
rejected_rows = cached_query(operations.rejected_rows, in_scope=network_scope_only)
