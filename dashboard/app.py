"""KetaOps dashboard entry point: ``streamlit run dashboard/app.py`` (or ``ketaops serve``).

Pins the data version every read of the run uses (``dashboard/data_version.py``: the
gate's reads too), passes the sign-in gate (``dashboard/components/gate.py``: the sign-in or
"no access" page stops the run there), registers one ``st.Page`` per file in
``dashboard/views/`` the viewer may open (see ``components/navigation.py``), adds the
keyboard and small-screen aids (``components/page_aids.py``), renders the header and the
shared sidebar filters (none on a page that reads no filter: Data), records the page view
in the audit log, runs the chosen page, writes the URL and draws the sidebar's page links
with it (``components/sidebar_nav.py``: one history entry per page switch).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` from a checkout without an install
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import data_version  # noqa: E402
from dashboard.access import recorder  # noqa: E402
from dashboard.components import db_errors, page_aids, sidebar_nav, url_state  # noqa: E402
from dashboard.components.gate import gate  # noqa: E402
from dashboard.components.navigation import DEFAULT_PAGE, PAGES_DIR, pages_for  # noqa: E402
from dashboard.components.page import IN_APP, PageStopped, setup  # noqa: E402

st.set_page_config(page_title="KetaOps", page_icon=":material/monitor_heart:", layout="wide")
links = sidebar_nav.slot()  # first in the sidebar, above the viewer's name and the filters
nav: sidebar_nav.Slot | None = None
try:
    pin = data_version.pin_run()  # before any read, so the whole run reads one version
    viewer = gate()  # resolves scopes against the clinics table: a damaged file fails here first
    specs = pages_for(viewer)
    pages = [
        st.Page(
            PAGES_DIR / p.file,
            title=p.title,
            icon=p.icon,
            url_path="" if p.file == DEFAULT_PAGE else p.url_path,
            default=p.file == DEFAULT_PAGE,
        )
        for p in specs
    ]
    # The default page is served at the root; a hidden twin answers its own path too
    # (``/overview``), which otherwise shows Streamlit's blocking 'Page not found'.
    twins = [
        (p, st.Page(PAGES_DIR / p.file, title=p.title, icon=p.icon, url_path=p.url_path, visibility="hidden"))
        for p in specs
        if p.file == DEFAULT_PAGE
    ]
    # Streamlit's own menu would switch page without the URL's parameters: the sidebar's
    # links are ``st.page_link``s that carry them (``sidebar_nav``)
    current = st.navigation(pages + [twin for _, twin in twins], position="hidden")
    nav = sidebar_nav.Slot(links, list(zip(specs, pages, strict=True)))
    page_aids.inject()
    spec = next((s for s, page in [*zip(specs, pages, strict=True), *twins] if page is current), None)
    url_state.begin(current.url_path)
    st.session_state[IN_APP] = True
    ctx = setup(filters=spec is None or spec.filtered, pin=pin)
    if ctx is not None:
        recorder.page_view(
            current.url_path or Path(DEFAULT_PAGE).stem, ctx.state.filters if ctx.state else None
        )
        current.run()
except PageStopped:  # an empty state ended the page: a run like any other, the URL is written below
    pass
except db_errors.DATABASE_ERRORS as exc:  # missing tables, a damaged or locked file: say what to do
    db_errors.show(exc)
except BaseException as stop:
    # st.stop() ends a page early: what it showed is still the view to keep. A rerun (a page
    # switch, a newer user action) is not: the next run writes the URL.
    if type(stop).__name__ == "StopException":
        query = url_state.commit()
        if nav is not None:
            nav.fill(query)
    raise
query = url_state.commit()
if nav is not None:
    nav.fill(query)
