"""Export values as text, never markup: one escape for markdown, one for Plotly, one figure guard.

Every value of a clinic export is untrusted: a clinic called ``Evil [click](https://…)`` must
not become a link in a banner, an AE description must not fetch a remote image when a
reviewer opens the event, and a name with ``<a href>`` must not become a link in a chart's
hover. ``md`` escapes a value for Streamlit's markdown (``st.markdown``, ``st.title``,
``st.caption``, ``st.info`` …); ``plot_text`` for Plotly's label markup; ``show_figure``
renders a figure with every data label, legend name, tick text and annotation escaped, so no
page needs to remember which of its labels came from an export.
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard.components import figure_context

# Every ASCII punctuation mark may be backslash-escaped in CommonMark; escaping them all also
# stops GFM autolinks (``https\://``), Streamlit's ``:red[…]`` directives and ``$`` maths.
_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# GFM turns bare URLs, ``www.`` names and e-mail addresses into links even when escaped: a
# word joiner (invisible, zero width) inside each trigger keeps them text.
_AUTOLINK = re.compile(r"(?i)(://|www\.|@)")
_JOINER = "\u2060"  # word joiner: invisible, and no line break opportunity


def md(value: object) -> str:
    """``value`` as literal text inside Streamlit markdown, on one line ("–" for None)."""
    if value is None:
        return "–"
    text = " ".join(str(value).split())  # a line break could start a heading, list or quote
    text = _AUTOLINK.sub(lambda m: m.group(1)[0] + _JOINER + m.group(1)[1:], text)
    return _MD_PUNCTUATION.sub(r"\\\1", text)


def plot_text(value: object) -> str:
    """``value`` as literal text in a Plotly label (Plotly renders ``<a>``, ``<b>``, ``<img>``-like tags)."""
    return html.escape(str(value), quote=False)


# Plotly's line break and superscript in labels this project builds (hover notes, control chart
# subtitles): kept. They change no link, image or text, whoever wrote them.
_BREAK = re.compile(r"&lt;(br\s*/?|/?sup)&gt;", re.IGNORECASE)
# Trace properties that carry labels shown to the viewer (templates are the project's own)
_TRACE_TEXT = ("x", "y", "text", "hovertext", "customdata", "name", "labels", "parents")


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return _BREAK.sub(lambda m: f"<{m.group(1)}>", plot_text(value))
    if isinstance(value, tuple | list):
        return type(value)(_escape(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "OU":
        return np.array([_escape(v) for v in value.tolist()], dtype=object)
    return value


def escape_figure(fig: go.Figure) -> go.Figure:
    """Escape, in place, every text a figure shows from its data: labels, names, ticks, annotations.

    Hover and text *templates* are left alone (the project writes them); the values they
    insert are escaped here. Call once per figure: escaping twice shows ``&amp;``.
    """
    for trace in fig.data:
        for prop in _TRACE_TEXT:
            if prop not in trace:
                continue
            value = trace[prop]
            if value is None:
                continue
            if isinstance(value, np.ndarray) and value.dtype.kind not in "OU":
                continue  # numbers
            trace[prop] = _escape(value)
    for annotation in fig.layout.annotations or ():
        if annotation.text:
            annotation.text = _escape(annotation.text)
    fig.for_each_xaxis(_escape_ticks)
    fig.for_each_yaxis(_escape_ticks)
    if fig.layout.title and fig.layout.title.text:
        fig.layout.title.text = _escape(fig.layout.title.text)
    return fig


def _escape_ticks(axis: Any) -> None:
    if axis.ticktext is not None:
        axis.ticktext = _escape(axis.ticktext)
    if axis.categoryarray is not None:
        axis.categoryarray = _escape(axis.categoryarray)
    if axis.title and axis.title.text:
        axis.title.text = _escape(axis.title.text)


CONTEXT_COLOR = "#6b7785"
CONTEXT_LINE_PX = 18  # the top margin a figure gains for the context line


def stamp(fig: go.Figure, context: figure_context.FigureContext) -> go.Figure:
    """Write the context (period, data date, scope) in small grey lines under the title, escaped.

    The title is pinned to the top and the top margin grows by the lines, so they sit between the
    title and what a chart puts just above the plot (the period and baseline labels). Call on a
    figure already escaped (``escape_figure``)."""
    lines = context.lines()
    if not lines:
        return fig
    span = f'<span style="font-size:11px;font-weight:normal;color:{CONTEXT_COLOR}">'
    small = "".join(f"<br>{span}{plot_text(t)}</span>" for t in lines)
    title = fig.layout.title.text if fig.layout.title and fig.layout.title.text else ""
    top = fig.layout.margin.t if fig.layout.margin and fig.layout.margin.t is not None else 48
    # property by property: update_layout on a figure with traces costs ~10× (charts.base_layout)
    fig.layout.title.text = title + small if title else small[4:]
    fig.layout.title.yref = "container"
    fig.layout.title.y = 1
    fig.layout.title.yanchor = "top"
    fig.layout.title.pad.t = 14
    fig.layout.margin.t = top + CONTEXT_LINE_PX * len(lines)
    return fig


def show_figure(fig: go.Figure, **kwargs: Any) -> Any:
    """``st.plotly_chart`` of the figure with its export-derived text escaped (``escape_figure``) and,
    in a page run, the period, scope and data date under its title and in the camera button's
    file name (``figure_context``), so a saved image says what it shows."""
    fig = escape_figure(fig)
    context = figure_context.current()
    if context is not None:
        stamp(fig, context)
        config = dict(kwargs.pop("config", None) or {})
        config.setdefault("toImageButtonOptions", {"filename": context.filename(kwargs.get("key"))})
        kwargs["config"] = config
    return st.plotly_chart(fig, **kwargs)
