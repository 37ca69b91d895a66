"""KetaOps dashboard entry point: ``streamlit run dashboard/app.py`` (or ``ketaops serve``).

Registers one ``st.Page`` per file in ``dashboard/views/`` (see
``components/navigation.py``: Safety and Outcomes appear once their files
exist), renders the header and the shared sidebar filters, then runs the
chosen page. A page that reads no filter (Data) gets no sidebar filters.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` from a checkout without an install
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.components import db_errors, url_state  # noqa: E402
from dashboard.components.navigation import DEFAULT_PAGE, PAGES_DIR, available_pages  # noqa: E402
from dashboard.components.page import setup  # noqa: E402

st.set_page_config(page_title="KetaOps", page_icon=":material/monitor_heart:", layout="wide")
specs = available_pages()
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
current = st.navigation(pages + [twin for _, twin in twins], position="sidebar")
spec = next((s for s, page in [*zip(specs, pages, strict=True), *twins] if page is current), None)
url_state.begin(current.url_path)
try:
    if setup(filters=spec is None or spec.filtered) is not None:
        current.run()
except db_errors.DATABASE_ERRORS as exc:  # missing tables, a damaged or locked file: say what to do
    db_errors.show(exc)
except BaseException as stop:
    # st.stop() ends a page early: what it showed is still the view to keep. A rerun (a page
    # switch, a newer user action) is not: the next run writes the URL.
    if type(stop).__name__ == "StopException":
        url_state.commit()
    raise
url_state.commit()
