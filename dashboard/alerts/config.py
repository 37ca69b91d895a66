"""The signals' recipients and channels: a TOML file (``ketaops signals --config PATH``).

Secrets are never in the file: it names environment variables (``password_env``,
``webhook_env``) that hold them. docs/alerts.md has an example.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard.access.scope import Scope, parse_scope

DEFAULT_URL = "http://localhost:8501"


class ConfigError(ValueError):
    """A setting that is missing, unknown or malformed, or a named secret that is not set."""


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = 587
    sender: str = "ketaops@localhost"
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    timeout_s: float = 30.0

    def password(self) -> str | None:
        return _secret(self.password_env) if self.password_env else None


@dataclass(frozen=True)
class Recipient:
    name: str
    scope: Scope
    email: tuple[str, ...] = ()
    webhook: str | None = None  # the URL itself, or None when webhook_env names it
    webhook_env: str | None = None

    @property
    def channel(self) -> str:
        return "email" if self.email else "webhook"

    def webhook_url(self) -> str:
        return self.webhook or _secret(self.webhook_env or "")


@dataclass(frozen=True)
class SignalsConfig:
    dashboard_url: str = DEFAULT_URL
    state: Path | None = None  # default: beside the database
    smtp: Smtp | None = None
    recipients: tuple[Recipient, ...] = field(default_factory=tuple)


def _secret(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"environment variable {name} is not set")
    return value


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown settings {', '.join(sorted(unknown))}")


def load_signals_config(path: Path) -> SignalsConfig:
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    _only(raw, {"signals", "smtp", "recipient"}, str(path))
    general = raw.get("signals", {})
    _only(general, {"dashboard_url", "state"}, "[signals]")
    smtp = None
    if "smtp" in raw:
        _only(raw["smtp"], {f for f in Smtp.__dataclass_fields__}, "[smtp]")
        if "host" not in raw["smtp"]:
            raise ConfigError("[smtp]: host is required")
        smtp = Smtp(**raw["smtp"])
    recipients = []
    for i, r in enumerate(raw.get("recipient", []), 1):
        where = f"[[recipient]] #{i}"
        _only(r, {"name", "scope", "email", "webhook", "webhook_env"}, where)
        if "name" not in r:
            raise ConfigError(f"{where}: name is required")
        email = (r["email"],) if isinstance(r.get("email"), str) else tuple(r.get("email", ()))
        hook = r.get("webhook") or r.get("webhook_env")
        if bool(email) == bool(hook):
            raise ConfigError(f"{where} ({r['name']}): give either email or webhook/webhook_env")
        if email and smtp is None:
            raise ConfigError(f"{where} ({r['name']}): e-mail needs an [smtp] table")
        recipients.append(
            Recipient(
                name=str(r["name"]),
                scope=parse_scope(r.get("scope", "network")),
                email=email,
                webhook=r.get("webhook"),
                webhook_env=r.get("webhook_env"),
            )
        )
    names = [r.name for r in recipients]
    if len(set(names)) != len(names):
        raise ConfigError("recipient names must be unique (the signal state is kept per name)")
    state = general.get("state")
    return SignalsConfig(
        dashboard_url=str(general.get("dashboard_url", DEFAULT_URL)),
        state=Path(state) if state else None,
        smtp=smtp,
        recipients=tuple(recipients),
    )
