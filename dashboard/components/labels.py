"""The words shown for export codes: one vocabulary for pickers, charts and tables.

Pickers bound to the URL put these labels in the link (``url_state``), so a label stays
as it is once given: changing one breaks shared links. Tables label their code columns
at presentation time (``labelled``, applied by ``tables.table``); metric functions and
downloads keep the codes (downloads are for analysis, and the codes are the contract's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

from pipelines.contract import (
    ACTIONS,
    AE_CATEGORIES,
    AE_OUTCOMES,
    CONDITIONS,
    DRUG_CLASSES,
    MODALITIES,
    PHASES,
    REASONS,
    ROUTES,
    SESSION_STATUSES,
)

# Contract values whose plain spelling (underscores to spaces, first letter up) reads badly.
WORDS = {
    "nausea_vomiting": "Nausea/vomiting",
    "anxiety_agitation": "Anxiety/agitation",
    "transferred_ed": "Transferred to ED",
    "im": "IM",
    "iv": "IV",
    "kap": "KAP",
    "ptsd": "PTSD",
    "ocd": "OCD",
    "none": "No action",  # the action code "none": a cell reading "None" looks like a missing value
}
# Labels links carried before a label changed: a shared link keeps opening the same view.
EARLIER = {"None": "none"}
# What a table shows for a missing value (the grid's placeholder; never "None").
MISSING = "–"
# Columns that hold contract codes wherever a table shows them.
CODE_COLUMNS = frozenset(
    {
        "category",
        "action_taken",
        "outcome",
        "primary_condition",
        "condition",
        "route",
        "modality",
        "status",
        "phase",
        "drug_class",
    }
)
# Codes that may appear inside a generated text (a review item's title): those with an
# underscore, which no plain word has, so replacing them cannot touch other words.
_IN_TEXT = sorted(
    {
        c
        for c in (
            *ACTIONS,
            *AE_CATEGORIES,
            *AE_OUTCOMES,
            *CONDITIONS,
            *DRUG_CLASSES,
            *MODALITIES,
            *PHASES,
            *ROUTES,
            *SESSION_STATUSES,
        )
        if "_" in c
    },
    key=len,
    reverse=True,
)
_CODE_IN_TEXT = re.compile(r"\b(" + "|".join(map(re.escape, _IN_TEXT)) + r")\b")


def label(value: str) -> str:
    """``medication_given`` → ``Medication given``: the label in pickers, charts, tables and the URL."""
    return WORDS.get(value, value.replace("_", " ").capitalize())


def in_text(text: str) -> str:
    """A generated text with the codes in it labelled, in lower case mid-sentence
    (``Serious AE: nausea_vomiting, grade 3`` → ``Serious AE: nausea/vomiting, grade 3``)."""
    return _CODE_IN_TEXT.sub(lambda m: _mid_sentence(label(m.group(1))), text)


def _mid_sentence(word: str) -> str:
    """A label's first letter lowered unless the word is an abbreviation (``Transferred to ED``)."""
    head = word.split(" ", 1)[0].split("/", 1)[0]
    return word if head.isupper() else word[0].lower() + word[1:]


def labelled(df: pl.DataFrame, columns: Iterable[str] | None = None) -> pl.DataFrame:
    """``df`` with its code columns (``CODE_COLUMNS`` by default) shown as labels; nulls stay null.

    Only text columns change; a value is labelled once per distinct value, not per row.
    """
    names = CODE_COLUMNS if columns is None else set(columns)
    text = [c for c, t in df.schema.items() if c in names and (t == pl.String or t == pl.Categorical)]
    if not text:
        return df
    return df.with_columns(
        pl.col(c).cast(pl.String).replace_strict(_mapping(df[c]), default=None, return_dtype=pl.String)
        for c in text
    )


def with_meaning(df: pl.DataFrame) -> pl.DataFrame:
    """Rejected rows with a ``meaning`` column after the ``reason`` code (the code stays: the
    validator's documentation and ``ketaops`` use it)."""
    meaning = pl.col("reason").replace_strict(REASONS, default=None, return_dtype=pl.String).alias("meaning")
    at = df.columns.index("reason") + 1
    return df.with_columns(meaning).select(*df.columns[:at], "meaning", *df.columns[at:])


def _mapping(column: pl.Series) -> dict[str, str]:
    """Codes are lower case; a value already labelled (``IV``, ``Nausea/vomiting``) stays as it is."""
    return {v: label(v) if v.islower() else v for v in column.cast(pl.String).drop_nulls().unique().to_list()}
