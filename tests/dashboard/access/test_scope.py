"""Scopes: parsing, resolution against the clinics table, and out-of-scope requests."""

from __future__ import annotations

import pytest

from dashboard.access.scope import Scope, ScopeError, parse_scope, split_requested
from dashboard.access.viewer import Permission, Viewer

REGIONS = {"A1": "North", "A2": "North", "B1": "South", "C1": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("network", ("A1", "A2", "B1", "C1")),
        ("region:North", ("A1", "A2")),
        ("region:South", ("B1",)),
        ("clinic:B1", ("B1",)),
        (["B1", "A1", "B1"], ("A1", "B1")),
    ],
)
def test_a_scope_resolves_to_its_clinics(text, expected):
    assert parse_scope(text).resolve(REGIONS) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("region:West", "no region 'West'"),
        ("clinic:Z9", "no clinic 'Z9'"),
        (["A1", "Z9"], "no clinic 'Z9'"),
    ],
)
def test_a_scope_naming_what_does_not_exist_is_refused(text, message):
    with pytest.raises(ScopeError, match=message):
        parse_scope(text).resolve(REGIONS)


@pytest.mark.parametrize("text", ["", "networks", "region:", "clinic:", [], [""], 42])
def test_malformed_scopes_are_refused(text):
    with pytest.raises(ScopeError):
        parse_scope(text)


def test_labels_read_back_as_the_same_scope():
    for scope in (Scope("network"), Scope("region", ("North",)), Scope("clinics", ("B1",))):
        assert parse_scope(scope.label) == scope


def test_requested_clinics_split_into_inside_and_outside():
    assert split_requested(("A1", "A2"), ["A2", "B1", "Z9"]) == (("A2",), ("B1", "Z9"))


def test_permissions_follow_the_role_and_network_scope_reads_the_audit_log():
    def viewer(role: str, scope: Scope) -> Viewer:
        return Viewer("x@y.example", "X", role, scope, ())

    director = viewer("director", Scope("clinics", ("A1",)))
    assert director.can(Permission.PAGES)
    assert not director.can(Permission.ROW_DETAIL) and not director.can(Permission.ROW_DOWNLOADS)
    assert not director.can(Permission.AUDIT) and not director.can(Permission.DATA_PAGE)
    quality = viewer("quality", Scope("region", ("South",)))
    assert quality.can(Permission.ROW_DETAIL) and quality.can(Permission.ROW_DOWNLOADS)
    assert not quality.can(Permission.DATA_PAGE)
    ops = viewer("ops", Scope("clinics", ("A1",)))
    assert ops.can(Permission.DATA_PAGE) and ops.can(Permission.AUDIT)
    assert not ops.can(Permission.ROW_DOWNLOADS)
    assert viewer("director", Scope("network")).can(Permission.AUDIT)
