"""docs/metrics.md's table "Where each figure is defined" names real code.

A reader finds a figure's one definition from that table in one step, so every function it
names must exist in the module it names, and every metric module must appear in it.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| [^|]+ \| ([^|]+) \| `([^`]+\.py)` \|$", re.M)


def _rows() -> list[tuple[str, list[str]]]:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    table = text.split("## Where each figure is defined", 1)[1].split("\n## ", 1)[0]
    return [(module, re.findall(r"`([A-Za-z_]\w*)`", names)) for names, module in ROW.findall(table)]


def test_every_named_function_exists_in_its_module() -> None:
    rows = _rows()
    assert len(rows) >= 20, "the table was not found"
    missing = []
    for path, names in rows:
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        missing += [f"{path}: {name}" for name in names if not hasattr(module, name)]
    assert missing == []


def test_every_metric_module_is_in_the_table() -> None:
    named = {path for path, _ in _rows()}
    modules = {
        p.relative_to(ROOT).as_posix()
        for folder in ("dashboard/metrics", "dashboard/stats", "pipelines/model")
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "__init__.py"
    }
    # the package file only re-exports its modules
    assert modules - named - {"dashboard/metrics/outcomes/__init__.py"} == set()


def test_the_readme_layout_names_every_module_and_package() -> None:
    """README's Layout is the map a newcomer reads first: every top-level module and package of
    pipelines/ and dashboard/ is on it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    entries = set()
    for pkg in ("pipelines", "dashboard"):
        for p in (ROOT / pkg).iterdir():
            if p.suffix == ".py" and p.name != "__init__.py":
                entries.add(p.name)
            elif p.is_dir() and (p / "__init__.py").exists():
                entries.add(f"{p.name}/")
    assert len(entries) > 20
    assert sorted(e for e in entries if e not in layout) == []
