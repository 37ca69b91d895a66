"""The export contract (v2 rules) as code: the single source of truth.

The reader, the validator, the loader, the demo generator and
``docs/export-contract.md`` (checked by a test) all read these declarations,
so the contract cannot drift between them. Source: ``shared/spec/export-contract.md``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "int", "float", "date", "timestamp", "bool", "enum"]
# When a column is required: always, never, only for administered sessions,
# or only for administered iv/im sessions (weight is meaningless intranasally).
Requirement = Literal["always", "never", "administered", "administered_iv_im"]

DUCKDB_TYPES: dict[Kind, str] = {
    "text": "VARCHAR",
    "int": "INTEGER",
    "float": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
    "enum": "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: Requirement = "never"
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] | None = None
    default: str | int | float | bool | None = None
    references: str | None = None  # table whose key this column must match
    doc: str = ""
    exclusive_minimum: bool = False  # minimum itself is out of range (dose_mg: 0 < x)

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.kind]


@dataclass(frozen=True)
class Derived:
    """A column computed on load, published beside the canonical ones."""

    name: str
    kind: Kind
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[Column, ...]
    derived: tuple[Derived, ...] = ()
    rules: tuple[str, ...] = ()  # cross-column rules, documented; enforced in validate/rules.py
    # (systolic, diastolic) column pairs: where both are given, diastolic < systolic
    pressure_pairs: tuple[tuple[str, str], ...] = ()
    doc: str = ""
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def published_columns(self) -> list[tuple[str, str]]:
        """(name, DuckDB type) of every published column, canonical then derived."""
        cols = [(c.name, c.duckdb_type) for c in self.columns]
        cols += [(d.name, DUCKDB_TYPES[d.kind]) for d in self.derived]
        return cols

    @property
    def foreign_keys(self) -> dict[str, str]:
        return {c.name: c.references for c in self.columns if c.references}


# --- Enumerations ---------------------------------------------------------------------

SEXES = ("F", "M", "X", "U")
AGE_BANDS = ("<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-84", "85-89", "90+")
CONDITIONS = (
    "depression",
    "bipolar_depression",
    "anxiety",
    "ptsd",
    "ocd",
    "alcohol_use",
    "opioid_use",
    "other_substance_use",
    "chronic_pain",
    "migraine",
    "other",
)
SESSION_STATUSES = ("completed", "stopped_early", "cancelled", "no_show")
ADMINISTERED_STATUSES = ("completed", "stopped_early")
PHASES = ("induction", "maintenance")
ROUTES = ("iv", "im", "intranasal")
MODALITIES = ("infusion", "kap")
# instrument -> (min, max) score
INSTRUMENTS: dict[str, tuple[float, float]] = {
    "phq9": (0, 27),
    "madrs": (0, 60),
    "qids_sr16": (0, 27),
    "gad7": (0, 21),
    "pcl5": (0, 80),
    "ybocs": (0, 40),
    "craving_vas": (0, 100),
    "pain_nrs": (0, 10),
    "migraine_days": (0, 31),
    "cssrs_ideation": (0, 5),
}
AE_CATEGORIES = (
    "dissociation",
    "hallucinations",
    "confusion",
    "anxiety_agitation",
    "sedation",
    "dizziness",
    "headache",
    "nausea_vomiting",
    "hypertension",
    "tachycardia",
    "respiratory_depression",
    "blurred_vision",
    "urinary",
    "misuse",
    "other",
)
ACTIONS = (
    "none",
    "monitored",
    "infusion_paused",
    "dose_reduced",
    "infusion_stopped",
    "medication_given",
    "transferred_ed",
)
AE_OUTCOMES = ("resolved", "resolving", "not_resolved", "fatal", "unknown")

# Hard limit on the derived dose for iv/im sessions: above it the row is garbled.
MAX_DOSE_MG_PER_KG = 5.0

# --- Tables ---------------------------------------------------------------------------

CLINICS = Table(
    name="clinics",
    key="clinic_id",
    doc="One row per clinic of the network.",
    columns=(
        Column("clinic_id", "text", "always"),
        Column("clinic_name", "text", "always"),
        Column("region", "text", "always"),
        Column("opened_on", "date", "always"),
        Column("closed_on", "date", doc="≥ opened_on"),
        Column("chairs", "int", "always", 1, 50, doc="infusion chairs"),
        Column("hours_per_day", "float", "never", 1, 24, default=10.0, doc="open hours, for utilisation"),
    ),
    rules=("closed_on ≥ opened_on (`closed_before_opened`)",),
)

PATIENT_NUMBER = Derived(
    "patient_no",
    "int",
    "the patient's number in this database (1, 2, … in order of first load; kept through corrections): "
    "the refresh finds a patient's rows, and pages count patients, by a 4-byte integer instead of "
    "the pseudonym (never shown)",
)

PATIENTS = Table(
    name="patients",
    key="patient_key",
    doc="One row per patient, keyed by a network-wide pseudonym.",
    columns=(
        Column("patient_key", "text", "always", doc="network-wide pseudonym"),
        Column("home_clinic_id", "text", "always", references="clinics"),
        Column("sex", "enum", "always", enum=SEXES),
        Column("age_band", "enum", "always", enum=AGE_BANDS),
        Column("primary_condition", "enum", "always", enum=CONDITIONS),
        Column("enrolled_on", "date", "always"),
    ),
    derived=(PATIENT_NUMBER,),
)

SESSIONS = Table(
    name="sessions",
    key="session_id",
    doc="One row per scheduled treatment session, whatever its status.",
    columns=(
        Column("session_id", "text", "always"),
        Column("patient_key", "text", "always", references="patients"),
        Column("clinic_id", "text", "always", references="clinics"),
        Column("scheduled_at", "timestamp", "always"),
        Column("status", "enum", "always", enum=SESSION_STATUSES),
        Column("phase", "enum", "always", enum=PHASES),
        Column("route", "enum", "never", enum=ROUTES, default="iv"),
        Column("modality", "enum", "never", enum=MODALITIES, default="infusion"),
        Column(
            "dose_mg",
            "float",
            "administered",
            0,
            1000,
            doc="total mg given; 0 < x ≤ 1000",
            exclusive_minimum=True,
        ),
        Column("weight_kg", "float", "administered_iv_im", 25, 350),
        Column("duration_min", "int", "administered", 1, 600, doc="minutes of administration"),
        Column("recovery_min", "int", "never", 0, 600, doc="end of administration to discharge"),
        Column("bp_sys_pre", "int", "never", 50, 300),
        Column("bp_sys_max", "int", "never", 50, 300),
        Column("bp_dia_pre", "int", "never", 20, 200),
        Column("bp_dia_max", "int", "never", 20, 200),
        Column("hr_pre", "int", "never", 20, 250),
        Column("hr_max", "int", "never", 20, 250),
        Column("spo2_min", "int", "never", 50, 100),
    ),
    derived=(
        Derived("dose_mg_per_kg", "float", "dose_mg ÷ weight_kg for iv/im; > 5 is rejected"),
        Derived(
            "session_number",
            "int",
            "1, 2, … over the patient's administered sessions in time order, network-wide; null otherwise",
        ),
        Derived(
            "primary_condition",
            "enum",
            "the patient's primary_condition, kept equal to the patients row on every load "
            "(condition filters select sessions without joining a million patients)",
        ),
        PATIENT_NUMBER,
    ),
    rules=(
        "dose_mg > 0 (`out_of_range`: a negative dose is garbled, never a protocol deviation)",
        "administered = status completed or stopped_early",
        "dose_mg_per_kg ≤ 5 for iv/im (`dose_per_kg_too_high`)",
        "bp_dia_pre < bp_sys_pre and bp_dia_max < bp_sys_max where both are given "
        "(`diastolic_not_below_systolic`)",
    ),
    pressure_pairs=(("bp_sys_pre", "bp_dia_pre"), ("bp_sys_max", "bp_dia_max")),
)

ASSESSMENTS = Table(
    name="assessments",
    key="assessment_id",
    doc="One row per outcome score.",
    columns=(
        Column("assessment_id", "text", "always"),
        Column("patient_key", "text", "always", references="patients"),
        Column("clinic_id", "text", "always", references="clinics"),
        Column("instrument", "enum", "always", enum=tuple(INSTRUMENTS)),
        Column("score", "float", "always", doc="within the instrument's range"),
        Column("assessed_at", "timestamp", "always"),
        Column("session_id", "text", "never", references="sessions"),
    ),
    derived=(PATIENT_NUMBER,),
    rules=("score within the instrument's range (`out_of_range`)",),
)

ADVERSE_EVENTS = Table(
    name="adverse_events",
    key="ae_id",
    doc="One row per adverse event.",
    columns=(
        Column("ae_id", "text", "always"),
        Column("patient_key", "text", "always", references="patients"),
        Column("clinic_id", "text", "always", references="clinics"),
        Column("session_id", "text", "never", references="sessions"),
        Column("onset_at", "timestamp", "always"),
        Column("category", "enum", "always", enum=AE_CATEGORIES),
        Column("severity_grade", "int", "always", 1, 5, doc="CTCAE: 1 mild … 5 death"),
        Column("serious", "bool", "always", doc="21 CFR 312.32; grade 4–5 must be serious"),
        Column("action_taken", "enum", "always", enum=ACTIONS),
        Column("outcome", "enum", "never", enum=AE_OUTCOMES),
        Column("description", "text", "never", doc="free text; identifiers redacted on load"),
    ),
    derived=(
        Derived(
            "primary_condition",
            "enum",
            "the patient's primary_condition, kept equal to the patients row on every load "
            "(condition filters select adverse events without joining a million patients)",
        ),
    ),
    rules=(
        "severity_grade 4–5 ⇒ serious (`grade_not_serious`)",
        "outcome fatal ⇒ severity_grade 5 (`fatal_not_grade_5`)",
        "severity_grade 5 ⇒ outcome fatal where an outcome is given (`grade_5_not_fatal`)",
    ),
)

# Load order: a table's foreign keys point only to tables earlier in this tuple.
TABLES: tuple[Table, ...] = (CLINICS, PATIENTS, SESSIONS, ASSESSMENTS, ADVERSE_EVENTS)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
# Tables on which the loader keeps a copy of the patient's primary_condition (a derived column).
CONDITION_COPIES: tuple[str, ...] = tuple(
    t.name for t in TABLES if any(d.name == "primary_condition" for d in t.derived)
)
# Tables whose rows carry the patient's number (``PATIENT_NUMBER``: the patients row's, copied on load).
NUMBER_COPIES: tuple[str, ...] = tuple(
    t.name for t in TABLES if t.name != "patients" and PATIENT_NUMBER in t.derived
)
# Every column the loader copies from a row's patients row, with the tables that carry it.
PATIENT_COPIES: dict[str, tuple[str, ...]] = {
    "primary_condition": CONDITION_COPIES,
    "patient_no": NUMBER_COPIES,
}

# --- Reject reasons -------------------------------------------------------------------

REASONS: dict[str, str] = {
    # row-level
    "unparsable": "value cannot be read as the column's type",
    "missing_required": "a required value is empty",
    "out_of_range": "value outside the contract's hard limits",
    "invalid_enum": "value is not one of the column's allowed values",
    "unknown_fk": "refers to a record that does not exist",
    "duplicate_key": "rows in one file share a key but differ",
    "dose_per_kg_too_high": "derived dose per kg above 5 mg/kg",
    "closed_before_opened": "closed_on is before opened_on",
    "grade_not_serious": "severity grade 4–5 must be serious",
    "malformed_line": "CSV line has the wrong number of fields or bad quoting",
    "invalid_encoding": "CSV line holds bytes that are not UTF-8; the file's other lines load",
    "identifier_in_key": "a key column holds a value shaped like an e-mail, phone number or SSN; "
    "the value is stored nowhere",
    "diastolic_not_below_systolic": "a diastolic pressure is not below its systolic pressure",
    "fatal_not_grade_5": "outcome fatal but severity grade below 5 (grade 5 is death)",
    "grade_5_not_fatal": "severity grade 5 (death) with an outcome other than fatal",
    # file-level
    "empty_file": "file has no bytes or no rows",
    "no_header": "first line is not a header naming the contract's columns",
    "wrong_delimiter": "file is not comma-separated",
    "missing_column": "a required column is absent from the file",
    "unreadable_file": "file cannot be read as UTF-8 CSV or Parquet",
    "duplicate_column": "two columns of the file name the same contract column",
    "identifier_column": "file has a column named like a direct identifier; nothing of it was kept",
    # files that are not read (retried by every refresh, reported by `ketaops status`)
    "read_error": "file could not be read (permission denied, vanished mid-run, I/O error); "
    "tried again by every refresh",
    "outside_exports": "symlink that resolves outside the exports folder; not read",
    "broken_link": "symlink whose target does not exist",
    "not_a_file": "special file (FIFO, socket, device): not read",
}
# File-level reasons of files never read: not recorded as seen, so every refresh tries them again.
UNREAD_REASONS = frozenset({"read_error", "outside_exports", "broken_link", "not_a_file"})
FILE_LEVEL_REASONS = frozenset(
    {
        "empty_file",
        "no_header",
        "wrong_delimiter",
        "missing_column",
        "unreadable_file",
        "duplicate_column",
        "identifier_column",
        *UNREAD_REASONS,
    }
)

# --- De-identification guard ------------------------------------------------------------

# Normalised column names (lower case, non-alphanumerics → "_") that reject a whole file.
IDENTIFIER_COLUMNS: frozenset[str] = frozenset(
    {
        "name",
        "first_name",
        "firstname",
        "last_name",
        "lastname",
        "surname",
        "full_name",
        "fullname",
        "patient_name",
        "dob",
        "date_of_birth",
        "birth_date",
        "birthdate",
        "ssn",
        "social_security_number",
        "mrn",
        "medical_record_number",
        "email",
        "e_mail",
        "email_address",
        "phone",
        "phone_number",
        "mobile",
        "telephone",
        "address",
        "street",
        "street_address",
        "zip",
        "zip_code",
        "zipcode",
        "postal_code",
        "postcode",
        "ip_address",
        "insurance_id",
        "insurance_number",
        "member_id",
    }
)
# Tokens of a column name (camelCase split, punctuation and blanks folded) that make it an
# identifier column wherever they appear: ``PhoneNumber``, ``Cell Phone``, ``patient_mrn``.
IDENTIFIER_TOKENS: frozenset[str] = frozenset(
    {"dob", "birthday", "birthdate", "ssn", "mrn", "email", "mail", "phone", "mobile", "telephone",
     "address", "street", "zip", "zipcode", "postcode", "surname", "firstname", "lastname",
     "fullname", "givenname", "forename"}
)  # fmt: skip
# Pairs of tokens that name an identifier together: ``Date of Birth``, ``Given Name``, ``Social Security``.
IDENTIFIER_TOKEN_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {("date", "birth"), ("birth", "date"), ("first", "name"), ("last", "name"), ("given", "name"),
     ("family", "name"), ("full", "name"), ("middle", "name"), ("maiden", "name"), ("patient", "name"),
     ("social", "security"), ("medical", "record"), ("postal", "code"), ("zip", "code"), ("ip", "address"),
     ("insurance", "id"), ("insurance", "number"), ("member", "id"), ("record", "number")}
)  # fmt: skip
# Run together without separators (``emailaddress``, ``dateofbirth``): matched inside the name.
IDENTIFIER_FRAGMENTS: tuple[str, ...] = (
    "email", "phone", "dateofbirth", "birthdate", "birthday", "socialsecurity", "address",
    "firstname", "lastname", "surname", "fullname", "givenname", "familyname", "patientname",
    "medicalrecord", "postalcode", "zipcode", "insuranceid", "memberid",
)  # fmt: skip
# Free-text patterns replaced by ``[redacted:<kind>]`` in ``description``, applied in this order
# (e-mail first, so an address full of digits is not half taken for a phone number; the
# labelled forms before the bare numbers they contain).
REDACTION_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    # a date next to DOB / born / birth: 1985-03-02, 03/02/1985, 2 March 1985, March 2, 1985
    "dob": r"(?i)\b(?:d\.?o\.?b\.?|born(?:\s+on)?|birth\s*date|birthday|date\s+of\s+birth)"
    r"\s*[:#-]?\s*(?:\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
    r"|\d{1,2}\s+[A-Za-z]{3,9}\.?,?\s+\d{4}|[A-Za-z]{3,9}\.?\s+\d{1,2},?\s+\d{4})",
    # medical record numbers: MRN 123456, MR# 4455, chart no. 12345, medical record number 998877
    "mrn": r"(?i)(?:\bmrn\b|\bmr\s*#|\bmr\s+no\b\.?|\bchart\s*(?:no\b\.?|number\b|#)|\bchart\b"
    r"|\bmedical\s+record(?:\s+(?:no\b\.?|number\b|#))?)\s*[:#]?\s*\d{3,}",
    # SSNs: 3-2-4 digits with dashes, dots, blanks or en dashes; nine digits next to SSN / social
    "ssn": r"(?i)\b(?:ssn|social(?:\s+security)?(?:\s+(?:no\b\.?|number\b|#))?)\s*[:#]?\s*\d{9}\b"
    r"|\b\d{3}[-–. ]\d{2}[-–. ]\d{4}\b",
    # North American numbers, any number written with a +country code (e.g. +44 20 7946 0958),
    # and 7-digit local numbers written with a dash or dot (555-0199)
    "phone": r"\+\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){2,6}\b"
    r"|(?:\+?\d{1,2}[\s.-]?)?(?:\(\d{3}\)|\b\d{3})[\s.-]?\d{3}[\s.-]?\d{4}\b"
    r"|\b\d{3}[-.]\d{4}\b",
}
FREE_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {"adverse_events": ("description",)}
# Values of key columns shaped like a direct identifier: the row is rejected (``identifier_in_key``)
# and the value stored nowhere. Stricter than free text in one way (SSNs and phone numbers need
# their separators: a bare 9- or 10-digit key is a legitimate numeric pseudonym).
KEY_IDENTIFIER_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "ssn": r"(?:^|[^0-9])\d{3}[-–. ]\d{2}[-–. ]\d{4}(?:$|[^0-9])",
    "phone": r"\+\d{1,3}[\s.-]?\(?\d{1,5}\)?(?:[\s.-]?\d{2,5}){2,4}(?:$|[^0-9])"
    r"|(?:^|[^0-9])(?:\(\d{3}\)\s?|\d{3}[\s.–-])\d{3}[\s.–-]\d{4}(?:$|[^0-9])",
}


def is_key_column(name: str) -> bool:
    """Every ``*_key`` and ``*_id`` column is a key: pseudonyms and record ids, never identifiers."""
    return name.endswith(("_key", "_id"))


def normalise_column_name(name: str) -> str:
    """Lower case, surrounding blanks dropped, other non-alphanumerics folded to ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def column_tokens(name: str) -> list[str]:
    """Words of a column name, camelCase split, punctuation folded: ``DateOfBirth`` → date, of, birth."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name.strip())
    return [t for t in re.split(r"[^0-9a-z]+", spaced.lower()) if t]


_CONTRACT_COLUMNS: frozenset[str] = frozenset()  # filled once the tables exist (below)


def is_identifier_column(name: str, table: Table) -> bool:
    """Whether a file column is named like a direct identifier (the contract's own never are)."""
    norm = normalise_column_name(name)
    if norm in table.by_name or norm in _CONTRACT_COLUMNS:
        return False
    if norm in IDENTIFIER_COLUMNS:
        return True
    tokens = column_tokens(name)
    if any(t in IDENTIFIER_TOKENS for t in tokens):
        return True
    if any(pair in IDENTIFIER_TOKEN_PAIRS for pair in itertools.pairwise(tokens)):
        return True
    # "date of birth": a pair across a small word
    if any(pair in IDENTIFIER_TOKEN_PAIRS for pair in zip(tokens, tokens[2:], strict=False)):
        return True
    compact = "".join(tokens)
    return any(fragment in compact for fragment in IDENTIFIER_FRAGMENTS)


def table_for_file(rel_path: str) -> Table | None:
    """The table a file feeds, from the start of its base name (longest name wins)."""
    base = rel_path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for table in _LONGEST_NAME_FIRST:
        if base.startswith(table.name):
            return table
    return None


_LONGEST_NAME_FIRST = sorted(TABLES, key=lambda t: -len(t.name))  # asked once per file: ~60,000 a full load
_CONTRACT_COLUMNS = frozenset(c.name for t in TABLES for c in t.columns)


# --- Bookkeeping tables published beside the data -------------------------------------

BOOKKEEPING_DDL: dict[str, str] = {
    "rejected_rows": """
        CREATE TABLE IF NOT EXISTS rejected_rows (
            run_id VARCHAR NOT NULL, table_name VARCHAR, source_file VARCHAR NOT NULL,
            row_number BIGINT, reason VARCHAR NOT NULL, column_name VARCHAR,
            value VARCHAR, raw_record VARCHAR, message VARCHAR NOT NULL)""",
    "source_files": """
        CREATE TABLE IF NOT EXISTS source_files (
            path VARCHAR NOT NULL, content_hash VARCHAR NOT NULL, table_name VARCHAR,
            rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT,
            duplicates_collapsed BIGINT, unknown_columns VARCHAR, status VARCHAR,
            run_id VARCHAR NOT NULL, seen_at TIMESTAMP, file_mtime TIMESTAMP)""",
    "refresh_runs": """
        CREATE TABLE IF NOT EXISTS refresh_runs (
            run_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, finished_at TIMESTAMP,
            status VARCHAR, files_read BIGINT, files_skipped BIGINT, rows_loaded BIGINT,
            rows_rejected BIGINT, redactions BIGINT, message VARCHAR)""",
    # the files the last build could not read (rewritten by every run that builds): retried
    # by every refresh, reported by ``ketaops status`` until they read
    "unread_files": """
        CREATE TABLE IF NOT EXISTS unread_files (
            path VARCHAR NOT NULL, reason VARCHAR NOT NULL, message VARCHAR,
            run_id VARCHAR NOT NULL, seen_at TIMESTAMP)""",
    "clinic_freshness": """
        CREATE TABLE IF NOT EXISTS clinic_freshness (
            clinic_id VARCHAR PRIMARY KEY, newest_data_date DATE,
            last_file_at TIMESTAMP, last_file VARCHAR)""",
}


def per_row_ids(table: Table) -> tuple[str, ...]:
    """Columns with about one distinct value per row: the table's key and its references to a session.

    DuckDB's default string compression tries a dictionary and FSST on every segment of them,
    for no gain; zstd stores them about as small for less CPU at every insert and checkpoint
    (9M assessments: 7.8 -> 5.4 CPU-s, +20 MB of 458 MB with the sessions; docs/performance.md).
    """
    return tuple(c.name for c in table.columns if c.name == table.key or c.references == "sessions")


def data_table_ddl(table: Table, name: str | None = None) -> str:
    """``CREATE TABLE`` of a data table, under ``name`` if given (a copy being rewritten)."""
    zstd = per_row_ids(table)
    cols = ", ".join(
        f"{column} {typ}" + (" USING COMPRESSION zstd" if column in zstd else "")
        for column, typ in table.published_columns
    )
    # No PRIMARY KEY: DuckDB's ART index costs memory at 10M rows and the loader
    # already guarantees one row per key (replace = delete + insert).
    return f"CREATE TABLE IF NOT EXISTS {name or table.name} ({cols})"


def schema_ddl() -> list[str]:
    """Every CREATE statement of the published database, in dependency order."""
    return [data_table_ddl(t) for t in TABLES] + list(BOOKKEEPING_DDL.values())
