"""What every page starts from: the header banner, the shared filters and the page context.

``app.py`` calls ``setup()`` once per run before the selected page runs; the
page then calls ``context()`` (and ``require_sessions()`` when it needs
session data). Keeping this here means pages only lay out figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn

import streamlit as st

from dashboard import data_version, queries
from dashboard.components import empty, figure_context
from dashboard.components.filters import FilterState, network_clinics, sidebar_filters
from dashboard.components.gate import ensure_viewer
from dashboard.components.safe_text import md
from dashboard.db import db_path
from dashboard.metrics.filters import Filters
from pipelines.model.config import MetricConfig

_CTX = "_ketaops_page_context"
IN_APP = "_ketaops_in_app"  # set by app.py: a page runs inside it (and PageStopped is caught there)


class PageStopped(Exception):
    """Raised by ``stop_page``; ``app.py`` catches it and writes the URL as after any run."""


def stop_page() -> NoReturn:
    """End the page here, keeping what it showed (an empty state).

    After ``st.stop()`` Streamlit refuses every command, ``url_state.commit``'s too, so a stopped
    run could not write the URL and a Clear button in an empty state changed nothing. Inside
    ``app.py`` the page raises ``PageStopped`` instead; a page file run on its own stops as before.
    """
    if st.session_state.get(IN_APP):
        raise PageStopped
    st.stop()


@dataclass(frozen=True)
class PageContext:
    cfg: MetricConfig
    as_of: dict[str, Any]  # operations.data_as_of(): newest_data_date, last_refresh_at, …
    state: FilterState | None  # None when the database has no sessions yet

    @property
    def filters(self) -> Filters:
        assert self.state is not None, "call require_sessions() first"
        return self.state.filters


_UNPINNED: Any = object()


def setup(filters: bool = True, pin: data_version.Pinned | None = _UNPINNED) -> PageContext | None:
    """Header + sidebar filters for this run; None (after showing why) when there is no database.

    ``filters=False`` for a page the filters do not apply to: the sidebar shows none (their
    values are kept for the next page, ``url_state``) and the context has no filter state.
    ``pin``: the version ``app.py`` pinned at the start of the run (before the gate's reads);
    a page script run on its own pins here.
    """
    st.session_state.pop(_CTX, None)
    figure_context.use(None)
    if pin is _UNPINNED:
        pin = data_version.pin_run()  # one version for every read of this run, the gate's too
    if ensure_viewer() is None:  # a page run without the app's sign-in gate, with sign-in configured
        st.stop()
    if pin is None or not queries.database_exists():
        empty.no_database(db_path())
        return None
    cfg = queries.metric_config()
    as_of = queries.data_as_of(date.today(), cfg.stale_days)
    freshness_banner(as_of, cfg.stale_days, pin.number)
    state = None
    first, last = (queries.first_session_date(), queries.data_last_date()) if filters else (None, None)
    if first is not None and last is not None:
        state = sidebar_filters(last_date=last, first_date=first)
        st.sidebar.button("Clear all filters", on_click=empty.clear_filters, key="clear_filters_sidebar")
    ctx = PageContext(cfg=cfg, as_of=as_of, state=state)
    st.session_state[_CTX] = ctx
    # every chart of the run says what it shows, on screen and in a saved image (``show_figure``)
    data_date = as_of.get("newest_data_date") or (state.last_date if state is not None else None)
    figure_context.use(figure_context.for_run(state, data_date, len(network_clinics()) if state else 0))
    return ctx


def context() -> PageContext:
    """The context ``app.py`` set up in this run (pages call this first)."""
    ctx = st.session_state.get(_CTX)
    if ctx is None:
        ctx = setup()  # a page script run on its own (e.g. a test of a single page file)
        if ctx is None:
            st.stop()
    return ctx


def require_sessions(ctx: PageContext) -> Filters:
    """The filters, or stop the page with the right empty state (no sessions at all / none in scope)."""
    if ctx.state is None:
        empty.no_sessions()
        stop_page()
    if not ctx.state.filters.clinic_ids:
        empty.no_match(ctx.state)
        stop_page()
    return ctx.state.filters


def freshness_banner(as_of: dict[str, Any], stale_days: int, version: int | None = None) -> None:
    """'Data as of … · last refresh … · version N', and a warning for a failed refresh or stale clinics.

    The version tells viewers (and the load benchmark) which publish every figure comes from.
    """
    newest = as_of.get("newest_data_date")
    refreshed = as_of.get("last_refresh_at")
    status = as_of.get("last_refresh_status")
    parts = [f"Data as of **{_day(newest)}**" if newest else "No data loaded yet"]
    parts.append(f"last refresh {_time(refreshed)}" if refreshed else "never refreshed")
    if version is not None:
        parts.append(f"version {version}")
    st.caption(
        " · ".join(parts),
        help="Newest date in the loaded data, when the last refresh ran, and which publish of the database "
        "every figure on this page comes from.",
    )
    if status == "failed":
        good = as_of.get("last_success_at")
        since = f" (from the refresh of {_time(good)})" if good else ""
        st.warning(
            f"**The last refresh failed**: {md(as_of.get('last_refresh_message') or 'no message')}. "
            f"The figures below are from the last successful one{since}. See the Data page.",
            icon=":material/sync_problem:",
        )
    stale = list(as_of.get("stale_clinic_ids") or [])
    if stale:
        st.warning(
            f"**Stale data:** no new data for more than {stale_days} days from {_stale_who(stale)}. "
            "Their recent figures may be incomplete (see the Data page).",
            icon=":material/schedule:",
        )


STALE_NAMED = 5  # beyond this many, the banner counts clinics instead of listing them


def _stale_who(stale: list[str]) -> str:
    """The stale clinics by name, or a count when a list would fill the screen (200 clinics)."""
    names = dict(queries.clinics().select("clinic_id", "clinic_name").iter_rows())
    named = [f"{md(names.get(c, c))} ({md(c)})" for c in stale[:STALE_NAMED]]
    if len(stale) <= STALE_NAMED:
        return ", ".join(named)
    return f"{len(stale)} of {len(names)} clinics, e.g. {', '.join(named[:3])}"


def _day(d: date | datetime) -> str:
    return f"{d:%d %b %Y}"


def _time(t: datetime | str) -> str:
    return f"{t:%d %b %Y %H:%M}" if isinstance(t, datetime) else str(t)
