"""The load step of a refresh: validated files into the database being built.

``loader`` stages each table's files and applies them (foreign keys, corrections);
``numbering`` derives the per-patient columns; ``key_hashes`` is the index of stored keys
the loader looks keys up in; ``bookkeeping`` records what a run read and touched;
``schema`` creates this version's tables. Support for databases written by older
versions is in ``pipelines.compat``.
"""

from pipelines.load.bookkeeping import (
    files_to_check,
    record_files,
    record_unread,
    same_unread,
    touch_mtimes,
    update_freshness,
)
from pipelines.load.loader import FileLoad, TableLoader
from pipelines.load.schema import ensure_schema, schema_is_current

__all__ = [
    "FileLoad",
    "TableLoader",
    "ensure_schema",
    "files_to_check",
    "record_files",
    "record_unread",
    "same_unread",
    "schema_is_current",
    "touch_mtimes",
    "update_freshness",
]
