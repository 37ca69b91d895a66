"""The monthly board pack (PDF): the month against the month before and a year earlier.

``write_board_pack(con, month, clinic_ids, cfg, out)`` is what ``ketaops report`` and the
Overview's "Download board pack" button call. docs/board-pack.md describes the pack.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from dashboard.boardpack.content import BoardPackData, Month, ReviewSource, gather
from dashboard.boardpack.figures import board_figures
from dashboard.boardpack.html import board_pack_html
from dashboard.boardpack.render import RenderError, figures_to_svg, html_to_pdf
from pipelines.model.config import MetricConfig

__all__ = [
    "BoardPackData",
    "Month",
    "RenderError",
    "ReviewSource",
    "board_pack_pdf",
    "render_html",
    "write_board_pack",
]


def render_html(data: BoardPackData) -> str:
    """The pack's HTML with its charts drawn (Kaleido)."""
    return board_pack_html(data, figures_to_svg(board_figures(data)))


def write_board_pack(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    clinic_ids: tuple[str, ...],
    cfg: MetricConfig,
    out: Path,
    *,
    scope_label: str = "network",
    today: date | None = None,
    reviews: ReviewSource | None = None,
) -> BoardPackData:
    """Write the PDF for ``month`` and the scope's clinics to ``out``; returns the figures used."""
    data = gather(con, month, clinic_ids, cfg, scope_label=scope_label, today=today, reviews=reviews)
    html_to_pdf(render_html(data), out)
    return data


def board_pack_pdf(month: Month, clinic_ids: tuple[str, ...], cfg: MetricConfig, scope_label: str) -> bytes:
    """The PDF's bytes from the published database (the Overview's download button, on click)."""
    import tempfile

    from dashboard.db import connect, db_path

    with tempfile.TemporaryDirectory(prefix="ketaops-pack-") as tmp, connect(db_path()) as con:
        out = Path(tmp) / "board-pack.pdf"
        write_board_pack(con, month, clinic_ids, cfg, out, scope_label=scope_label)
        return out.read_bytes()
