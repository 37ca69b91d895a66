"""Sending one digest per recipient and run: an e-mail (SMTP) or a JSON POST to a webhook.

The webhook body has ``text`` (Slack's and Teams' incoming webhooks show it as the message)
and ``signals``, the structured list, for anything else that reads it.
"""

from __future__ import annotations

import json
import smtplib
import urllib.request
from email.message import EmailMessage
from typing import Any

from dashboard.alerts.config import Recipient, Smtp

WEBHOOK_TIMEOUT_S = 30


class SendError(RuntimeError):
    """A channel refused or could not be reached; the signals stay pending."""


def subject(recipient: Recipient, signals: list[dict[str, Any]]) -> str:
    return f"KetaOps: {len(signals)} new signal{'s' if len(signals) != 1 else ''} ({recipient.scope.label})"


def digest_lines(signals: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(line, link) per signal, one per group for a chart's run of special-cause weeks."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in signals:
        groups.setdefault(s.get("group") or s["key"], []).append(s)
    out = []
    for members in groups.values():
        if len(members) == 1:
            out.append((members[0]["text"], members[0]["url"]))
            continue
        days = sorted(m["day"] for m in members)
        out.append(
            (
                f"Special causes on {members[0]['subject']}: {len(members)} weeks "
                f"from {days[0]} to {days[-1]}",
                members[-1]["url"],
            )
        )
    return out


def digest_text(recipient: Recipient, signals: list[dict[str, Any]]) -> str:
    lines = [subject(recipient, signals), ""]
    for text, url in digest_lines(signals):
        lines += [f"- {text}", f"  {url}"]
    return "\n".join(lines) + "\n"


def send_email(smtp: Smtp, recipient: Recipient, signals: list[dict[str, Any]]) -> None:
    msg = EmailMessage()
    msg["Subject"] = subject(recipient, signals)
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(recipient.email)
    msg.set_content(digest_text(recipient, signals))
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, smtp.password() or "")
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from exc


def send_webhook(recipient: Recipient, signals: list[dict[str, Any]]) -> None:
    body = json.dumps(
        {
            "text": digest_text(recipient, signals),
            "recipient": recipient.name,
            "scope": recipient.scope.label,
            "signals": signals,
        }
    ).encode()
    url = recipient.webhook_url()
    if not url.startswith(("https://", "http://")):
        raise SendError(f"webhook of {recipient.name} is not an http(s) URL")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            status = response.status
    except OSError as exc:  # URLError, HTTPError (4xx/5xx), timeouts
        raise SendError(f"webhook of {recipient.name}: {exc}") from exc
    if not 200 <= status < 300:
        raise SendError(f"webhook of {recipient.name}: HTTP {status}")
