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


# Plotly's own line break in labels this project builds (e.g. hover notes): kept
_BREAK = re.compile(r"&lt;br\s*/?&gt;", re.IGNORECASE)
# Trace properties that carry labels shown to the viewer (templates are the project's own)
_TRACE_TEXT = ("x", "y", "text", "hovertext", "customdata", "name", "labels", "parents")


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return _BREAK.sub("<br>", plot_text(value))
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


def show_figure(fig: go.Figure, **kwargs: Any) -> Any:
    """``st.plotly_chart`` of the figure with its export-derived text escaped (``escape_figure``)."""
    return st.plotly_chart(escape_figure(fig), **kwargs)
