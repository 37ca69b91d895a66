"""One ``ketaops signals`` run: find each recipient's signals, keep what is new, send, record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from dashboard.access.scope import scope_clinics
from dashboard.alerts.config import Recipient, SignalsConfig
from dashboard.alerts.detect import OverdueReviews, detect
from dashboard.alerts.notify import SendError, send_email, send_webhook
from pipelines.model.config import MetricConfig
from pipelines.signal_state import SignalState


@dataclass
class RecipientResult:
    name: str
    scope: str
    channel: str
    new: list[dict[str, Any]] = field(default_factory=list)  # found for the first time this run
    sent: int = 0  # signals delivered this run (new and retried)
    failed: int = 0  # signals left pending by a failed send
    error: str | None = None


def _send(sconf: SignalsConfig, recipient: Recipient, signals: list[dict[str, Any]]) -> None:
    if recipient.channel == "email":
        assert sconf.smtp is not None  # load_signals_config refuses e-mail without [smtp]
        send_email(sconf.smtp, recipient, signals)
    else:
        send_webhook(recipient, signals)


def run_signals(
    con: duckdb.DuckDBPyConnection,
    cfg: MetricConfig,
    sconf: SignalsConfig,
    state: SignalState,
    *,
    today: date,
    notify: bool,
    reviews: OverdueReviews | None = None,
) -> list[RecipientResult]:
    """Per recipient: the signals not yet known for them. With ``notify`` they are recorded as
    pending, every pending signal is sent in one digest and marked sent when the channel took it;
    without, nothing is sent or recorded (a preview of the next ``--notify`` run)."""
    results = []
    for recipient in sconf.recipients:
        current = detect(
            con,
            scope_clinics(con, recipient.scope),
            cfg,
            base_url=sconf.dashboard_url,
            today=today,
            reviews=reviews,
        )
        known = state.known(recipient.name)
        result = RecipientResult(
            recipient.name,
            recipient.scope.label,
            recipient.channel,
            new=[s.payload() for s in current if s.key not in known],
        )
        results.append(result)
        if not notify:
            continue
        state.forget_ended(recipient.name, {s.key for s in current})
        state.add_pending(recipient.name, [(s["key"], s) for s in result.new])
        pending = state.pending(recipient.name)
        if pending:
            try:
                _send(sconf, recipient, pending)
            except (SendError, ValueError) as exc:  # ValueError: a named secret is not set
                result.failed, result.error = len(pending), str(exc)
            else:
                state.mark_sent(recipient.name, [s["key"] for s in pending])
                result.sent = len(pending)
        state.log_run(
            recipient.name, recipient.channel, len(result.new), result.sent, result.failed, result.error
        )
    return results
