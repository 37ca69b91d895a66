"""Every ``ketaops`` command's ``--help`` describes each option and lists the command's exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from pipelines.cli import EXIT_CODES, build_parser


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every leaf command (``reviews export`` is one, ``reviews`` is not) with its parser."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _commands(sub, (*prefix, name)) or {(*prefix, name): sub}
    return found


COMMANDS = _commands(build_parser())


def test_the_commands_are_found() -> None:
    assert {("refresh",), ("status",), ("serve",), ("metrics",), ("demo-data",)} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_every_option_has_a_description_and_the_help_lists_exit_codes(command: tuple[str, ...]) -> None:
    parser = COMMANDS[command]
    undocumented = [a.dest for a in parser._actions if a.option_strings and not (a.help or "").strip()]
    assert undocumented == []
    assert parser.description
    text = parser.format_help()
    assert "exit codes:" in text
    codes = EXIT_CODES[command[0]]
    assert codes and all(f"  {code:>3}  {meaning}" in text for code, meaning in codes)


def test_status_help_names_its_flags_as_the_process_prints_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "status", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert (
        "    4  the last refresh failed" in done.stdout
        and "    8  an open clinic's newest data" in done.stdout
    )
    assert "--stale-days" in done.stdout and "(default: 3)" in done.stdout
