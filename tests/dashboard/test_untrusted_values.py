"""Export values as text: the markdown and Plotly escapes, and a database that cannot be read."""

from __future__ import annotations

import os
import re
import string
from pathlib import Path

import duckdb
import plotly.graph_objects as go
import pytest

from dashboard.components.db_errors import classify
from dashboard.components.safe_text import escape_figure, md
from tests.dashboard.conftest import texts

PAYLOADS = [
    "Evil [click](https://evil.example/a)",
    "![px](https://evil.example/pixel.png)",
    "# Heading",
    "<a href='https://evil.example'>x</a>",
    "<img src=https://evil.example/i.png>",
    "**bold** _it_ `code` ~~s~~",
    "line one\n# two\n> three",
    "a&lt;b &amp; c",
    "1. list",
    "| a | b |",
    "https://evil.example/bare www.evil.example jo@evil.example",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_leaves_no_markup_for_markdown_to_act_on(payload):
    out = md(payload)
    # CommonMark: a backslash before ASCII punctuation makes it a literal character; every mark
    # (brackets, parentheses, #, <, *, `, |, …) must be escaped so none starts a construct
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", out)
    assert not any(ch in string.punctuation for ch in unescaped), (payload, out)
    assert "\n" not in out  # a line break could start a heading, list or quote
    # GFM links bare URLs, www. names and e-mail addresses even when escaped: each is broken up
    plain = out.replace("\\", "")
    assert "://" not in plain and "www." not in plain.lower() and not re.search(r"@\w", plain)
    # and the text is all there once the escapes and zero-width spaces are removed
    assert plain.replace("\u2060", "") == " ".join(payload.split())


def test_md_keeps_the_text_readable():
    assert md("North & South (main)") == r"North \& South \(main\)"
    assert md(None) == "–"


def test_escape_figure_escapes_data_labels_but_keeps_templates_and_breaks():
    name = 'Evil <a href="https://evil.example">x</a> & co'
    fig = go.Figure(
        go.Bar(
            x=[name, "plain"],
            y=[1, 2],
            customdata=[[name, "note<br>second line"], ["ok", "ok"]],
            name=name,
            hovertemplate="<b>%{x}</b><br>%{customdata[0]}<extra></extra>",
        )
    )
    fig.update_layout(title=f"{name}: sessions")
    fig.update_xaxes(ticktext=[name, "plain"], tickvals=[0, 1])
    fig.add_annotation(text=name, x=0, y=1)
    escape_figure(fig)
    escaped = 'Evil &lt;a href="https://evil.example"&gt;x&lt;/a&gt; &amp; co'
    assert list(fig.data[0].x) == [escaped, "plain"]
    assert fig.data[0].customdata[0][0] == escaped
    assert fig.data[0].customdata[0][1] == "note<br>second line"  # the project's own line break stays
    assert fig.data[0].name == escaped
    assert fig.data[0].hovertemplate == "<b>%{x}</b><br>%{customdata[0]}<extra></extra>"
    assert fig.layout.title.text == f"{escaped}: sessions"
    assert list(fig.layout.xaxis.ticktext) == [escaped, "plain"]
    assert fig.layout.annotations[0].text == escaped


def _older(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE clinics (clinic_id VARCHAR)").fetchall()
    con.close()
    return path


@pytest.mark.parametrize(
    ("make", "kind", "words"),
    [
        (lambda p: p.write_bytes(os.urandom(4096)) and p, "corrupt", "damaged"),
        (lambda p: p.write_bytes(b"") or p, "corrupt", "damaged"),
        (_older, "older_schema", "older version"),
    ],
)
def test_a_database_that_cannot_be_read_shows_what_to_do(app_at, tmp_path, make, kind, words):
    db = tmp_path / "ketaops.duckdb"
    make(db)
    at = app_at(db)
    assert not at.exception
    shown = texts(at)
    assert words in shown and "ketaops refresh" in shown
    assert "Traceback" not in shown and str(tmp_path) not in shown


def test_a_locked_file_is_named_as_such():
    exc = duckdb.IOException('IO Error: Could not set lock on file "/srv/x.duckdb": Conflicting lock is held')
    assert classify(exc).kind == "locked"
    assert classify(PermissionError(13, "Permission denied")).kind == "unreadable"


def test_error_details_are_hidden_from_the_browser():
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


def test_a_control_charts_superscript_subtitle_stays_markup_and_links_do_not():
    fig = go.Figure()
    fig.update_layout(title='<a href="https://evil.example">Harbor</a>: AEs<br><sup>Laney u′-chart</sup>')
    escape_figure(fig)
    assert (
        fig.layout.title.text
        == '&lt;a href="https://evil.example"&gt;Harbor&lt;/a&gt;: AEs<br><sup>Laney u′-chart</sup>'
    )


def test_every_chart_goes_through_show_figure():
    """``st.plotly_chart`` outside ``safe_text`` would draw clinic names and other export text
    unescaped (a hover ``<a href>`` is a live link): pages and components call ``show_figure``."""
    import ast

    dashboard = Path(__file__).resolve().parents[2] / "dashboard"
    direct = []
    for path in sorted(dashboard.rglob("*.py")):
        if path.name == "safe_text.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "plotly_chart":
                direct.append(f"{path.relative_to(dashboard)}:{node.lineno}")
    assert direct == []
