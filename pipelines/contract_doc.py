"""Render ``docs/export-contract.md`` from the contract code, so the doc cannot drift.

``python -m pipelines.contract_doc`` rewrites the file; a test fails when the
committed file differs from what this module renders.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from pipelines.contract import (
    ADMINISTERED_STATUSES,
    BOOKKEEPING_DDL,
    FILE_LEVEL_REASONS,
    FREE_TEXT_COLUMNS,
    IDENTIFIER_COLUMNS,
    IDENTIFIER_FRAGMENTS,
    IDENTIFIER_TOKEN_PAIRS,
    IDENTIFIER_TOKENS,
    INSTRUMENTS,
    KEY_IDENTIFIER_PATTERNS,
    MAX_DOSE_MG_PER_KG,
    REASONS,
    REDACTION_PATTERNS,
    TABLES,
    Column,
    Table,
)
from pipelines.redact import marker
from pipelines.validate import RULE_ORDER

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "export-contract.md"

REQUIRED_WORDS = {
    "always": "yes",
    "never": "",
    "administered": "if administered",
    "administered_iv_im": "if administered iv/im",
}

INTRO = """\
# Export contract (v1) — as implemented

What clinics send, what the pipeline accepts and rejects, and what the database
publishes. **Generated** from `pipelines/contract.py` by
`python -m pipelines.contract_doc` — do not edit by hand; a test fails when this
file and the code disagree. The agreed starting point is `shared/spec/export-contract.md`;
where this project goes beyond it or decides something it leaves open, the last
section says so.

## The exports folder

- Every file anywhere under the exports folder (sub-folders allowed, e.g. one per
  clinic) whose **base name starts with a table name** feeds that table
  (case-insensitive; the longest matching name wins), e.g.
  `sessions_2026-11-24.csv`, `CLN-007/adverse_events.parquet`.
- A file whose name matches no table (`README.md`, `notes.txt`) is ignored and
  reported, never read.
- Files are applied in lexicographic order of their path relative to the exports
  folder; a record whose key was loaded before is replaced by the later one
  (corrections are re-sent, never deleted). A file already loaded unchanged (same
  SHA-256 of its bytes) is not read again, so refreshing twice changes nothing.

## File formats

- **CSV**: UTF-8 (a byte-order mark is tolerated), comma-separated, a header row,
  RFC 4180 quoting (`"a, b"`, `"say ""hi"" now"`, fields spanning lines), an empty
  field is null. `\\r\\n` line ends are fine. Blank lines are skipped.
- **Parquet**: any file starting with the Parquet magic bytes or named
  `*.parquet`. Native types are read as such (dates, timestamps, booleans,
  numbers, strings); every value then passes the same rules as CSV text.
- Anything else that looks like a table file (an Excel workbook, a gzip file,
  binary data, text that is not UTF-8) is rejected whole as `unreadable_file`.
- **Column names** are matched case-insensitively with surrounding blanks ignored
  (and other punctuation folded to `_`, so `Clinic ID` names `clinic_id`).
  Unknown extra columns are ignored and listed in `source_files.unknown_columns`;
  their values are never stored anywhere, not even in a reject's raw record.
- An optional column may be absent: it loads as null, or its default. A missing
  required column rejects the file (`missing_column`, naming every missing column).

## Values

- Surrounding blanks are trimmed; a value of only blanks is empty (null).
- Dates `YYYY-MM-DD` (zero-padded). Timestamps `YYYY-MM-DDTHH:MM` or
  `YYYY-MM-DDTHH:MM:SS`, a space accepted instead of `T`; clinic-local time, no zone.
- Booleans: `true`/`false`, `1`/`0`, `yes`/`no`, any case.
- Integers: a whole number (`12`, `+12`, `12.0`); `12.5` is unparsable.
  Numbers: decimal point, exponent allowed; `nan` and `inf` are unparsable.
- Enumerations: matched case-insensitively with blanks trimmed and stored in the
  contract's spelling below (sex `f` is stored `F`); anything else is `invalid_enum`.
- A default fills an empty value or an absent column; an unreadable value is
  rejected, never replaced by the default.
- **Hard limits** (below) reject a row: the value is impossible or garbled.
  **Protocol ranges** (metrics.md: dose per kg, infusion duration) are loaded and
  flagged by the metrics, never rejected: quality teams must see them.
"""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _rule(table: Table, column: Column) -> str:
    parts = []
    doc = column.doc
    if column.minimum is not None or column.maximum is not None:
        low = _number(column.minimum) + (" < x" if column.exclusive_minimum else " ≤ x")
        limits = f"{low} ≤ {_number(column.maximum)}"
        parts.append(limits)
        doc = doc.replace(f"; {limits}", "")  # the doc may repeat the limits
    if column.enum and table.name == "assessments" and column.name == "instrument":
        parts.append("one of the instruments below")
    elif column.enum:
        parts.append("one of " + ", ".join(f"`{v}`" for v in column.enum))
    if column.default is not None:
        parts.append(f"default `{column.default}`")
    if column.references:
        parts.append(f"must exist in `{column.references}`")
    if doc:
        parts.append(doc)
    return "; ".join(parts).replace("|", "\\|")


def _table_section(table: Table) -> list[str]:
    lines = [f"### {table.name} — key `{table.key}`", "", table.doc, ""]
    lines += ["| column | type | DuckDB | required | rule |", "|---|---|---|---|---|"]
    for c in table.columns:
        lines.append(
            f"| {c.name} | {c.kind} | {c.duckdb_type} | {REQUIRED_WORDS[c.required]} | {_rule(table, c)} |"
        )
    if table.derived:
        lines += ["", "Derived on load (published beside the canonical columns):", ""]
        lines += [f"- `{d.name}` ({d.kind}): {d.doc}" for d in table.derived]
    if table.rules:
        lines += ["", "Cross-column rules:", ""]
        lines += [f"- {rule}" for rule in table.rules]
    free_text = FREE_TEXT_COLUMNS.get(table.name, ())
    if free_text:
        lines += ["", f"Free text scanned for identifiers: {', '.join(f'`{c}`' for c in free_text)}."]
    return [*lines, ""]


def _tables() -> list[str]:
    lines = [
        "## Tables",
        "",
        "`required`: *yes* always; *if administered* only when status is "
        + " or ".join(f"`{s}`" for s in ADMINISTERED_STATUSES)
        + "; *if administered iv/im* also only for route `iv` or `im` (weight means nothing intranasally).",
        "Foreign keys are checked on load against the database being built and the same batch.",
        "",
    ]
    for table in TABLES:
        lines += _table_section(table)
    lines += ["### Instruments and their score ranges", "", "| instrument | min | max |", "|---|---|---|"]
    lines += [f"| {name} | {low:g} | {high:g} |" for name, (low, high) in INSTRUMENTS.items()]
    return [*lines, ""]


def _rejects() -> list[str]:
    row_level = [r for r in REASONS if r not in FILE_LEVEL_REASONS]
    file_level = [r for r in REASONS if r in FILE_LEVEL_REASONS]
    lines = [
        "## Rejects",
        "",
        "Nothing read is lost: every input row is loaded, rejected with a reason, or",
        "collapsed as an identical duplicate (counted). A rejected row gets **one** reject",
        "(its first failing rule, in the order below; the message says how many other",
        "problems the row has). A rejected file gets one reject with no row number.",
        "",
        "Row-level reasons, in the order a row's reason is chosen (`unknown_fk` is checked later, on load):",
        "",
        "| reason | meaning |",
        "|---|---|",
    ]
    ordered = [r for r in RULE_ORDER if r in row_level] + [r for r in row_level if r not in RULE_ORDER]
    lines += [f"| `{r}` | {REASONS[r]} |" for r in ordered]
    lines += ["", "File-level reasons (the whole file is rejected, nothing of it loaded):", ""]
    lines += ["| reason | meaning |", "|---|---|"]
    lines += [f"| `{r}` | {REASONS[r]} |" for r in file_level]
    lines += [
        "",
        "A reject records: the row number (the n-th line after the header, so row *n*",
        "is line *n + 1* of the file; blank lines keep their number; a record spanning",
        "lines has the number of its first line; in Parquet the 1-based row), the reason,",
        "the column, the offending value (for `dose_per_kg_too_high` the computed mg/kg),",
        "the raw record (JSON of",
        "the contract columns' text as sent, after redaction) and a message naming file,",
        "row and column. For `malformed_line` the value is null and the raw record maps",
        "the line's fields onto the header by position. For file-level rejects the value",
        "and raw record are always null.",
        "",
    ]
    return lines


def _deidentification() -> list[str]:
    names = ", ".join(f"`{n}`" for n in sorted(IDENTIFIER_COLUMNS))
    tokens = ", ".join(f"`{n}`" for n in sorted(IDENTIFIER_TOKENS))
    pairs = ", ".join(f"`{a} {b}`" for a, b in sorted(IDENTIFIER_TOKEN_PAIRS))
    fragments = ", ".join(f"`{n}`" for n in IDENTIFIER_FRAGMENTS)
    lines = [
        "## De-identification guard",
        "",
        "Exports must be de-identified; the pipeline enforces it and never stores an",
        "identifier, not even in its quarantine.",
        "",
        "- A file with a column named like a direct identifier is rejected whole",
        "  (`identifier_column`): nothing of it is loaded or copied; the reject's value and",
        "  raw record are null and its message names the file and the column. A column",
        "  name is split into tokens (camelCase split, punctuation and blanks folded:",
        "  `DateOfBirth` → date, of, birth) and is an identifier when its normalised name",
        "  is one of the names below, when one token is an identifier token, when two",
        "  tokens (next to each other or across one small word: `date of birth`) form an",
        "  identifier pair, or when the name run together contains an identifier",
        "  fragment (`emailaddress`). The contract's own columns (`clinic_name`, `region`,",
        "  …) never are.",
        "",
        f"  Names: {names}",
        "",
        f"  Tokens: {tokens}",
        "",
        f"  Pairs: {pairs}",
        "",
        f"  Fragments: {fragments}",
        "",
        "- Key columns (every `*_key` and `*_id`) holding a value shaped like an e-mail",
        "  address, a phone number or an SSN (with dashes, dots, blanks or en dashes)",
        "  reject their row (`identifier_in_key`, checked before every other rule); the",
        "  value and raw record are null, so the value is stored nowhere. A foreign key",
        "  that is unknown *and* identifier-shaped is rejected the same way, before the",
        "  loader looks it up. Bare 9- or 10-digit keys are numeric pseudonyms, not",
        "  identifiers. Key patterns:",
        "",
        "| kind | pattern |",
        "|---|---|",
        *[
            f"| {kind} | `{pattern.replace('|', chr(92) + '|')}` |"
            for kind, pattern in KEY_IDENTIFIER_PATTERNS.items()
        ],
        "",
        "- Free text is scanned and every match is replaced by a marker, counted in the",
        "  run's `redactions`. Patterns, applied in this order:",
        "",
        "| kind | marker | pattern |",
        "|---|---|---|",
    ]
    lines += [
        f"| {kind} | `{marker(kind)}` | `{pattern.replace('|', chr(92) + '|')}` |"
        for kind, pattern in REDACTION_PATTERNS.items()
    ]
    lines += [
        "",
        "- The same patterns run over every column of a rejected row before its value",
        "  and raw record are kept, whatever the reason (`unknown_fk` rejects, written by",
        "  the loader, included), so an identifier typed into the wrong column never",
        "  reaches `rejected_rows` either.",
        "",
    ]
    return lines


def _describe(ddl: str, name: str) -> list[tuple[str, str]]:
    con = duckdb.connect()
    try:
        con.execute(ddl).fetchall()
        return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {name}").fetchall()]
    finally:
        con.close()


BOOKKEEPING_NOTES = {
    "rejected_rows": "one row per rejected input row or file (value and raw_record null for identifiers)",
    "source_files": "each file seen: path, content hash, table, rows read/loaded/rejected, "
    "identical duplicates collapsed, unknown columns (comma-separated), status",
    "refresh_runs": "one row per refresh; status `succeeded` or `failed`",
    "clinic_freshness": "per clinic: newest data date and the last file that brought its data",
    "unread_files": "the export files the last build could not read (reasons `read_error`, "
    "`outside_exports`, `broken_link`, `not_a_file`); never in `source_files`, so every refresh "
    "tries them again, and `ketaops status` exits with flag 16 while any is listed",
}


def _published() -> list[str]:
    lines = [
        "## What the database publishes",
        "",
        "One DuckDB file (default `data/ketaops.duckdb`). A refresh builds a new copy and",
        "swaps it in whole; a failed refresh leaves the published file exactly as it was.",
        "Analysts may point any SQL tool at it; these tables are stable.",
        "",
        "Data tables (canonical columns, then derived):",
        "",
    ]
    for table in TABLES:
        cols = ", ".join(f"{name} {typ}" for name, typ in table.published_columns)
        lines.append(f"- `{table.name}`: {cols}")
    lines += ["", "Bookkeeping tables:", ""]
    for name, ddl in BOOKKEEPING_DDL.items():
        cols = ", ".join(f"{col} {typ}" for col, typ in _describe(ddl, name))
        lines.append(f"- `{name}` — {BOOKKEEPING_NOTES.get(name, '')}: {cols}")
    return [*lines, ""]


CHOICES = f"""\
## Choices where the spec is silent, and where we go beyond it

- A header-only file is valid and has 0 rows (not `empty_file`); `empty_file` is
  a file with no bytes or only blanks.
- One reject per rejected input row: its first failing rule in the order of the
  Rejects table; the message counts the others.
- A file whose name matches no table is ignored and reported (table none).
- Blank lines are not data rows and are not counted in rows read.
- `no_header`: the first line names no column of the file's table. `wrong_delimiter`:
  the header names more contract columns when split on `;`, tab or `|` than on commas.
- Beyond the spec: column names also fold punctuation to `_` (`Clinic ID` → `clinic_id`);
  two columns naming the same contract column reject the file as `duplicate_column`
  (a reason code the spec does not list).
- Duplicates: rows are *identical* when every contract column has the same text as
  sent (unknown columns are ignored). Rows that share a key but differ in any
  contract column are all rejected (`duplicate_key`), identical copies among them
  included; this rule comes before the value rules.
- `dose_per_kg_too_high` (> {MAX_DOSE_MG_PER_KG:g} mg/kg) is checked whenever route is
  iv/im and both dose and weight are given, whatever the status; `dose_mg_per_kg` is
  null for intranasal sessions.
- A malformed CSV line (wrong field count, bad quoting) rejects that line only; an
  unclosed quote is blamed on its own line, and the rest of the file is still read.
- Parquet timestamps are truncated to whole seconds; zone-aware ones keep their
  wall-clock time; a timestamp at midnight in a date column is that date (pandas
  writes dates that way).
- A file that cannot be read at all (permission denied, vanished mid-run, an I/O
  error) is `read_error`: it is not recorded as seen (no `source_files` row), so
  every refresh tries it again, and `unread_files` lists it until it reads. A
  symlink is followed only to a file inside the exports folder: one that resolves
  outside it (`outside_exports`), a dangling one (`broken_link`), a link to a folder
  and special files such as FIFOs (`not_a_file`) are never read and are listed the
  same way. Names starting with a dot are uploads in progress and are skipped.
- A CSV line holding bytes that are not UTF-8 rejects that line only
  (`invalid_encoding`, raw record decoded with U+FFFD for the bad bytes); the other
  lines load, and every rejected line counts in `rows_rejected`. A header that is
  not UTF-8 still rejects the file (`unreadable_file`): no column can be named.
- Diastolic ≥ systolic is checked for each (systolic, diastolic) pair of a table
  (`Table.pressure_pairs`) where both are given; the value is `systolic/diastolic`.
- AE outcome and grade: `fatal` needs grade 5 (`fatal_not_grade_5`); grade 5 with an
  outcome other than `fatal` (`unknown` included) is `grade_5_not_fatal`; grade 5 with
  no outcome is accepted (outcome is optional).
- An unexpected error while reading one file rejects that file as
  `unreadable_file` (with the error type, never its text) instead of failing the
  refresh.
- The SSN pattern also matches `123 45 6789` (spaces), beyond the spec's example.
- Identifier rejects: `rows_rejected` is the file's count of non-blank data lines.
"""


ENGINEERS = """\
## For engineers: how a file is validated

`pipelines.validate.validate_file(path, rel_path) -> FileResult` reads and checks
one file and never raises for bad data. It returns typed `accepted` rows (every
contract column in contract order, row-level derived `dose_mg_per_kg`, and
`_row_number`), `rejects` (one row per rejected input row, or one row for a
rejected file), `rows_read`, `rows_rejected`, `duplicates_collapsed`,
`redactions`, `unknown_columns` and `file_error`, with
`rows_read == accepted.height + rows_rejected + duplicates_collapsed`.
Foreign keys are checked later by the loader (`pipelines/load/loader.py`).

`validate_batch(items) -> Batch` gives exactly the same `FileResult` per file for
many files at once (the refresh passes each table's new files in ~96 MB batches):
files with the same columns are concatenated, tagged with their file, checked by
each rule once, and split back per file (duplicates and row numbers stay within
a file); `Batch.accepted` holds all accepted rows with `_file` for one bulk
insert. Files whose lines can be split independently (no line with an odd number
of quotes) are even split in one pass. `validate_file` is the one-file batch.

- `pipelines/readers.py` turns bytes into raw text columns. CSV: a plain body (no
  quote, no carriage return, and commas adding up to the header's field count on
  every line, proven from one count because Polars raises on a longer line) is
  split by Polars' CSV reader in one pass; any other body is read as lines, and
  quote-free ones are split with `str.splitn` (field counts checked per line);
  lines with quotes go through Polars' CSV reader; only lines with an odd number
  of quotes (or that Polars refuses) are looked at by Python's `csv` module. Both
  ways give the same rows (a property test holds them to it).
- `pipelines/validate/` matches each header to the contract (`headers.py`), types
  every column with one vectorised pass for values sent exactly as the contract
  spells them, and a second, trimming and case-folding pass only for the rows that
  need it (`typed.py`); each rule is one boolean expression (`rules.py`); the first
  failing rule names the reject (`rejects.py`).
- `pipelines/redact.py` applies the redaction patterns to free text (all rows)
  and to every column of rejected rows.
- Cost, measured on a generated 1M-row sessions CSV (114 MB): about 3 CPU-seconds
  for a clean file (DuckDB's `read_csv` of the same file into a table: about 2.6),
  4–5 with 1 % dirty rows or one unclosed quote, 2.8 for the same rows as Parquet.
- After changing `pipelines/contract.py`, run `python -m pipelines.contract_doc`
  and commit this file.
"""


def render() -> str:
    parts = [INTRO, *_tables(), *_rejects(), *_deidentification(), *_published(), CHOICES, ENGINEERS]
    return "\n".join(parts).rstrip("\n") + "\n"


def main() -> int:
    DOC_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
