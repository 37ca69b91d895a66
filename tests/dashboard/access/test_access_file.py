"""The access file: entries, first match wins, and every refusal with its line and reason."""

from __future__ import annotations

import pytest

from dashboard.access.access_file import AccessFileError, parse_access
from dashboard.access.scope import Scope

REGIONS = {"CLN-N1": "North", "CLN-N2": "North", "CLN-S1": "South", "CLN-S2": "South"}

GOOD = """\
[[user]]
email = "Medical.Director@Network.example"
role = "director"
scope = "network"

[[user]]
email = "lead.north1@network.example"
role = "director"
scope = "clinic:CLN-N1"

[[user]]
email = "quality@network.example"
role = "quality"
scope = "region:South"

[[group]]
claim = "groups"
value = "ketaops-ops"
role = "ops"
scope = ["CLN-N2", "CLN-S1"]
"""


def test_a_good_file_parses_in_order_with_each_entry_line():
    access = parse_access(GOOD, REGIONS)
    assert [(e.kind, e.line, e.role) for e in access.entries] == [
        ("user", 1, "director"),
        ("user", 6, "director"),
        ("user", 11, "quality"),
        ("group", 16, "ops"),
    ]
    assert access.entries[1].scope == Scope("clinics", ("CLN-N1",))
    assert access.entries[2].scope == Scope("region", ("South",))
    assert access.entries[3].scope == Scope("clinics", ("CLN-N2", "CLN-S1"))


def test_email_matches_case_insensitively_and_an_unverified_email_does_not():
    access = parse_access(GOOD, REGIONS)
    assert access.match({"email": "medical.director@NETWORK.example"}).line == 1
    assert access.match({"email": "medical.director@network.example", "email_verified": False}) is None
    assert access.match({"email": "someone.else@network.example"}) is None


def test_group_claims_match_as_a_list_or_a_string():
    access = parse_access(GOOD, REGIONS)
    assert access.match({"email": "x@network.example", "groups": ["staff", "ketaops-ops"]}).line == 16
    assert access.match({"email": "x@network.example", "groups": "ketaops-ops"}).line == 16
    assert access.match({"email": "x@network.example", "groups": ["ketaops-opsx"]}) is None


def test_the_first_matching_entry_wins():
    text = GOOD + '\n[[user]]\nemail = "lead.north1@network.example"\nrole = "quality"\nscope = "network"\n'
    access = parse_access(text, REGIONS)
    entry = access.match({"email": "lead.north1@network.example"})
    assert (entry.line, entry.role, entry.scope.label) == (6, "director", "clinic:CLN-N1")


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        # an unknown key in an entry: reported on that key's line
        ('[[user]]\nemail = "a@b.example"\nrole = "director"\nscopes = "network"\n', 4, "unknown key"),
        # an unknown role, on the role's line
        ('[[user]]\nemail = "a@b.example"\n\nrole = "admin"\nscope = "network"\n', 4, "unknown role 'admin'"),
        # a malformed e-mail (no domain)
        ('[[user]]\nemail = "lead.north1"\nrole = "director"\nscope = "network"\n', 2, "malformed e-mail"),
        # a display name pasted with the address
        ('[[user]]\nemail = "Lead <l@n.example>"\nrole = "director"\nscope = "network"\n', 2, "malformed"),
        # a clinic the clinics table does not have, on the scope's line of the second entry
        (
            '[[user]]\nemail = "a@b.example"\nrole = "director"\nscope = "network"\n\n'
            '[[user]]\nemail = "c@b.example"\nrole = "director"\nscope = "clinic:CLN-X9"\n',
            9,
            "no clinic 'CLN-X9'",
        ),
        # a region that does not exist
        (
            '[[group]]\nclaim = "groups"\nvalue = "q"\nrole = "quality"\nscope = "region:East"\n',
            5,
            "no region",
        ),
        # a list naming one unknown clinic
        (
            '[[user]]\nemail = "a@b.example"\nrole = "ops"\nscope = ["CLN-N1", "CLN-Q"]\n',
            4,
            "no clinic 'CLN-Q'",
        ),
        # a scope of another form
        ('[[user]]\nemail = "a@b.example"\nrole = "ops"\nscope = "everything"\n', 4, "is not network"),
        # a missing key: reported on the entry's header
        ('\n[[user]]\nemail = "a@b.example"\nrole = "ops"\n', 2, "needs 'scope'"),
        # an unknown top-level table
        (
            '[[user]]\nemail = "a@b.example"\nrole = "ops"\nscope = "network"\n\n[[admin]]\nemail = "x"\n',
            6,
            "unknown",
        ),
        # not TOML at all: tomllib's own line
        ('[[user]]\nemail = "a@b.example"\nrole = ops\n', 3, "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_with_its_line_and_reason(text, line, reason):
    with pytest.raises(AccessFileError) as caught:
        parse_access(text, REGIONS, source="access.toml")
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"access.toml line {line}: ")
