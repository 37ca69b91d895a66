"""The sign-in gate in the app: sign-in page, "no access", a scoped viewer's pages, the audit rows."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.access import audit_log
from tests.dashboard.conftest import APP, chart_specs, texts

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "ketaops",
    "client_secret": "s3cret",
    "server_metadata_url": "http://localhost:9/.well-known/openid-configuration",
}
ACCESS = """\
[[user]]
email = "lead.c1@network.example"
role = "director"
scope = "clinic:C1"

[[user]]
email = "ops@network.example"
role = "ops"
scope = "region:South"
"""


@pytest.fixture
def site(tmp_path: Path, demo_like_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "ketaops.duckdb"
    shutil.copy(demo_like_db, db)
    (tmp_path / "access.toml").write_text(ACCESS)
    monkeypatch.setenv("KETAOPS_DB", str(db))
    monkeypatch.delenv("KETAOPS_ACCESS", raising=False)
    return db


def _app(user: dict | None, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False} if user is None else {"is_logged_in": True, **user}
    at.query_params.update(query)
    return at.run()


def test_not_signed_in_shows_the_sign_in_page_only(site):
    at = _app(None)
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.sidebar.multiselect  # no filters, no page
    assert not audit_log.read(audit_log.audit_path(site))


def test_an_unknown_user_sees_no_access_and_the_attempt_is_audited(site):
    at = _app({"email": "stranger@elsewhere.example"})
    assert not at.exception
    assert at.title[0].value == "No access"
    assert "Harbor" not in texts(at) and not at.sidebar.multiselect
    rows = audit_log.read(audit_log.audit_path(site))
    assert [(r.user, r.event) for r in rows] == [("stranger@elsewhere.example", "no_access")]


def test_a_clinic_director_sees_only_their_clinic_even_when_the_url_names_others(site):
    at = _app(
        {"email": "Lead.C1@network.example", "name": "Lead"}, clinics=["Ridge (C3)", "C2"], region="South"
    )
    assert not at.exception
    notice = " ".join(w.value for w in at.warning)
    assert "C2, C3, region South are outside your access" in notice
    assert "Ridge" not in notice
    clinics = next(m for m in at.sidebar.multiselect if m.key == "clinics")
    assert clinics.options == ["Harbor (C1)"]
    # the sidebar's region list holds only the viewer's region
    region = next(m for m in at.sidebar.multiselect if m.key == "region")
    assert region.options == ["North"]
    shown = texts(at)
    for other in ("Elm Street", "Ridge", "Bayside"):
        assert other not in shown
    # the Data page is not in the director's menu
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/data.py").run()
    rows = audit_log.read(audit_log.audit_path(site))
    assert [(r.user, r.role, r.scope, r.event) for r in rows] == [
        ("lead.c1@network.example", "director", "clinic:C1", "sign_in"),
        ("lead.c1@network.example", "director", "clinic:C1", "page_view"),
    ]
    assert rows[1].detail["filters"]["clinic_ids"] == ["C1"]


def test_page_views_are_audited_after_a_refresh_replaced_the_published_file(site, demo_like_db):
    at = _app({"email": "ops@network.example"})
    assert not at.exception
    at.switch_page("views/throughput.py").run()
    fresh = site.with_name("fresh.duckdb")
    shutil.copy(demo_like_db, fresh)
    os.replace(fresh, site)  # what a refresh's publish does
    at.switch_page("views/data.py").run()
    assert not at.exception
    at.run()  # a rerun of the same view is not a new view
    rows = audit_log.read(audit_log.audit_path(site))
    assert [(r.user, r.scope, r.event, r.page) for r in rows] == [
        ("ops@network.example", "region:South", "sign_in", ""),
        ("ops@network.example", "region:South", "page_view", "overview"),
        ("ops@network.example", "region:South", "page_view", "throughput"),
        ("ops@network.example", "region:South", "page_view", "data"),
    ]
    assert rows[2].detail["filters"]["clinic_ids"] == ["C3", "C4"]
    # the ops viewer reads the audit log on the Data page
    assert "Audit log" in [s.value for s in at.subheader]


PAGES = [
    "views/clinic.py",
    "views/safety.py",
    "views/throughput.py",
    "views/outcomes.py",
    "views/monitoring.py",
]


@pytest.mark.parametrize("page", PAGES)
def test_a_clinic_directors_pages_name_no_other_clinic(site, page):
    at = _app({"email": "lead.c1@network.example"}, clinic="Ridge (C3)")
    at.switch_page(page).run()
    assert not at.exception, at.exception
    frames = [df.value.to_csv() for df in at.dataframe]
    shown = "\n".join([texts(at), json.dumps(chart_specs(at)), *frames])
    assert "C1" in shown or "Harbor" in shown  # the page shows the viewer's clinic …
    for other in ("Elm Street", "Ridge", "Bayside", "C2", "C3", "C4"):  # … and no other
        assert other not in shown, other


def test_a_clinic_directors_outcome_comparison_is_the_whole_networks(make_db, tmp_path, monkeypatch):
    from tests.dashboard.metrics.outcomes.outcome_rows import JUST_MATURE, Builder, add_cohort

    b = Builder(last_date=JUST_MATURE)
    add_cohort(b, "A", 15, 11, "a")  # responder counts 0 or ≥ k: only C's evaluable is small
    add_cohort(b, "B", 12, 0, "b")
    add_cohort(b, "C", 4, 0, "c")
    db = make_db(b.rows)
    access = tmp_path / "outcomes-access.toml"
    access.write_text('[[user]]\nemail = "lead.a@network.example"\nrole = "director"\nscope = "clinic:A"\n')
    monkeypatch.setenv("KETAOPS_DB", str(db))
    monkeypatch.setenv("KETAOPS_ACCESS", str(access))
    at = _app({"email": "lead.a@network.example"})
    at.switch_page("views/outcomes.py").run()
    assert not at.exception, at.exception
    shown = texts(at)
    # the network's 31 evaluable, 11 + 0 + 0 responders (11/31 = 35%), not clinic A's own 11/15
    assert "Network response 35% (11/31)" in shown
    assert "Clinic B" not in shown and "Clinic C" not in shown
    assert "Other clinic" in shown  # B and C: the complementary suppression, unnamed
