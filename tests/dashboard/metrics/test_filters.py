"""The viewer's filters as values: equal selections must be equal (they are cache keys)."""

from __future__ import annotations

from datetime import date

from dashboard.metrics.filters import Filters


def test_filters_are_sets_so_one_selection_in_any_order_is_one_cache_key() -> None:
    a = Filters(date(2026, 1, 1), date(2026, 1, 31), ("B", "A", "B"), regions=("South", "North"))
    b = Filters(date(2026, 1, 1), date(2026, 1, 31), ("A", "B"), regions=("North", "South"))
    assert a == b and hash(a) == hash(b)
    assert a.clinic_ids == ("A", "B") and a.regions == ("North", "South")
    assert a.with_clinics(("C", "A")).clinic_ids == ("A", "C")
    assert a != a.with_clinics(("A",))
