"""Validate export files against the contract: typed accepted rows, one reject per bad row.

Every rule is a vectorised Polars expression over the rows of many files at once (no
per-row Python). A row's reject names its *first* failing rule in ``RULE_ORDER``; the
message says how many other problems the row has. ``validate_file`` never raises for
bad data: an unexpected error becomes an ``unreadable_file`` reject. ``batch`` reads and
groups the files; ``headers``, ``typed``, ``rules`` and ``rejects`` hold the steps.
"""

from pipelines.validate.batch import Batch, FileResult, validate_batch, validate_file
from pipelines.validate.rules import RULE_ORDER

__all__ = ["RULE_ORDER", "Batch", "FileResult", "validate_batch", "validate_file"]
