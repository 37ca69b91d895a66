"""Scope text (access.md's forms) resolved against a database's clinics."""

from __future__ import annotations

import pytest

from dashboard.access.scope import Scope, ScopeError, parse_scope, scope_clinics
from dashboard.db import connect


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("network", Scope("network")),
        ("clinic:C1", Scope("clinics", ("C1",))),
        ("clinic: C1 , C2,C1", Scope("clinics", ("C1", "C2"))),
        ("region:North", Scope("region", ("North",))),
        (["C2", "C1"], Scope("clinics", ("C1", "C2"))),
    ],
)
def test_parse(text, expected):
    assert parse_scope(text) == expected


@pytest.mark.parametrize("text", ["", "clinic:", "C1", "region", "region:", []])
def test_parse_refuses(text):
    with pytest.raises(ScopeError):
        parse_scope(text)


def test_resolve(demo_like_db):
    # demo_like_db's clinics: C1, C2 North; C3, C4 South
    with connect(demo_like_db) as con:
        assert scope_clinics(con, Scope("network")) == ("C1", "C2", "C3", "C4")
        assert scope_clinics(con, Scope("region", ("South",))) == ("C3", "C4")
        assert scope_clinics(con, Scope("clinics", ("C2", "C1"))) == ("C1", "C2")
        with pytest.raises(ScopeError, match="C9"):
            scope_clinics(con, Scope("clinics", ("C1", "C9")))
        with pytest.raises(ScopeError, match="East"):
            scope_clinics(con, Scope("region", ("East",)))
