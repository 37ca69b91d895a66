"""The sign-in gate every run passes before any page: who is signed in, and what they may see.

With ``[auth]`` in Streamlit's secrets: not signed in → the sign-in page only; signed in but in
no access-file entry → a polite "no access" page only (audited). Without ``[auth]`` the local
demo runs as the network with every role and says so in the sidebar (``ketaops serve`` allows
that on a loopback address only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from dashboard import queries
from dashboard.access import recorder
from dashboard.access.current import SESSION_KEY, set_session_viewer
from dashboard.access.reload import AccessState, AccessWatcher
from dashboard.access.scope import ScopeError
from dashboard.access.viewer import Viewer, demo_viewer, identity, viewer_for
from dashboard.db import db_path

ACCESS_ENV = "KETAOPS_ACCESS"
DEMO_NOTICE = "demo mode, no sign-in"
_SIGNED_IN = "_ketaops_signed_in_as"
_REFUSED = "_ketaops_refused"


def auth_configured() -> bool:
    """Whether Streamlit's secrets have an ``[auth]`` section (sign-in through the identity provider)."""
    try:
        return "auth" in st.secrets
    except (StreamlitSecretNotFoundError, FileNotFoundError):
        return False


def access_path() -> Path:
    """``$KETAOPS_ACCESS`` (``ketaops serve --access``), else ``access.toml`` beside the database."""
    given = os.environ.get(ACCESS_ENV)
    return Path(given) if given else db_path().parent / "access.toml"


@st.cache_resource(show_spinner=False, max_entries=4)  # one per access file: a process has one
def _watcher(path: str) -> AccessWatcher:
    return AccessWatcher(Path(path))


def access_state() -> AccessState:
    """The access file in force (re-read when it changed) and its current error, if refused."""
    return _watcher(str(access_path())).current(_regions())


def _regions() -> Mapping[str, str | None]:
    return queries.clinic_regions() if queries.database_exists() else {}


def ensure_viewer() -> Viewer | None:
    """The session's viewer; in demo mode (no ``[auth]``) the demo viewer, set up if missing."""
    viewer = st.session_state.get(SESSION_KEY)
    if isinstance(viewer, Viewer):
        return viewer
    if auth_configured():
        return None
    viewer = demo_viewer(_regions())
    set_session_viewer(viewer)
    return viewer


def gate() -> Viewer:
    """The viewer of this run; stops the run on the sign-in or no-access page."""
    if not auth_configured():
        viewer = demo_viewer(_regions())
        set_session_viewer(viewer)
        st.sidebar.caption(f":material/lock_open: {DEMO_NOTICE}")
        return viewer
    st.session_state.pop(SESSION_KEY, None)
    if not st.user.is_logged_in:
        _sign_in_page()
        st.stop()
    claims: dict[str, Any] = dict(st.user.to_dict())
    state = access_state()
    viewer = None
    if state.access is not None:
        try:
            viewer = viewer_for(claims, state.access, _regions())
        except ScopeError:  # the clinics changed under a file that was good: nobody matches it now
            viewer = None
    if viewer is None:
        _no_access_page(claims)
        st.stop()
    set_session_viewer(viewer)
    if st.session_state.get(_SIGNED_IN) != viewer.user:
        st.session_state[_SIGNED_IN] = viewer.user
        recorder.record("sign_in", viewer=viewer, entry_line=viewer.entry_line)
    _signed_in_sidebar(viewer)
    return viewer


def _sign_in_page() -> None:
    st.title("KetaOps")
    st.write("Sign in with your organisation's account to see the clinic network's dashboard.")
    st.button("Sign in", on_click=st.login, icon=":material/login:", type="primary", key="sign_in")


def _no_access_page(claims: Mapping[str, Any]) -> None:
    who = identity(claims)
    if st.session_state.get(_REFUSED) != who:
        st.session_state[_REFUSED] = who
        recorder.record("no_access", viewer=_unknown_viewer(who))
    st.title("No access")
    st.write(
        f"You are signed in as **{who}**, but this dashboard has no access set up for that account. "
        "If you need it, ask your network's operations team to add you."
    )
    st.button("Sign out", on_click=st.logout, icon=":material/logout:", key="sign_out")


def _unknown_viewer(who: str) -> Viewer:
    from dashboard.access.scope import Scope

    return Viewer(who, who, "none", Scope("clinics", ()), ())


def _sign_out(viewer: Viewer) -> None:
    recorder.record("sign_out", viewer=viewer)
    st.session_state.pop(_SIGNED_IN, None)
    st.logout()


def _signed_in_sidebar(viewer: Viewer) -> None:
    sb = st.sidebar
    sb.caption(f":material/person: {viewer.name} · {viewer.role} · {viewer.scope.label}")
    sb.button("Sign out", on_click=_sign_out, args=(viewer,), icon=":material/logout:", key="sign_out")
