"""What ``ketaops serve`` checks before it starts Streamlit: sign-in, address and the access file.

Without ``[auth]`` in the secrets the dashboard is the local demo (network scope, every role), so
it may listen on a loopback address only. With ``[auth]`` the access file must exist and pass
every check against the database's clinics; a refused file stops the start with its line and
reason.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dashboard.access.access_file import AccessFileError, load_access

LOOPBACK_NAMES = ("localhost",)
AUTH_KEYS = ("redirect_uri", "cookie_secret")


class ServeRefused(Exception):
    """A reason not to start, said in one message naming the setting to change."""


@dataclass(frozen=True)
class ServeSettings:
    address: str
    secrets: Path | None  # the secrets file Streamlit is given, when it exists
    access: Path
    auth: bool


def is_loopback(address: str) -> bool:
    if address.strip().lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def has_auth(secrets: Path | None) -> bool:
    """Whether the secrets file has an ``[auth]`` section; a half-filled one is refused."""
    if secrets is None or not secrets.is_file():
        return False
    try:
        data = tomllib.loads(secrets.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ServeRefused(f"cannot read the secrets file {secrets}: {exc}") from exc
    auth = data.get("auth")
    if auth is None:
        return False
    if not isinstance(auth, dict):
        raise ServeRefused(f"{secrets}: auth must be a table ([auth])")
    missing = [k for k in AUTH_KEYS if not auth.get(k)]
    if missing:
        raise ServeRefused(f"{secrets}: [auth] needs {', '.join(missing)} (docs/access.md)")
    return True


def check_serve(db: Path, address: str, secrets: Path | None, access: Path | None) -> ServeSettings:
    """The settings to start with, or ``ServeRefused`` saying why not."""
    access_path = access or db.parent / "access.toml"
    auth = has_auth(secrets)
    if not auth:
        if not is_loopback(address):
            where = secrets or ".streamlit/secrets.toml"
            raise ServeRefused(
                f"--address {address} without sign-in: the demo mode listens on 127.0.0.1 only. "
                f"To serve other machines add an [auth] section (redirect_uri, cookie_secret, client_id, "
                f"client_secret, server_metadata_url) to {where}; see docs/access.md."
            )
    else:
        _check_access(access_path, db)
    return ServeSettings(address, secrets if secrets and secrets.is_file() else None, access_path, auth)


def _check_access(path: Path, db: Path) -> None:
    if not path.is_file():
        raise ServeRefused(f"sign-in is configured but there is no access file at {path} (--access PATH)")
    region_of: dict[str, str | None] = {}
    if db.is_file():
        with duckdb.connect(str(db), read_only=True) as con:
            region_of = dict(con.execute("SELECT clinic_id, region FROM clinics").fetchall())
    try:
        load_access(path, region_of)
    except AccessFileError as exc:
        raise ServeRefused(f"access file refused: {exc}") from exc
