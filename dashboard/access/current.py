"""The viewer of the running page (set by the app's sign-in gate), as the query layer reads it.

In a Streamlit run the viewer lives in the session state, which the page's read-ahead threads
share (they carry the run's context). Outside a run (tests, scripts) a viewer is installed with
``use_viewer``. With neither, nobody is signed in: the viewer sees no clinic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from dashboard.access.scope import Scope
from dashboard.access.viewer import Viewer

SESSION_KEY = "_ketaops_viewer"
NOBODY = Viewer("nobody", "Nobody", "none", Scope("clinics", ()), ())
_installed: ContextVar[Viewer | None] = ContextVar("ketaops_viewer", default=None)


def current_viewer() -> Viewer:
    """The run's viewer (session state), else the installed one (``use_viewer``), else nobody."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is not None:
        # SafeSessionState has no ``get``
        viewer = ctx.session_state[SESSION_KEY] if SESSION_KEY in ctx.session_state else None  # noqa: SIM401
        if isinstance(viewer, Viewer):
            return viewer
    installed = _installed.get()
    return installed if installed is not None else NOBODY


def set_session_viewer(viewer: Viewer) -> None:
    import streamlit as st

    st.session_state[SESSION_KEY] = viewer


@contextmanager
def use_viewer(viewer: Viewer) -> Iterator[Viewer]:
    """Run a block as ``viewer`` (CLI reports and tests, outside a Streamlit run)."""
    token = _installed.set(viewer)
    try:
        yield viewer
    finally:
        _installed.reset(token)
