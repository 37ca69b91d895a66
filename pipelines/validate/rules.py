"""The row rules of the contract: one vectorised check per rule and column, and duplicate keys.

Every rule is a Polars expression over the typed columns of all the rows being validated
(no per-row Python). A row's reject names its *first* failing rule in ``RULE_ORDER``.
Kept apart from the typing (``typed``) and from how rejects are written (``rejects``):
this module is the contract's rules as code, and ``contract_doc`` lists them from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.contract import (
    ADMINISTERED_STATUSES,
    INSTRUMENTS,
    KEY_IDENTIFIER_PATTERNS,
    MAX_DOSE_MG_PER_KG,
    Column,
    Table,
    is_key_column,
)
from pipelines.readers import BAD_ENCODING, MALFORMED
from pipelines.validate.typed import dose_per_kg, given, iv_im, typed_name

# Row rules in the order a row's reported reason is chosen (first failing wins).
RULE_ORDER: tuple[str, ...] = (
    "identifier_in_key",
    "invalid_encoding",
    "malformed_line",
    "duplicate_key",
    "unparsable",
    "invalid_enum",
    "missing_required",
    "out_of_range",
    "closed_before_opened",
    "dose_per_kg_too_high",
    "grade_not_serious",
    "diastolic_not_below_systolic",
    "fatal_not_grade_5",
    "grade_5_not_fatal",
)

TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "date": "a YYYY-MM-DD date",
    "timestamp": "a YYYY-MM-DDTHH:MM[:SS] timestamp",
    "bool": "a boolean (true/false, 1/0, yes/no)",
}

FILE = "_file"  # position of a row's file in the batch being validated

_UID = "_uid"


@dataclass(frozen=True)
class Check:
    """One rule on one column: ``fails`` is True on the rows that break it."""

    reason: str
    column: str | None
    fails: pl.Expr
    detail: str
    value: pl.Expr | None = None  # offending value as text; default: the column's raw text


def _administered() -> pl.Expr:
    return pl.col(typed_name("status")).is_in(list(ADMINISTERED_STATUSES))


def _limits_text(column: Column) -> str:
    low = f"{column.minimum:g} < x" if column.exclusive_minimum else f"{column.minimum:g} ≤ x"
    return f"outside the hard limits {low} ≤ {column.maximum:g}"


def table_checks(table: Table, present: set[str]) -> list[Check]:
    """Every row check of ``table`` for the columns ``present``, in the order a row's reason is chosen."""
    bad_encoding = pl.col(MALFORMED).str.starts_with(BAD_ENCODING)
    checks: list[Check] = [
        *key_identifier_checks(table, present),
        Check(
            "invalid_encoding",
            None,
            pl.col(MALFORMED).is_not_null() & bad_encoding,
            "the line holds bytes that are not UTF-8 (the file's other lines were read)",
        ),
        Check("malformed_line", None, pl.col(MALFORMED).is_not_null() & ~bad_encoding, "malformed line"),
        Check(
            "duplicate_key",
            table.key,
            pl.col("_dup_key"),
            f"other rows of this file have the same {table.key} but different values",
        ),
    ]
    typed_columns = [c for c in table.columns if c.name in present]
    for c in typed_columns:
        if c.kind in TYPE_WORDS:
            fails = given(c.name) & pl.col(typed_name(c.name)).is_null()
            checks.append(Check("unparsable", c.name, fails, f"cannot be read as {TYPE_WORDS[c.kind]}"))
    for c in typed_columns:
        if c.kind == "enum":
            assert c.enum is not None
            fails = given(c.name) & pl.col(typed_name(c.name)).is_null()
            checks.append(Check("invalid_enum", c.name, fails, f"is not one of {', '.join(c.enum)}"))
    for c in table.columns:
        # empty, not merely unreadable (that row already fails `unparsable`/`invalid_enum`)
        empty = pl.col(typed_name(c.name)).is_null()
        if c.name in present:
            empty = empty & ~given(c.name)
        if c.required == "always":
            checks.append(Check("missing_required", c.name, empty, "a required value is empty"))
        elif c.required == "administered":
            checks.append(
                Check(
                    "missing_required",
                    c.name,
                    empty & _administered(),
                    "required for administered (completed or stopped_early) sessions",
                )
            )
        elif c.required == "administered_iv_im":
            checks.append(
                Check(
                    "missing_required",
                    c.name,
                    empty & _administered() & iv_im(),
                    "required for administered iv/im sessions",
                )
            )
    for c in typed_columns:
        if c.minimum is None and c.maximum is None:
            continue
        v = pl.col(typed_name(c.name))
        low = (v <= c.minimum) if c.exclusive_minimum else (v < c.minimum)
        checks.append(Check("out_of_range", c.name, low | (v > c.maximum), _limits_text(c)))
    checks += _table_rules(table, present)
    return checks


KEY_IDENTIFIER = "|".join(f"(?:{pattern})" for pattern in KEY_IDENTIFIER_PATTERNS.values())


def key_identifier_checks(table: Table, present: set[str]) -> list[Check]:
    """A key column holding an e-mail, phone number or SSN: the row is rejected, the value kept nowhere.

    Runs on the raw text before any other rule, so such a row is never reported under
    another reason (whose reject would keep the value and the raw record).
    """
    return [
        Check(
            "identifier_in_key",
            c.name,
            pl.col(c.name).str.contains(KEY_IDENTIFIER),
            "holds a value shaped like an e-mail address, phone number or SSN; "
            "the value and the row were not kept",
            value=pl.lit(None, pl.String),
        )
        for c in table.columns
        if c.name in present and is_key_column(c.name)
    ]


def pressure_checks(pairs: tuple[tuple[str, str], ...], present: set[str]) -> list[Check]:
    """Diastolic below systolic for each (systolic, diastolic) pair given: any table with pressures."""
    checks = []
    for systolic, diastolic in pairs:
        if {systolic, diastolic} <= present:
            fails = pl.col(typed_name(diastolic)) >= pl.col(typed_name(systolic))
            checks.append(
                Check(
                    "diastolic_not_below_systolic",
                    diastolic,
                    fails,
                    f"{diastolic} is not below {systolic}",
                    value=pl.format("{}/{}", pl.col(systolic), pl.col(diastolic)),
                )
            )
    return checks


def _table_rules(table: Table, present: set[str]) -> list[Check]:
    """The cross-column rules ``contract.Table.rules`` documents, in ``RULE_ORDER``."""
    checks = _value_rules(table, present) + pressure_checks(table.pressure_pairs, present)
    if table.name == "adverse_events" and "outcome" in present:
        grade = pl.col(typed_name("severity_grade"))
        outcome = pl.col(typed_name("outcome"))
        checks += [
            Check("fatal_not_grade_5", "outcome", (outcome == "fatal") & (grade < 5),
                  "outcome fatal needs severity grade 5 (death)",
                  value=pl.format("fatal at grade {}", grade)),
            Check("grade_5_not_fatal", "outcome", (grade == 5) & (outcome != "fatal"),
                  "severity grade 5 (death) needs outcome fatal",
                  value=pl.format("{} at grade 5", outcome)),
        ]  # fmt: skip
    return checks


def _value_rules(table: Table, present: set[str]) -> list[Check]:
    if table.name == "clinics" and "closed_on" in present:
        fails = pl.col(typed_name("closed_on")) < pl.col(typed_name("opened_on"))
        return [Check("closed_before_opened", "closed_on", fails, "closed_on is before opened_on")]
    if table.name == "assessments":
        instrument = pl.col(typed_name("instrument"))
        low = instrument.replace_strict({k: v[0] for k, v in INSTRUMENTS.items()}, default=None)
        high = instrument.replace_strict({k: v[1] for k, v in INSTRUMENTS.items()}, default=None)
        score = pl.col(typed_name("score"))
        fails = (score < low) | (score > high)
        return [Check("out_of_range", "score", fails, "outside the instrument's score range")]
    if table.name == "sessions" and {"dose_mg", "weight_kg"} <= present:
        ratio = dose_per_kg()
        return [
            Check(
                "dose_per_kg_too_high",
                "dose_mg_per_kg",
                ratio > MAX_DOSE_MG_PER_KG,
                f"dose_mg ÷ weight_kg is above {MAX_DOSE_MG_PER_KG:g} mg/kg",
                value=ratio.round(3).cast(pl.String),
            )
        ]
    if table.name == "adverse_events":
        fails = (pl.col(typed_name("severity_grade")) >= 4) & ~pl.col(typed_name("serious"))
        return [Check("grade_not_serious", "serious", fails, "severity grade 4–5 must be marked serious")]
    return []


def mark_duplicates(
    frame: pl.DataFrame, table: Table, present: list[str]
) -> tuple[pl.DataFrame, dict[int, int]]:
    """Collapse rows identical in every contract column; flag every row of a key whose rows differ.

    Both look within one file only (rows of several files are checked together).
    Returns the frame and how many rows each file had collapsed.
    """
    key = pl.col(typed_name(table.key))
    file_key = pl.struct(FILE, typed_name(table.key))
    candidate = key.is_not_null() & pl.col(MALFORMED).is_null()
    distinct, keyed = frame.select(
        file_key.filter(candidate).hash().n_unique().alias("d"), candidate.sum().alias("k")
    ).row(0)
    if distinct == keyed:  # a hash collision only sends us down the exact path below
        return frame.with_columns(pl.lit(False).alias("_dup_key")), {}
    frame = frame.with_row_index(_UID)
    signature = pl.struct(FILE, *present)
    dups = frame.filter(file_key.is_duplicated() & candidate).with_columns(
        (signature.n_unique().over(FILE, key) > 1).alias("_differ"),
        signature.is_first_distinct().alias("_first"),
    )
    collapse = dups.filter(~pl.col("_differ") & ~pl.col("_first"))
    differ = dups.filter("_differ")[_UID]
    frame = (
        frame.filter(~pl.col(_UID).is_in(collapse[_UID].implode()))
        .with_columns(pl.col(_UID).is_in(differ.implode()).alias("_dup_key"))
        .drop(_UID)
    )
    return frame, per_file(collapse[FILE])


def per_file(files: pl.Series) -> dict[int, int]:
    return dict(files.value_counts().iter_rows())
