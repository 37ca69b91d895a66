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

from dashboard.components import db_errors  # noqa: E402
from dashboard.components.navigation import DEFAULT_PAGE, PAGES_DIR, available_pages  # noqa: E402
from dashboard.components.page import setup  # noqa: E402

st.set_page_config(page_title="KetaOps", page_icon=":material/monitor_heart:", layout="wide")
specs = available_pages()
pages = [
    st.Page(
        PAGES_DIR / p.file,
        title=p.title,
        icon=p.icon,
        url_path=p.url_path,
        default=p.file == DEFAULT_PAGE,
    )
    for p in specs
]
current = st.navigation(pages, position="sidebar")
spec = next((s for s, page in zip(specs, pages, strict=True) if page is current), None)
try:
    if setup(filters=spec is None or spec.filtered) is not None:
        current.run()
except db_errors.DATABASE_ERRORS as exc:  # missing tables, a damaged or locked file: say what to do
    db_errors.show(exc)
