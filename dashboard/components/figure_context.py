"""What a chart was drawn for (period, scope, data date), written on the figure itself.

A chart saved with Plotly's camera button leaves the page behind: without its filters it
cannot be read. ``page.setup`` builds one ``FigureContext`` per run from the sidebar filters
(``use``); ``safe_text.show_figure`` writes it in small grey lines under every figure's title
and names the image file after the chart and the period. A line under the title cannot collide
with the x-axis title or the legend below the plot, whatever their height. The board pack draws
its figures without ``show_figure``: its pages carry their own period and scope captions.

Clinic names are export values: ``show_figure`` escapes the line when it writes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date

import streamlit as st

from dashboard.components.filters import FilterState, clinic_label, label
from dashboard.metrics.filters import Filters

_KEY = "_ketaops_figure_context"
NAMED_CLINICS = 2  # beyond this many, the scope counts clinics instead of naming them
NAME_CHARS = 60  # a longer clinic name is cut ("…"): the line must fit a half-width chart
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class FigureContext:
    """The period, scope (short form) and data date every chart of a page run is drawn for."""

    period: tuple[date, date] | None
    scope: str
    data_date: date | None

    def lines(self) -> list[str]:
        """``01 Sep 2026 – 30 Nov 2026 · data as of 30 Nov 2026`` then the scope (plain text): two
        short lines fit a half-width chart where one long line is cut."""
        when = []
        if self.period is not None:
            when.append(f"{self.period[0]:%d %b %Y} – {self.period[1]:%d %b %Y}")
        if self.data_date is not None:
            when.append(f"data as of {self.data_date:%d %b %Y}")
        return [line for line in (" · ".join(when), self.scope) if line]

    def filename(self, key: object) -> str:
        """The image file's name: ``ketaops-<chart key>-<first day>-<last day>`` (no export text)."""
        parts = ["ketaops", _FILENAME_UNSAFE.sub("-", str(key or "chart")).strip("-") or "chart"]
        if self.period is not None:
            parts += [self.period[0].isoformat(), self.period[1].isoformat()]
        return "-".join(parts)


def scope_text(state: FilterState, network_size: int) -> str:
    """The sidebar's selection in short form: the clinics (named up to two, else counted, or the
    network), then the region, condition, route and modality picked."""
    f = state.filters
    names: Mapping[str, str] = state.clinic_names
    clinics = f.clinic_ids
    if len(clinics) == network_size and not f.regions:
        who = f"network, {len(clinics)} clinics"
    elif len(clinics) <= NAMED_CLINICS:
        who = ", ".join(clinic_label(c, _short(names.get(c))) for c in clinics) or "no clinic"
    else:
        who = f"{len(clinics)} clinics"
    regions = [("region " if len(f.regions) == 1 else "regions ") + ", ".join(f.regions)] if f.regions else []
    return " · ".join([who, *regions, *dimensions(f)])


def dimensions(f: Filters) -> list[str]:
    """The condition, route and modality picked, each in short form (none picked: nothing)."""
    return [
        ", ".join(label(v) for v in picked) for picked in (f.conditions, f.routes, f.modalities) if picked
    ]


def for_clinic(context: FigureContext, f: Filters, clinic_id: str, name: str | None) -> FigureContext:
    """The Clinic page's scope: one clinic beside the whole network, with ``f``'s dimensions."""
    return replace(
        context,
        scope=" · ".join([f"{clinic_label(clinic_id, _short(name))} and the network", *dimensions(f)]),
    )


@contextmanager
def narrowed(clinic_id: str | None, name: str | None, f: Filters) -> Iterator[None]:
    """Figures drawn inside show one clinic picked on the page (a control chart's clinic picker),
    not the sidebar's selection: their scope line names that clinic. ``None``: nothing changes."""
    before = current()
    if clinic_id is not None and before is not None:
        use(replace(before, scope=" · ".join([clinic_label(clinic_id, _short(name)), *dimensions(f)])))
    try:
        yield
    finally:
        use(before)


def for_run(state: FilterState | None, data_date: date | None, network_size: int) -> FigureContext:
    """The context of a page run: the filters' period and scope, or the data date alone (no filters)."""
    if state is None:
        return FigureContext(period=None, scope="", data_date=data_date)
    f = state.filters
    return FigureContext(period=(f.start, f.end), scope=scope_text(state, network_size), data_date=data_date)


def use(context: FigureContext | None) -> None:
    """Set the context the figures of this run are drawn for (``page.setup``; a page narrowing its
    scope, as the Clinic page does, sets it once more)."""
    if context is None:
        st.session_state.pop(_KEY, None)
    else:
        st.session_state[_KEY] = context


def current() -> FigureContext | None:
    return st.session_state.get(_KEY)


def _short(name: str | None) -> str | None:
    return name if name is None or len(name) <= NAME_CHARS else name[: NAME_CHARS - 1].rstrip() + "…"
