"""Sign-in end to end: a real OIDC flow in Chromium against a local mock provider, scopes, sign-out.

The provider (oidc-provider-mock) runs in a thread of the test; ``ketaops serve`` runs with an
``[auth]`` secrets file pointing at it and an access file naming a network user and a one-clinic
director. The director's pages, URL manipulations (other clinic ids, another region) and the line
list show only their clinic; signing out returns to the sign-in page; the audit log has the rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from oidc_provider_mock import User, run_server_in_thread
from playwright.sync_api import Page, expect

from dashboard.access import audit_log
from tests.e2e.conftest import NAV, ROOT, Demo, _free_port, wait_healthy, wait_idle

NETWORK_USER = "network.quality@network.example"
DIRECTOR = "lead@network.example"


@dataclass(frozen=True)
class Site:
    url: str
    db: Path
    mine: str  # the director's clinic
    others: dict[str, str]  # the other clinics: id → name
    other_region: str


def _clinics(db: Path) -> list[tuple[str, str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT clinic_id, clinic_name, region FROM clinics ORDER BY clinic_id").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def site(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("e2e-sign-in")
    db = base / "ketaops.duckdb"
    db.write_bytes(demo.db.read_bytes())  # its own copy: the audit log is written beside it
    clinics = _clinics(db)
    # the director's clinic: one whose region has another clinic elsewhere (a region to ask for)
    mine, _, my_region = next(c for c in clinics if any(r != c[2] for _, _, r in clinics))
    other_region = next(r for _, _, r in clinics if r != my_region)
    users = [
        User(sub="network-user", claims={"email": NETWORK_USER, "email_verified": True, "name": "Quality"}),
        User(sub="director", claims={"email": DIRECTOR, "email_verified": True, "name": "Lead"}),
    ]
    port = _free_port()
    with run_server_in_thread(user_claims=users) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        secrets = base / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
            'cookie_secret = "e2e-cookie-secret-0123456789abcdef"\n'
            'client_id = "ketaops"\n'
            'client_secret = "e2e-secret"\n'
            f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n'
        )
        access = base / "access.toml"
        access.write_text(
            f'[[user]]\nemail = "{NETWORK_USER}"\nrole = "quality"\nscope = "network"\n\n'
            f'[[user]]\nemail = "{DIRECTOR}"\nrole = "director"\nscope = "clinic:{mine}"\n'
        )
        log = (base / "serve.log").open("w")
        cmd = [sys.executable, "-m", "pipelines.cli", "serve", "--db", str(db), "--port", str(port)]
        cmd += ["--secrets", str(secrets), "--access", str(access), "--address", "127.0.0.1"]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(f"http://localhost:{port}", proc, log.name)
            yield Site(
                url=f"http://localhost:{port}",
                db=db,
                mine=mine,
                others={cid: name for cid, name, _ in clinics if cid != mine},
                other_region=other_region,
            )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()


def _sign_in(page: Page, site: Site, sub: str) -> None:
    page.goto(site.url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize**")
    page.locator(f'button[name="sub"][value="{sub}"]').click()
    page.wait_for_url(f"{site.url}/**")
    wait_idle(page)


def _sign_out(page: Page, site: Site) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    # the mock provider's end-session page asks to confirm, then returns to the app
    page.wait_for_url("**/oauth2/end_session**")
    page.get_by_role("button").first.click()
    page.wait_for_url(f"{site.url}/**")
    wait_idle(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def _visible_text(page: Page) -> str:
    return page.locator('[data-testid="stApp"]').inner_text()


def test_a_network_user_signs_in_sees_every_clinic_and_signs_out(page: Page, site: Site) -> None:
    _sign_in(page, site, "network-user")
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text("quality · network")
    page.goto(f"{site.url}/safety")
    wait_idle(page)
    page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').nth(1).click()
    options = page.locator('[role="option"]').all_inner_texts()
    page.keyboard.press("Escape")
    for cid in site.others:
        assert any(f"({cid})" in o for o in options), (cid, options)
    _sign_out(page, site)


def test_a_one_clinic_director_sees_only_their_clinic_whatever_the_url(page: Page, site: Site) -> None:
    _sign_in(page, site, "director")
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text(f"director · clinic:{site.mine}")
    other_id = next(iter(site.others))
    urls = [
        f"{site.url}/overview",
        f"{site.url}/safety?clinics={other_id}",
        f"{site.url}/throughput?clinics={other_id}&clinics={site.mine}",
        f"{site.url}/clinic?clinic={other_id}",
        f"{site.url}/outcomes?region={site.other_region}",
    ]
    for url in urls:
        page.goto(url)
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0, url
        text = _visible_text(page)
        for cid, name in site.others.items():
            assert name not in text, (url, name)
            assert cid not in text.replace(f"{cid} is outside", "").replace(f"{cid}, ", ""), (url, cid)
    # the URLs naming another clinic or region said so, without showing it
    page.goto(f"{site.url}/safety?clinics={other_id}&region={site.other_region}")
    wait_idle(page)
    expect(
        page.get_by_text(f"{other_id}, region {site.other_region} are outside your access")
    ).to_be_visible()
    # no Data page, and no download of the line list's rows for a director
    nav = page.locator(NAV)
    expect(nav.get_by_role("link", name="Safety", exact=True)).to_be_visible()  # the links are drawn
    expect(nav.get_by_role("link", name="Data", exact=True)).to_have_count(0)
    page.get_by_role("tab", name="Line list").click()
    wait_idle(page)
    expect(page.get_by_text("Downloading the line list needs the quality role")).to_be_visible()
    assert page.get_by_role("button", name="Download CSV").count() == 0
    _sign_out(page, site)
    rows = audit_log.read(audit_log.audit_path(site.db), user=DIRECTOR)
    assert rows and {r.scope for r in rows} == {f"clinic:{site.mine}"}
    assert {"sign_in", "page_view", "sign_out"} <= {r.event for r in rows}
    views = [r for r in rows if r.event == "page_view"]
    assert all(r.detail["filters"]["clinic_ids"] == [site.mine] for r in views if r.detail.get("filters"))
