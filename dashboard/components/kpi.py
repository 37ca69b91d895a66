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


def tiles(items: list[Tile], note: str | None) -> None:
    """One bordered tile per item; the delta is ``value − previous`` (a previous period, or the network)."""
    if note:
        st.caption(note[0].upper() + note[1:] + ".")
    per_row = 3 if len(items) > 4 else len(items)
    cols = [c for start in range(0, len(items), per_row) for c in st.columns(per_row)]
    for col, tile in zip(cols, items, strict=False):
        with col:
            value = "–" if tile.value is None else tile.fmt(tile.value)
            delta: str | int | None = None
            if tile.value is not None and tile.previous is not None:
                delta = tile.delta_fmt(tile.value - tile.previous)
                if not any(ch in "123456789" for ch in delta):
                    delta = 0  # rounds to no change: grey, no arrow
            st.metric(
                tile.label,
                value,
                delta=delta,
                delta_color={"up": "normal", "down": "inverse", "neutral": "off"}[tile.better],
                help=tile.help,
                border=True,
            )
            if tile.caption:  # a leading "+" would make a Markdown list
                st.caption(
                    tile.caption.replace("+", "\\+", 1) if tile.caption.startswith("+") else tile.caption
                )
