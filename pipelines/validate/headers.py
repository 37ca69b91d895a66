"""Headers of export files: delimiter, column names matched to the contract, whole-file rejects.

A file whose header is wrong (another delimiter, no header, an identifier column, a
duplicate or a missing required column) is rejected whole before any row is read. Thousands
of files share a header, so a CSV header found good is remembered (``matched_header``).
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines import readers
from pipelines.contract import Table, is_identifier_column, normalise_column_name
from pipelines.readers import FileRejected

DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def matched_header(
    header: readers.CsvHeader, table: Table, rel_path: str, count: Callable[[], int]
) -> tuple[dict[int, str], list[str], tuple[str, ...]]:
    """A CSV header checked (``check_delimiter``) and matched (``match_columns``), with the columns present.

    Thousands of files share a header: each is checked once. ``count`` counts the file's rows,
    only when the whole file is rejected.
    """
    layout = (table.name, header.line)
    if layout in _GOOD_HEADERS:
        return _GOOD_HEADERS[layout]
    check_delimiter(header, table, rel_path, count)
    keep, unknown = match_columns(header.names, table, rel_path, count)
    present = present_columns(table, keep)
    _GOOD_HEADERS[layout] = keep, unknown, present
    return keep, unknown, present


_GOOD_HEADERS: dict[tuple[str, str], tuple[dict[int, str], list[str], tuple[str, ...]]] = {}


def present_columns(table: Table, keep: dict[int, str] | dict[str, str]) -> tuple[str, ...]:
    kept = set(keep.values())
    return tuple(c.name for c in table.columns if c.name in kept)


def check_delimiter(header: readers.CsvHeader, table: Table, rel_path: str, count: Callable[[], int]) -> None:
    """A header whose columns only appear when split on ';', tab or '|' is the wrong delimiter."""
    known = set(table.by_name)
    matched = sum(normalise_column_name(n) in known for n in header.names)
    for delimiter, word in DELIMITERS.items():
        if delimiter not in header.line:
            continue
        names = readers.split_fields(header.line, delimiter)
        if sum(normalise_column_name(n) in known for n in names) > max(matched, 1):
            raise FileRejected(
                "wrong_delimiter",
                f"{rel_path}: the file is {word}-separated; the contract requires commas",
                rows=count(),
            )
    if matched == 0 and not any(is_identifier_column(n, table) for n in header.names):
        rows = count() + 1  # the first line is data too
        raise FileRejected(
            "no_header",
            f"{rel_path}: the first line is not a header naming {table.name} columns "
            f"(expected e.g. {', '.join(table.column_names[:3])})",
            rows=rows,
        )


def match_columns(
    names: list[str], table: Table, rel_path: str, rows: Callable[[], int]
) -> tuple[dict[int, str], list[str]]:
    """Map file columns to canonical names (case-insensitive, blanks ignored); reject bad headers.

    ``rows`` counts the file's rows, only when the whole file is rejected.
    """
    for name in names:
        if is_identifier_column(name, table):
            raise FileRejected(
                "identifier_column",
                f"{rel_path}: column {name.strip()!r} looks like a direct patient identifier; "
                "the whole file was rejected and nothing of it was kept",
                column=name.strip(),
                rows=rows(),
            )
    keep: dict[int, str] = {}
    seen: dict[str, str] = {}
    unknown: list[str] = []
    for i, name in enumerate(names):
        canonical = normalise_column_name(name)
        if canonical not in table.by_name:
            unknown.append(name.strip() or f"(unnamed column {i + 1})")
            continue
        if canonical in seen:
            raise FileRejected(
                "duplicate_column",
                f"{rel_path}: columns {seen[canonical]!r} and {name.strip()!r} both name {canonical}",
                column=canonical,
                rows=rows(),
            )
        seen[canonical] = name.strip()
        keep[i] = canonical
    missing = [c.name for c in table.columns if c.required == "always" and c.name not in seen]
    if missing:
        raise FileRejected(
            "missing_column",
            f"{rel_path}: required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"missing from the header",
            column=missing[0],
            rows=rows(),
        )
    return keep, unknown
