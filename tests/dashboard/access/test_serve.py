"""``ketaops serve``: loopback only without sign-in; with it, the access file is checked at start."""

from __future__ import annotations

import shutil

import pytest

from dashboard.access.serve_checks import ServeRefused, check_serve, is_loopback
from pipelines.cli import main

AUTH = """\
[auth]
redirect_uri = "https://ketaops.network.example/oauth2callback"
cookie_secret = "a-long-random-string"
client_id = "ketaops"
client_secret = "s3cret"
server_metadata_url = "https://login.network.example/.well-known/openid-configuration"
"""


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("host", False),
    ],
)
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback


def test_without_auth_a_public_address_is_refused_naming_the_setting(tmp_path, capsys):
    code = main(
        [
            "serve",
            "--db",
            str(tmp_path / "k.duckdb"),
            "--address",
            "0.0.0.0",
            "--secrets",
            str(tmp_path / "secrets.toml"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--address 0.0.0.0" in err and "[auth]" in err and str(tmp_path / "secrets.toml") in err


def test_without_auth_loopback_is_the_demo(tmp_path):
    settings = check_serve(tmp_path / "k.duckdb", "127.0.0.1", tmp_path / "none.toml", None)
    assert not settings.auth and settings.access == tmp_path / "access.toml"


def test_with_auth_any_address_but_the_access_file_must_pass(tmp_path, demo_like_db):
    db = tmp_path / "ketaops.duckdb"
    shutil.copy(demo_like_db, db)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(AUTH)
    with pytest.raises(ServeRefused, match="no access file"):
        check_serve(db, "0.0.0.0", secrets, None)
    (tmp_path / "access.toml").write_text(
        '[[user]]\nemail = "a@n.example"\nrole = "director"\nscope = "clinic:C7"\n'
    )
    with pytest.raises(ServeRefused, match=r"access.toml line 4: no clinic 'C7'"):
        check_serve(db, "0.0.0.0", secrets, None)
    (tmp_path / "access.toml").write_text(
        '[[user]]\nemail = "a@n.example"\nrole = "director"\nscope = "clinic:C1"\n'
    )
    settings = check_serve(db, "0.0.0.0", secrets, None)
    assert settings.auth and settings.secrets == secrets


def test_a_half_filled_auth_section_is_refused(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nclient_id = "x"\n')
    with pytest.raises(ServeRefused, match="redirect_uri, cookie_secret"):
        check_serve(tmp_path / "k.duckdb", "127.0.0.1", secrets, None)
