"""Repository promises: the README's two commands and CI running the same test command."""

import re
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
