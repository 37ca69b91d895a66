"""The sidebar's page links: each carries the view's URL parameters, so a page switch is one
history entry.

Streamlit's own sidebar menu (``st.navigation(position="sidebar")``) switches page with an
empty query string: its frontend drops every parameter no widget binds, and the new page's
first run has to write them back, a second history entry. An ``st.page_link`` with
``query_params`` switches page with the parameters in the one entry it pushes (and its ``href``
holds them too, so a link opened in a new tab keeps the view). The links are drawn into a
sidebar container made before the page runs (so they lead the sidebar) and filled once the
run knows its URL (``url_state.commit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard.components.navigation import PageSpec

NAV_KEY = "ketaops_nav"  # the container's CSS class is ``st-key-ketaops_nav`` (``page_aids.CSS``)


def slot() -> DeltaGenerator:
    """The links' place in the sidebar (made first, so they lead it)."""
    return st.sidebar.container(key=NAV_KEY)


@dataclass(frozen=True)
class Slot:
    where: DeltaGenerator
    pages: Sequence[tuple[PageSpec, st.Page]]  # in menu order

    def fill(self, query: Mapping[str, Sequence[str]]) -> None:
        """One link per page, each switching page with ``query`` (the URL this run wrote)."""
        carried = {k: list(v) for k, v in query.items() if v}
        with self.where:
            for spec, page in self.pages:
                st.page_link(page, label=spec.title, icon=spec.icon, width="stretch", query_params=carried)
