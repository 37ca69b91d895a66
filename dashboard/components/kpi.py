"""KPI tiles showing a figure and its change against the previous equal period."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import streamlit as st

Better = Literal["up", "down", "neutral"]


@dataclass(frozen=True)
class Tile:
    label: str
    value: float | int | None
    previous: float | int | None
    fmt: Callable[[float], str]
    delta_fmt: Callable[[float], str]
    better: Better = "up"
    help: str | None = None
    caption: str | None = None  # a line under the tile (e.g. who is not in the figure yet)


def count(v: float) -> str:
    return f"{v:,.0f}"


def signed_count(v: float) -> str:
    return f"{v:+,.0f}"


def rate(v: float) -> str:
    return f"{v:.2f}"


def signed_rate(v: float) -> str:
    return f"{v:+.2f}"


def pct(v: float) -> str:
    return f"{v:.0%}"


def signed_points(v: float) -> str:
    return f"{100 * v:+.1f} pts"


def relative(value: float, previous: float) -> str | None:
    """The change in per cent of the previous value; None when there is no base (0 or missing)."""
    if not previous:
        return None
    return f"{(value - previous) / abs(previous):+.1%}"


def delta_text(tile: Tile) -> str | int | None:
    """``+120 (+4.2%)``: absolute and relative change; 0 (grey, no arrow) when it rounds to nothing."""
    if tile.value is None or tile.previous is None:
        return None
    absolute = tile.delta_fmt(tile.value - tile.previous)
    if not any(ch in "123456789" for ch in absolute):
        return 0
    rel = relative(tile.value, tile.previous)
    return absolute if rel is None else f"{absolute} ({rel})"


def tiles(items: list[Tile], note: str | None, versus: str | None = None) -> None:
    """One bordered tile per item; the delta is ``value − previous`` (a previous period, or the network).

    ``versus`` ('vs previous period') is a caption under every tile's delta, inside its border, so a
    tile read alone (or copied into a report) still says what it is compared with. Not the metric's
    ``delta_description``: that shares the delta's line and is cut off in a third of a 1024 px window."""
    if note:
        st.caption(note[0].upper() + note[1:] + ".")
    per_row = 3 if len(items) > 4 else len(items)
    cols = [c for start in range(0, len(items), per_row) for c in st.columns(per_row)]
    for col, tile in zip(cols, items, strict=False):
        with col, st.container(border=True, height="stretch", gap="xxsmall"):
            value = "–" if tile.value is None else tile.fmt(tile.value)
            delta = delta_text(tile)
            st.metric(
                tile.label,
                value,
                delta=delta,
                delta_color={"up": "normal", "down": "inverse", "neutral": "off"}[tile.better],
                help=tile.help,
            )
            if versus and delta is not None:
                st.caption(versus)
            if tile.caption:  # a leading "+" would make a Markdown list
                st.caption(
                    tile.caption.replace("+", "\\+", 1) if tile.caption.startswith("+") else tile.caption
                )


def versus(compare: str) -> str:
    """The short 'against what' every tile's change carries."""
    return "vs last year" if compare == "last_year" else "vs previous period"
