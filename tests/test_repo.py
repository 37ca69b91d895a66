"""Repository promises: the README's two commands and CI running the same test command."""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_starts_with_exactly_two_commands():
    commands = _readme_commands()
    assert len(commands) >= 2
    first_block = (ROOT / "README.md").read_text().index("```bash")
    assert first_block < 400, "the two commands must come first"
    assert "ketaops serve" in commands[0] and "demo-data" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert _readme_commands()[1] in ci.splitlines()


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [
        s for extra in project["optional-dependencies"].values() for s in extra
    ]
    return {_normal(re.match(r"[A-Za-z0-9_.-]+", s).group()) for s in specs}


def _imported_top_level_names() -> set[str]:
    names: set[str] = set()
    for path in ROOT.glob("**/*.py"):
        if ".venv" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_imported_library_is_declared_and_explained():
    local = {"dashboard", "pipelines", "bench", "tests"} | {p.stem for p in ROOT.glob("tests/**/*.py")}
    third_party = _imported_top_level_names() - set(sys.stdlib_module_names) - local
    installed = importlib.metadata.packages_distributions()
    imported = {_normal(installed[name][0]) for name in third_party}
    assert {"polars", "pandas", "streamlit"} <= imported  # the scan sees the code's imports
    assert imported <= _declared()
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Why each dependency") :]
    explained = {_normal(n) for row in re.findall(r"^\| ([^|]+) \|", table, re.M) for n in row.split(", ")}
    assert _declared() <= explained
