"""The served app's Streamlit options, as Streamlit itself parses them from .streamlit/config.toml.

Each option here is a measured server cost or an exposure (docs/performance.md, docs/security.md):
a typo in the file would silently fall back to Streamlit's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)  # Streamlit reads ./.streamlit/config.toml from the working directory
    config.get_config_options(force_reparse=True)
    yield
    monkeypatch.undo()
    config.get_config_options(force_reparse=True)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("runner.postScriptGC", False),  # a full gc.collect(2) after every run: 43% of server CPU
        ("server.fileWatcherType", "none"),  # a module scan per new session
        ("server.runOnSave", False),
        ("client.showErrorDetails", "none"),  # no tracebacks in the browser
        ("browser.gatherUsageStats", False),
    ],
)
def test_the_project_config_sets(project_config: None, option: str, value: object) -> None:
    assert config.get_option(option) == value
    assert config.get_where_defined(option) == str(ROOT / ".streamlit" / "config.toml")
