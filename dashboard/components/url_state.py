"""The view state in the URL, written once per run: one browser-history entry per user action.

Streamlit's own binding (``bind="query-params"``) replaces the history entry when the
user changes a widget (Back leaves the app) and pushes one entry per widget a callback
resets (Clear all filters pushed five). Here every control that changes what is shown
claims its URL parameter before it is drawn (``choice``, ``choices``, ``flag``, ``text``,
``dates``, ``typed_dates``: each returns the widget's ``key``), and ``commit()`` writes the whole query
string once at the end of the run. Setting ``st.query_params`` from Python pushes one
history entry, so each user action adds exactly one, and Back/Forward walk the states
the user chose.

Which side wins: when the URL differs from what the previous run wrote (first load, a
shared link, Back/Forward), the URL sets the widgets; otherwise the widgets set the URL.
A control not drawn in a run (another page's, a tab not open, the filters on the Data
page) keeps its parameter and its value, and takes them up again when it is drawn. The
sidebar's page links carry the query string ``commit`` returns (``sidebar_nav``), so a page
switch is one history entry too. Defaults are left out of the URL.
Values in the URL are untrusted: an unknown value falls back to the default, and the run that
read it says once which values it ignored (``ignored_notice``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import streamlit as st

from dashboard.data_version import URL_PARAM as VERSION_PARAM

_LAST = "_url_last_written"  # what the previous run wrote: a _Written
_RUN = "_url_run"  # this run's claims
_RAW = object()  # a held parameter not decoded yet
_HELD = "_url_held"  # key -> (value, URL values) of every control claimed so far in the session


@dataclass
class _Claim:
    encode: Callable[[Any], list[str]]
    default: Any
    in_url: bool


@dataclass(frozen=True)
class _Written:
    query: dict[str, list[str]]
    page: str
    page_switch: bool  # written by the first run of a page the user switched to


@dataclass
class _Run:
    external: bool  # the URL changed outside this app's runs: it sets the widgets
    claims: dict[str, _Claim]
    page: str = ""
    page_switch: bool = False
    ignored: dict[str, list[str]] = field(default_factory=dict)  # URL values no control could take


def current_query() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params}


def _view(query: dict[str, list[str]]) -> dict[str, list[str]]:
    """The parameters that say what is shown: the data version (``?v=``, written by the run's
    version pin before anything else) is not a choice of the viewer's."""
    return {k: v for k, v in query.items() if k != VERSION_PARAM}


def begin(page: str = "") -> None:
    """Start a run on ``page``: decide whether the URL (changed from outside) or the widgets lead.

    Streamlit's frontend drops every parameter not bound with ``bind=`` when the user switches
    page, and Back onto the entry it pushed for the switch shows that bare URL again: an empty
    query on a switch (or on its entry) is taken as dropped, not as a request for defaults.
    """
    last: _Written | None = st.session_state.get(_LAST)
    now = _view(current_query())
    switch = last is not None and last.page != page
    if last is None:
        external = True
    elif now == last.query:
        external = False
    else:
        external = bool(now) or not (switch or last.page_switch)
    st.session_state[_RUN] = _Run(external=external, claims={}, page=page, page_switch=switch)
    held = st.session_state.get(_HELD, {})
    if external:  # what the URL now says replaces what controls not drawn held
        held = {k: v for k, v in held.items() if now.get(k) == v[1]}
    # parameters of controls not drawn yet (a reload of the Data page): held as they are, decoded
    # when their control claims them, so a page switch (which drops them) does not lose them
    st.session_state[_HELD] = {**{k: (_RAW, v) for k, v in now.items()}, **held}


def _run() -> _Run:
    run = st.session_state.get(_RUN)
    if run is None:  # a page run without app.py (a test of one page file)
        begin()
        run = st.session_state[_RUN]
    return run


def _claim(
    key: str,
    default: Any,
    decode: Callable[[list[str]], Any],
    encode: Callable[[Any], list[str]],
    in_url: bool,
    earlier: frozenset[str] = frozenset(),
) -> str:
    run = _run()
    run.claims[key] = _Claim(encode, default, in_url)
    held = st.session_state.get(_HELD, {})
    if not run.external and key not in st.session_state and key in held:
        # drawn again after a page without it (Streamlit forgot the widget, the frontend the URL)
        value, raw = held[key]
        decoded = decode(raw) if value is _RAW and raw else value
        st.session_state[key] = default if decoded is None or decoded is _RAW else decoded
    elif run.external or key not in st.session_state:
        raw = st.query_params.get_all(key)
        value = decode(raw) if raw else None
        st.session_state[key] = default if value is None else value
        kept = set(encode(value)) if value is not None else set()
        ignored = [v for v in raw if v not in kept and v not in earlier]
        if ignored:
            run.ignored[key] = ignored
    else:
        # Written back every run: a widget of the same key on another page (``grain`` on
        # Throughput and Clinic) is a new widget, and would otherwise start empty.
        st.session_state[key] = st.session_state[key]
    return key


def choice(
    key: str,
    options: Sequence[Any],
    default: Any,
    fmt: Callable[[Any], str] = str,
    *,
    in_url: bool = True,
) -> str:
    """A single choice (selectbox, segmented control, radio, tabs); the URL holds its label.

    ``default=None``: nothing picked until the viewer picks (a selectbox's placeholder)."""
    by_text = {str(o): o for o in options} | {fmt(o): o for o in options}

    def decode(raw: list[str]) -> Any:
        return by_text.get(raw[-1])

    def encode(value: Any) -> list[str]:
        return [] if value is None else [fmt(value)]

    if default is not None and default not in options:
        default = options[0] if options else None
    held = st.session_state.get(key, default)
    if held is not None and held not in options:  # the options changed (another scope)
        st.session_state.pop(key, None)
    return _claim(key, default, decode, encode, in_url)


def choices(
    key: str,
    options: Sequence[Any],
    fmt: Callable[[Any], str] = str,
    earlier: Mapping[str, Any] | None = None,
) -> str:
    """A multiselect (empty = all); the URL repeats the parameter, one label each.

    ``earlier`` maps labels older links carry to their options (read, never written)."""
    known = {k: v for k, v in (earlier or {}).items() if v in options}
    by_text = known | {str(o): o for o in options} | {fmt(o): o for o in options}

    def decode(raw: list[str]) -> Any:
        picked = [by_text[v] for v in raw if v in by_text]
        return list(dict.fromkeys(picked))

    def encode(value: Any) -> list[str]:
        return [fmt(v) for v in value or []]

    held = st.session_state.get(key)
    if held and any(v not in options for v in held):
        st.session_state[key] = [v for v in held if v in options]
    return _claim(key, [], decode, encode, True, frozenset(known))


def flag(key: str, default: bool = False) -> str:
    """A toggle or checkbox: ``true`` / ``false`` in the URL."""
    return _claim(
        key,
        default,
        lambda raw: {"1": True, "true": True, "0": False, "false": False}.get(raw[-1].lower()),
        lambda value: ["true" if value else "false"],
        True,
    )


def text(key: str, default: str = "", max_len: int = 200) -> str:
    """A text input (a search box); capped so a crafted URL cannot carry a novel."""
    return _claim(key, default, lambda raw: raw[-1][:max_len], lambda value: [value] if value else [], True)


def dates(key: str, default: tuple[date, ...], lo: date, hi: date, *, in_url: bool = True) -> str:
    """A date range (``key=YYYY-MM-DD&key=YYYY-MM-DD``; ``()`` = none picked), clamped to ``lo``–``hi``."""

    def decode(raw: list[str]) -> Any:
        try:
            picked = [min(max(date.fromisoformat(v), lo), hi) for v in raw[:2]]
        except ValueError:
            return None
        return tuple(sorted(picked)) if picked else None

    def encode(value: Any) -> list[str]:
        values = value if isinstance(value, (tuple, list)) else [value]
        return [v.isoformat() for v in values if v is not None]

    return _claim(key, default, decode, encode, in_url)


def typed_dates(
    key: str,
    default: tuple[date, date],
    lo: date,
    hi: date,
    parse: Callable[[str], tuple[date, date]],
    *,
    in_url: bool = True,
) -> str:
    """A date range typed as text (``2026-10-01 – 2026-10-31``, ``parse`` reads it or raises
    ``ValueError``); the URL holds the two days as ``dates`` does. Text that does not parse keeps the
    URL's last range, so a typo never empties the link."""

    def decode(raw: list[str]) -> Any:
        try:
            picked = sorted(min(max(date.fromisoformat(v), lo), hi) for v in raw[:2])
        except ValueError:
            return None
        return " – ".join(d.isoformat() for d in picked) if picked else None

    def encode(value: Any) -> list[str]:
        try:
            first, last = parse(str(value))
        except ValueError:
            return last_written(key)
        return [first.isoformat(), last.isoformat()]

    return _claim(key, decode([d.isoformat() for d in default]), decode, encode, in_url)


def last_written(key: str) -> list[str]:
    """The URL values the last committed run held for ``key`` (``[]``: none, or its default)."""
    held = st.session_state.get(_HELD, {}).get(key)
    return list(held[1]) if held else []


def reset(keys: Sequence[str]) -> None:
    """Put controls back to their defaults (a 'clear' button's callback; one history entry)."""
    run = _run()
    for key in keys:
        claim = run.claims.get(key)
        if claim is not None:
            st.session_state[key] = claim.default
        else:
            st.session_state.pop(key, None)


def wanted_query() -> dict[str, list[str]]:
    """The query string this run's controls ask for; parameters of controls not drawn stay."""
    run = _run()
    query = {k: v for k, v in current_query().items() if k not in run.claims}
    for key, (_, encoded) in st.session_state.get(_HELD, {}).items():
        if key not in run.claims and key not in query and encoded:
            query[key] = encoded  # a control not drawn here keeps its place in the URL
    for key, claim in run.claims.items():
        value = st.session_state.get(key, claim.default)
        if claim.in_url and value != claim.default:
            encoded = claim.encode(value)
            if encoded:
                query[key] = encoded
    return query


def ignored_notice() -> str | None:
    """What this run ignored of the URL (unknown clinic, malformed date, unknown choice), as text
    to show once; None when it took every value. The values are the URL's own: shown escaped."""
    from dashboard.components.safe_text import md

    ignored = _run().ignored
    if not ignored:
        return None
    parts = [
        f"{md(key)} = {', '.join(md(v[:40]) for v in values)}" for key, values in sorted(ignored.items())
    ]
    return "Ignored from the link (not a value this page knows): " + "; ".join(parts) + "."


def commit() -> dict[str, list[str]]:
    """Write the query string once (one history entry) if this run changed it; returns it."""
    wanted = wanted_query()
    if wanted != current_query():
        st.query_params.from_dict(wanted)
    notice = ignored_notice()
    if notice:
        st.toast(notice, icon=":material/link_off:")
    run = _run()
    st.session_state[_LAST] = _Written(_view(wanted), run.page, run.page_switch)
    held = dict(st.session_state.get(_HELD, {}))
    for key, claim in run.claims.items():
        held[key] = (st.session_state.get(key, claim.default), wanted.get(key, []))
    st.session_state[_HELD] = held
    return wanted
