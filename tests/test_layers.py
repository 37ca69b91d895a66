"""The packages' layering: of pipelines/ only the CLI (the composition root) imports the dashboard,
and the shared model (pipelines/model/) imports only the contract.

Every import statement counts, a function's own included (an import inside a function still
ties the packages together).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    """Absolute module names ``path`` imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            module = node.module or ""
            # ``from pipelines import marts`` imports the module pipelines.marts
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_sources_are_found() -> None:
    """Not vacuous: the walks below see the modules they constrain."""
    paths = {p.relative_to(ROOT).as_posix() for p in _sources("pipelines")}
    assert {"pipelines/cli.py", "pipelines/status.py", "pipelines/model/sessions.py"} <= paths
    assert "dashboard" in {n.split(".")[0] for n in _imports(ROOT / "pipelines" / "cli.py")}


def test_only_the_cli_of_pipelines_imports_the_dashboard() -> None:
    importing = [
        p.relative_to(ROOT).as_posix()
        for p in _sources("pipelines")
        if any(n.split(".")[0] == "dashboard" for n in _imports(p))
    ]
    assert importing == ["pipelines/cli.py"]


def test_the_model_imports_only_the_contract_and_itself() -> None:
    allowed = ("pipelines.contract", "pipelines.model")
    wrong = {
        f"{p.relative_to(ROOT).as_posix()}: {n}"
        for p in _sources("pipelines/model")
        for n in _imports(p)
        if n.split(".")[0] in ("pipelines", "dashboard", "bench", "tests")
        and n != "pipelines"
        and not any(n == a or n.startswith(f"{a}.") for a in allowed)
    }
    assert wrong == set()
