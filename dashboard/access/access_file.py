"""The access file (``access.toml``): who, by verified e-mail or by a group claim, gets which role and scope.

Parsed strictly: an unknown key, role or table, a malformed e-mail, or a scope naming a clinic or
region the database does not have refuses the whole file, with the line and the reason, so an
edit never half-applies. Entries are ``[[user]]`` and ``[[group]]`` tables; the first entry that
matches a signed-in identity wins (docs/access.md).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboard.access.scope import Scope, ScopeError, parse_scope

ROLES = ("director", "quality", "ops")
ENTRY_KEYS = {
    "user": ("email", "role", "scope"),
    "group": ("claim", "value", "role", "scope"),
}
# A pragmatic check (one @, no spaces, a dot in the domain): providers verify addresses, this
# catches typos such as a missing domain or a pasted display name.
EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\".]+$")
_HEADER = re.compile(r"^\s*\[\[\s*(user|group)\s*\]\]\s*(#.*)?$")
_TABLE = re.compile(r"^\s*\[")
_KEY = re.compile(r"^\s*\"?([A-Za-z0-9_-]+)\"?\s*=")
_TOML_LINE = re.compile(r"at line (\d+)")


class AccessFileError(ValueError):
    """A refused access file: where (line) and why."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source} line {line}: {reason}")
        self.source, self.line, self.reason = source, line, reason


@dataclass(frozen=True)
class Entry:
    kind: str  # "user" | "group"
    line: int  # of its [[user]] / [[group]] header
    role: str
    scope: Scope
    email: str | None = None  # lower case
    claim: str | None = None
    value: str | None = None

    def matches(self, claims: Mapping[str, Any]) -> bool:
        """Whether a signed-in identity's claims select this entry.

        A user entry needs the e-mail claim, compared case-insensitively, and refuses one the
        provider marks unverified (``email_verified: false``). A group entry needs the claim to
        hold the value, as a string or in a list.
        """
        if self.kind == "user":
            email = claims.get("email")
            if claims.get("email_verified") is False or not isinstance(email, str):
                return False
            return email.strip().lower() == self.email
        held = claims.get(self.claim or "")
        if isinstance(held, str):
            return held == self.value
        if isinstance(held, (list, tuple)):
            return self.value in held
        return False


@dataclass(frozen=True)
class AccessFile:
    entries: tuple[Entry, ...]
    source: str = "access.toml"

    def match(self, claims: Mapping[str, Any]) -> Entry | None:
        """The first entry that matches, or None (the viewer has no access)."""
        return next((e for e in self.entries if e.matches(claims)), None)


def parse_access(
    text: str, region_of: Mapping[str, str | None], *, source: str = "access.toml"
) -> AccessFile:
    """Parse and check an access file against the clinics table (clinic id → region)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        raise AccessFileError(source, int(found.group(1)) if found else 1, f"not valid TOML: {exc}") from exc
    lines = text.splitlines()
    for key in data:
        if key not in ENTRY_KEYS:
            raise AccessFileError(
                source, _top_level_line(lines, key), _unknown("table or key", key, ENTRY_KEYS)
            )
    headers = [(i + 1, m.group(1)) for i, line in enumerate(lines) if (m := _HEADER.match(line))]
    entries: list[Entry] = []
    seen = {"user": 0, "group": 0}
    for line_no, kind in headers:
        tables = data.get(kind)
        if not isinstance(tables, list) or seen[kind] >= len(tables):
            raise AccessFileError(source, line_no, f"write each {kind} as a [[{kind}]] table")
        table = tables[seen[kind]]
        seen[kind] += 1
        entries.append(_entry(kind, table, line_no, _key_lines(lines, line_no), region_of, source))
    for kind, count in seen.items():
        tables = data.get(kind)
        if tables is not None and (not isinstance(tables, list) or len(tables) != count):
            raise AccessFileError(
                source, _top_level_line(lines, kind), f"write each {kind} as a [[{kind}]] table"
            )
    entries.sort(key=lambda e: e.line)
    return AccessFile(tuple(entries), source)


def load_access(path: Path, region_of: Mapping[str, str | None]) -> AccessFile:
    """Read and check ``path``; a missing or unreadable file is refused like a bad one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AccessFileError(str(path), 0, f"cannot read the access file: {exc}") from exc
    return parse_access(text, region_of, source=str(path))


def _entry(
    kind: str,
    table: dict[str, Any],
    line_no: int,
    key_lines: dict[str, int],
    region_of: Mapping[str, str | None],
    source: str,
) -> Entry:
    def fail(key: str | None, reason: str) -> AccessFileError:
        return AccessFileError(source, key_lines.get(key or "", line_no), reason)

    for key in table:
        if key not in ENTRY_KEYS[kind]:
            raise fail(key, _unknown(f"key in [[{kind}]]", key, ENTRY_KEYS[kind]))
    for key in ENTRY_KEYS[kind]:
        if key not in table:
            raise fail(None, f"[[{kind}]] needs {key!r}")
    role = table["role"]
    if role not in ROLES:
        raise fail("role", f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    try:
        scope = parse_scope(table["scope"])
        scope.resolve(region_of)
    except ScopeError as exc:
        raise fail("scope", str(exc)) from exc
    if kind == "user":
        email = table["email"]
        if not isinstance(email, str) or not EMAIL.match(email.strip()):
            raise fail("email", f"malformed e-mail {email!r}")
        return Entry("user", line_no, role, scope, email=email.strip().lower())
    claim, value = table["claim"], table["value"]
    for key, v in (("claim", claim), ("value", value)):
        if not isinstance(v, str) or not v.strip():
            raise fail(key, f"{key!r} is a non-empty string")
    return Entry("group", line_no, role, scope, claim=claim.strip(), value=value.strip())


def _unknown(what: str, key: str, known: Mapping[str, Any] | tuple[str, ...]) -> str:
    return f"unknown {what} {key!r} (expected: {', '.join(known)})"


def _key_lines(lines: list[str], header: int) -> dict[str, int]:
    """Line numbers of the keys of the table starting at line ``header`` (until the next table)."""
    found: dict[str, int] = {}
    for i in range(header, len(lines)):
        if _TABLE.match(lines[i]):
            break
        if (m := _KEY.match(lines[i])) and m.group(1) not in found:
            found[m.group(1)] = i + 1
    return found


def _top_level_line(lines: list[str], key: str) -> int:
    """Where a top-level key or table is written (its first mention), else line 1."""
    pattern = re.compile(rf"^\s*(\[+\s*\"?{re.escape(key)}\"?\s*\]+|\"?{re.escape(key)}\"?\s*=)")
    return next((i + 1 for i, line in enumerate(lines) if pattern.match(line)), 1)
