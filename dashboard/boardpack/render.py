"""Figures to SVG with Kaleido, and the pack's HTML to PDF with the same headless Chromium.

Both drive the Chromium the browser tests use (Debian's ``/usr/bin/chromium``, or
``$BROWSER_PATH``): Kaleido finds it on the PATH, and printing HTML is Chromium's own
``--print-to-pdf``, so the PDF route adds no Python package beyond Kaleido.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from dashboard.boardpack.figures import HEIGHT, WIDTH

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PRINT_TIMEOUT_S = 120


class RenderError(RuntimeError):
    """No browser to render with, or the browser failed."""


def browser_path() -> str:
    """``$BROWSER_PATH`` (as Kaleido reads it), else the first Chromium on the PATH."""
    found = os.environ.get("BROWSER_PATH") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        raise RenderError("no Chromium found: install Debian's chromium or set BROWSER_PATH")
    return found


def figures_to_svg(figures: Mapping[str, go.Figure | None]) -> dict[str, str]:
    """Each figure as an SVG document (vector, text kept as text); one browser for all of them."""
    import kaleido

    drawn = {name: fig for name, fig in figures.items() if fig is not None}
    if not drawn:
        return {}
    os.environ.setdefault("BROWSER_PATH", browser_path())
    kaleido.start_sync_server(silence_warnings=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "kopts is ignored if using a server": we use one on purpose
            return {
                name: pio.to_image(fig, format="svg", width=WIDTH, height=HEIGHT).decode()
                for name, fig in drawn.items()
            }
    finally:
        kaleido.stop_sync_server(silence_warnings=True)


def html_to_pdf(html: str, out: Path) -> None:
    """Print ``html`` to ``out`` with headless Chromium (A4, CSS page rules, no browser header)."""
    with tempfile.TemporaryDirectory(prefix="ketaops-boardpack-") as tmp:
        page = Path(tmp) / "board-pack.html"
        page.write_text(html, encoding="utf-8")
        target = Path(tmp) / "board-pack.pdf"
        cmd = [
            browser_path(),
            "--headless",
            "--no-sandbox",  # as root (containers) Chromium refuses to start sandboxed; the page is ours
            "--disable-gpu",
            "--disable-extensions",
            "--no-pdf-header-footer",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={target}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RenderError(f"Chromium did not print within {PRINT_TIMEOUT_S} s") from exc
        if not target.is_file() or target.stat().st_size == 0:
            tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise RenderError(f"Chromium printed no PDF (exit {done.returncode}): {tail[0]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        shutil.move(str(target), partial)
        os.replace(partial, out)  # a reader never sees half a PDF
