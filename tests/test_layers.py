"""The import rule of docs/engineering-notes.md: every layer imports only the layers below it.

Read from the source (``ast``), so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (module prefix, what it may import from this project), most specific prefix first. A module imports
# its own layer freely; "pipelines" alone means every pipelines module except the CLI.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("pipelines.cli", ("pipelines", "dashboard")),  # the composition root
    ("pipelines.contract", ("pipelines.contract",)),
    ("pipelines.model", ("pipelines.contract", "pipelines.model")),
    ("pipelines", ("pipelines",)),
    ("dashboard.stats", ("dashboard.stats",)),
    ("dashboard.metrics", ("pipelines", "dashboard.stats", "dashboard.db", "dashboard.metrics")),
    ("dashboard", ("pipelines", "dashboard")),
    ("bench", ("pipelines", "dashboard", "bench")),
]
# Inside dashboard/, the order of its layers, lowest first: a module may import its own layer and
# those before it. ``access`` (who may see what) sits on the metrics' ``Filters`` and under the
# queries, which apply the viewer's scope to every read; the sign-in page is a component.
DASHBOARD_ORDER = (
    "stats",
    "db",
    # which version file of the database a page run reads: on db, under every cached read (queries)
    "data_version",
    "metrics",
    "access",
    "reviews",
    "queries",
    "exports",
    "components",
    "boardpack",
    "alerts",
    "views",
    "app",
)
FORBIDDEN_FOR_PIPELINES = ("pipelines.cli",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            # ``from pipelines import marts`` imports the module pipelines.marts
            found += [(node.lineno, _submodule(node.module, alias.name)) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in {"pipelines", "dashboard", "bench"}]


def _submodule(module: str, name: str) -> str:
    """``module.name`` where that is a module or package of this project, else ``module``."""
    base = ROOT.joinpath(*module.split("."), name)
    return f"{module}.{name}" if base.with_suffix(".py").exists() or base.is_dir() else module


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _dashboard_rank(name: str) -> int | None:
    parts = name.split(".")
    if parts[0] != "dashboard" or len(parts) < 2:
        return None
    return DASHBOARD_ORDER.index(parts[1]) if parts[1] in DASHBOARD_ORDER else None


def violations(module: str, imports: list[tuple[int, str]]) -> list[str]:
    allowed = next(a for prefix, a in LAYERS if _within(module, prefix))
    bad = []
    for line, name in imports:
        if not any(_within(name, a) for a in allowed):
            bad.append(f"{module}:{line} imports {name}")
        elif module != "pipelines.cli" and any(_within(name, f) for f in FORBIDDEN_FOR_PIPELINES):
            bad.append(f"{module}:{line} imports the CLI {name}")
        else:
            mine, theirs = _dashboard_rank(module), _dashboard_rank(name)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(f"{module}:{line} imports the higher layer {name}")
    return bad


def _sources() -> list[Path]:
    return sorted(p for pkg in ("pipelines", "dashboard", "bench") for p in (ROOT / pkg).rglob("*.py"))


def test_the_sources_are_found() -> None:
    """Not vacuous: the walk sees the modules it constrains and their imports."""
    names = {_module_name(p) for p in _sources()}
    assert {"pipelines.cli", "pipelines.model.sessions", "dashboard.views.overview"} <= names
    assert "dashboard.metrics.report" in {n for _, n in _imports(ROOT / "pipelines" / "cli.py")}


def test_every_module_imports_only_layers_below_it() -> None:
    bad = [v for path in _sources() for v in violations(_module_name(path), _imports(path))]
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize(
    ("module", "imported", "ok"),
    [
        ("pipelines.marts.first_sessions", "dashboard.metrics.throughput", False),
        ("pipelines.model.sessions", "pipelines.load", False),
        ("pipelines.model.sessions", "pipelines.contract", True),
        ("pipelines.cli", "dashboard.metrics.report", True),
        ("pipelines.refresh", "pipelines.cli", False),
        ("dashboard.metrics.safety", "dashboard.queries.safety", False),
        ("dashboard.stats.spc", "pipelines.contract", False),
        ("dashboard.queries.safety", "dashboard.metrics.safety", True),
        ("dashboard.components.charts", "dashboard.views.overview", False),
        ("dashboard.views.overview", "dashboard.components.kpi", True),
        ("dashboard.queries.cache", "dashboard.data_version", True),
        ("dashboard.data_version", "dashboard.queries.cache", False),
        ("dashboard.metrics.throughput", "dashboard.data_version", False),
        ("dashboard.queries.cache", "dashboard.access.current", True),
        ("dashboard.access.recorder", "dashboard.metrics.filters", True),
        ("dashboard.access.benchmarks", "dashboard.queries.cache", False),
        ("dashboard.metrics.report", "dashboard.access.scope", False),
        ("dashboard.components.gate", "dashboard.access.viewer", True),
    ],
)
def test_the_rule_itself(module: str, imported: str, ok: bool) -> None:
    assert (violations(module, [(1, imported)]) == []) is ok
