"""Empty states: say what is missing and what to do, never show a traceback.

When filters empty a view, the empty state names the filters that did it: each filter set
away from its default is left out in turn (``FilterState.without``) and the sessions the
rest select are counted (``queries.scheduled_session_count``: scoped to the viewer and
cached like every read). A filter whose removal alone brings sessions back is named with
that count and a button that clears just it (one history entry, like Clear all filters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dashboard import queries
from dashboard.components import url_state
from dashboard.components.filters import DEFAULT_PERIOD, PARAMS, PERIODS, FilterState
from dashboard.components.safe_text import md
from dashboard.metrics.filters import Filters

# How the text names each sidebar filter (by its URL parameter).
FILTER_NAMES = {
    "period": "the period",
    "region": "the region filter",
    "clinics": "the clinic filter",
    "condition": "the condition filter",
    "route": "the route filter",
    "modality": "the modality filter",
}
# The URL parameters a filter's Clear button resets (a custom period keeps its range in ``range``).
CLEARS = {"period": ("period", "range")}
# The filters that narrow one clinic's view (the Clinic page shows the clinic whatever the
# region and clinic pickers hold).
CLINIC_FILTERS = ("period", "condition", "route", "modality")


@dataclass(frozen=True)
class Culprit:
    """A filter that alone leaves no sessions: ``without`` is the count once it is cleared."""

    param: str
    value: str  # the filter's value as the sidebar shows it
    without: int

    @property
    def name(self) -> str:
        return f"{FILTER_NAMES[self.param]} ({self.value})"


Count = Callable[[Filters], int]


def culprits(
    state: FilterState,
    f: Filters | None = None,
    params: Sequence[str] | None = None,
    count: Count | None = None,
) -> tuple[list[Culprit], dict[str, str]]:
    """(the filters whose removal alone brings rows back, every filter set away from its default).

    ``f``: the filters of the emptied view (default: the sidebar's); ``params``: the filters that
    apply to it (default: all); ``count``: the rows a filter selects, through the query layer
    (default: the sessions, ``queries.scheduled_session_count``).
    """
    counted = queries.scheduled_session_count if count is None else count
    set_filters = {p: v for p, v in state.set_filters().items() if params is None or p in params}
    found = []
    for param, value in set_filters.items():
        n = counted(state.without(param, f))
        if n:
            found.append(Culprit(param, value, n))
    return found, set_filters


def no_database(path: Path) -> None:
    st.title("KetaOps")
    st.info(
        f"**No database yet** at `{path}`.\n\n"
        "Create one from clinic exports (or from demo data), then reload this page:",
        icon=":material/database:",
    )
    st.code(
        "ketaops demo-data --out data/exports          # demo exports; skip with real ones\n"
        f"ketaops refresh --exports data/exports --db {path}",
        language="bash",
    )
    st.caption("To open another database: `ketaops serve --db PATH` (or set `KETAOPS_DB`).")


def no_sessions() -> None:
    st.info(
        "**The database has no sessions yet.** The last refresh loaded no session rows: "
        "check that the exports folder holds `sessions*.csv` or `.parquet` files, "
        "run `ketaops refresh` again, and see the **Data** page for rejected rows and refresh errors.",
        icon=":material/inbox:",
    )


def no_match(state: FilterState | None = None) -> None:
    """The page's filters select no sessions: name the filters that emptied it, each with a Clear button."""
    if state is None:
        st.info(
            "**Nothing matches these filters.** Widen the period, or clear the region, clinic, "
            "condition, route or modality filters in the sidebar.",
            icon=":material/filter_alt_off:",
        )
    else:
        found, set_filters = culprits(state)
        st.info(
            "**No sessions match these filters.** " + explanation(found, set_filters, "in your clinics"),
            icon=":material/filter_alt_off:",
        )
        clear_buttons(found, "empty")
    st.button("Clear all filters", on_click=clear_filters, key="clear_filters_empty")


def explanation(
    found: Sequence[Culprit], set_filters: dict[str, str], where: str, what: str | None = "sessions"
) -> str:
    """Which filters emptied the view, in words (every value escaped: clinic names come from exports).

    ``what`` names what the counts count; None when the count is not a number of something a
    reader would recognise (rows of a breakdown): the text then says only that data comes back.
    """
    if found:
        return " ".join(_culprit_text(c, what) for c in found) + (
            " Clear one of them below." if len(found) > 1 else ""
        )
    if set_filters:
        named = ", ".join(md(f"{FILTER_NAMES[p]} ({v})") for p, v in set_filters.items())
        return (
            f"No single filter empties it: clearing any one of {named} still leaves none. "
            "Clear several, or all of them."
        )
    default = PERIODS[DEFAULT_PERIOD].lower()
    return f"There are no {what or 'data'} {where} in the {default}: pick a longer period."


def _culprit_text(c: Culprit, what: str | None) -> str:
    name = md(c.name[:1].upper() + c.name[1:])
    default = PERIODS[DEFAULT_PERIOD].lower()
    if what is None:
        if c.param == "period":
            return f"{name} holds none; the {default} have data."
        return f"{name} leaves none in this period; without it there is data."
    rows = f"{c.without:,} {what if c.without != 1 else what.removesuffix('s')}"
    if c.param == "period":
        return f"{name} holds none; in the {default} there are {rows}."
    return f"{name} leaves none in this period; without it there are {rows}."


def clear_buttons(found: Sequence[Culprit], where: str) -> None:
    """One button per culprit, clearing that filter alone."""
    for c in found:
        st.button(
            f"Clear {FILTER_NAMES[c.param]}",
            on_click=clear_filter,
            args=(c.param,),
            key=f"clear_{c.param}_{where}",
            icon=":material/filter_alt_off:",
        )


def no_data(
    what: str,
    state: FilterState | None = None,
    count: Count | None = None,
    key: str = "",
    *,
    numbered: bool = True,
) -> bool:
    """A single figure without data (the rest of the page still shows).

    With the page's filter ``state`` and the figure's ``count`` (its rows under given filters, through
    the query layer), a filter that alone empties the figure is named, with a button clearing it;
    ``key`` keeps those buttons apart from other figures' on the page; ``numbered=False`` when
    ``count`` counts rows of a breakdown rather than ``what``. True when a filter was named.
    """
    found = culprits(state, count=count)[0] if state is not None and count is not None else []
    if not found:
        st.caption(f"No {what} in this period and scope.")
        return False
    st.caption(
        f"No {what} in this period and scope. " + explanation(found, {}, "", what if numbered else None)
    )
    clear_buttons(found, key or "figure")
    return True


def clinic_without_sessions(
    name: str, newest: object | None, state: FilterState | None = None, f: Filters | None = None
) -> None:
    """The picked clinic has no sessions under ``f`` (its filters): name the filters that emptied it."""
    since = f" Its newest data is from {md(newest)}." if newest else " No data has ever been loaded for it."
    found, set_filters = culprits(state, f, CLINIC_FILTERS) if state is not None else ([], {})
    if found or set_filters:
        what = explanation(found, set_filters, "at this clinic")
    else:
        what = "Pick a longer period, another clinic, or check its exports on the **Data** page."
    which = "matching these filters" if set_filters else "in this period"
    st.info(
        f"**{md(name)} has no sessions {which}.**{since} {what}",
        icon=":material/event_busy:",
    )
    clear_buttons(found, "clinic")


def clear_filter(param: str) -> None:
    """Reset one shared filter to its default (one change of the URL, one history entry)."""
    url_state.reset(CLEARS.get(param, (param,)))


def clear_filters() -> None:
    """Reset every shared filter to its default: one change of the URL, one history entry."""
    url_state.reset(PARAMS)
