"""The rules fixture as a database (``outcome_rows.rules_fixture``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.dashboard.metrics.outcomes.outcome_rows import rules_fixture


@pytest.fixture
def rules_db(make_db: Callable[[dict], Path]) -> Path:
    return make_db(rules_fixture().rows)
