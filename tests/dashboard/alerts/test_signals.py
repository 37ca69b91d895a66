"""``ketaops signals --notify`` against a local SMTP server (aiosmtpd) and a local HTTP server
(pytest-httpserver), on a demo database with planted signals (docs/demo-data.md).

Expected signals come from the demo's MANIFEST.json and from plain SQL on the database, not
from the code under test.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from datetime import date, timedelta
from email import message_from_bytes
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer

from dashboard.alerts import links
from pipelines.cli import main

pytestmark = pytest.mark.slow
END = date(2026, 11, 24)
TODAY = END + timedelta(days=1)


class Inbox:
    """aiosmtpd handler keeping every message it was handed."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("signals-demo")
    exports, db = root / "exports", root / "ketaops.duckdb"
    args = ["demo-data", "--out", str(exports), "--clinics", "5", "--years", "1", "--end", END.isoformat()]
    assert main(args) == 0
    assert main(["refresh", "--exports", str(exports), "--db", str(db)]) == 0
    return db, json.loads((exports / "MANIFEST.json").read_text())["signals"]


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:  # a free loopback port (aiosmtpd checks readiness on its own port)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def _config(path: Path, smtp_port: int, hook_url: str, clinic: str) -> Path:
    path.write_text(
        f"""
[signals]
dashboard_url = "https://ketaops.example.org"
state = "{path.parent / "state.sqlite"}"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
sender = "ketaops@example.org"

[[recipient]]
name = "quality"
scope = "network"
email = ["quality@example.org"]

[[recipient]]
name = "lead"
scope = "clinic:{clinic}"
webhook = "{hook_url}"
"""
    )
    return path


def _window_serious(db: Path, clinics: list[str] | None = None) -> set[str]:
    """Serious AEs (hashed ids) with onset in the 90 days up to the newest session date, by plain SQL."""
    with duckdb.connect(str(db), read_only=True) as con:
        last = con.execute("SELECT CAST(max(scheduled_at) AS DATE) FROM sessions").fetchone()[0]
        rows = con.execute(
            "SELECT ae_id, clinic_id FROM adverse_events WHERE serious "
            "AND CAST(onset_at AS DATE) BETWEEN ? AND ?",
            [last - timedelta(days=89), last],
        ).fetchall()
    # signal keys carry the id hashed (an export's AE id may embed the patient key)
    hashed = {ae: hashlib.sha256(ae.encode()).hexdigest()[:24] for ae, _ in rows}
    return {hashed[ae] for ae, cid in rows if clinics is None or cid in clinics}


def _run(db: Path, config: Path, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["signals", "--db", str(db), "--config", str(config), "--notify", "--format", "json",
                 "--today", TODAY.isoformat()])  # fmt: skip
    return code, json.loads(capsys.readouterr().out)


def test_planted_signals_are_sent_once_to_each_recipient(
    demo, smtp, httpserver: HTTPServer, tmp_path, capsys
):
    db, planted = demo
    inbox, port = smtp
    lead_clinic = planted["silent"]["clinic_id"]
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    config = _config(tmp_path / "signals.toml", port, httpserver.url_for("/hook"), lead_clinic)

    code, out = _run(db, config, capsys)
    assert code == 0
    by_name = {r["name"]: r for r in out["recipients"]}
    quality = by_name["quality"]["new"]
    keys = {s["key"] for s in quality}
    # every planted signal, each of its kind exactly as planted
    outlier, silent = planted["ae_outlier"]["clinic_id"], planted["silent"]["clinic_id"]
    assert {k for k in keys if k.startswith("funnel:") and k.endswith("above_998")} == {
        f"funnel:{outlier}:above_998"
    }
    assert {k.split(":")[1] for k in keys if k.startswith("stale:")} == {silent}
    assert any(k.startswith(f"spc:no_show:{planted['no_show_shift']['clinic_id']}:") for k in keys)
    assert {k.split(":", 1)[1] for k in keys if k.startswith("serious_ae:")} == _window_serious(db)

    # one e-mail to the network recipient, one line (and link) per signal or chart run
    assert len(inbox.messages) == 1
    rcpt, raw = inbox.messages[0]
    assert rcpt == ["quality@example.org"]
    mail = message_from_bytes(raw)
    body = mail.get_payload(decode=True).decode()
    assert mail["Subject"] == f"KetaOps: {len(quality)} new signals (network)"
    groups = {s.get("group") or s["key"] for s in quality}
    assert len(re.findall(r"^- ", body, flags=re.M)) == len(groups)
    assert body.count("https://ketaops.example.org/") == len(groups)

    # the clinic lead's webhook: only their clinic, the same signals as in the JSON output
    (request, _), *more = httpserver.log
    assert not more
    posted = request.get_json()
    lead = by_name["lead"]["new"]
    assert posted["signals"] == lead and posted["scope"] == f"clinic:{lead_clinic}"
    assert {s["clinic_id"] for s in lead} <= {lead_clinic, None}
    assert f"stale:{lead_clinic}:{planted['silent']['last_data_date']}" in {s["key"] for s in lead}
    assert {s["key"].split(":", 1)[1] for s in lead if s["kind"] == "serious_ae"} == _window_serious(
        db, [lead_clinic]
    )

    # a second run finds nothing new and sends nothing
    code, again = _run(db, config, capsys)
    assert code == 0 and all(r["new"] == [] and r["sent"] == 0 for r in again["recipients"])
    assert len(inbox.messages) == 1 and len(httpserver.log) == 1


def test_messages_hold_no_free_text_and_no_patient_keys(demo, smtp, httpserver, tmp_path, capsys):
    db, planted = demo
    inbox, port = smtp
    httpserver.expect_request("/hook").respond_with_data("ok")
    clinic = planted["silent"]["clinic_id"]
    config = _config(tmp_path / "signals.toml", port, httpserver.url_for("/hook"), clinic)
    assert _run(db, config, capsys)[0] == 0
    sent = inbox.messages[0][1].decode() + json.dumps(httpserver.log[0][0].get_json())
    with duckdb.connect(str(db), read_only=True) as con:
        serious = con.execute(
            "SELECT description, patient_key FROM adverse_events WHERE serious AND description IS NOT NULL"
        ).fetchall()
    descriptions, patients = [r[0] for r in serious], [r[1] for r in serious]
    assert descriptions and patients
    assert not [d for d in descriptions if d in sent]
    assert not [p for p in patients if p in sent]


def test_a_failed_send_is_reported_and_retried_next_run(demo, smtp, httpserver, tmp_path, capsys):
    db, planted = demo
    _, port = smtp
    clinic = planted["silent"]["clinic_id"]
    httpserver.expect_ordered_request("/hook").respond_with_data("down", status=500)
    config = _config(tmp_path / "signals.toml", port, httpserver.url_for("/hook"), clinic)

    code, out = _run(db, config, capsys)
    lead = {r["name"]: r for r in out["recipients"]}["lead"]
    assert code == 4 and lead["sent"] == 0 and lead["failed"] == len(lead["new"]) > 0
    assert "500" in lead["error"]
    capsys.readouterr()
    # status reads the state beside the database by default: point the config's state there
    config.write_text(config.read_text().replace(f'state = "{tmp_path / "state.sqlite"}"\n', ""))
    code, out = _run(db, config, capsys)
    assert code == 4  # the server still answers 500 (its one ordered response is used up → 500)
    main(["status", "--db", str(db), "--stale-days", "3"])
    status = capsys.readouterr().out
    assert re.search(r"lead \(webhook\): \d+ new, FAILED", status)
    assert "signals_failed=lead" in status

    httpserver.clear()
    httpserver.expect_request("/hook").respond_with_data("ok")
    code, out = _run(db, config, capsys)
    lead_now = {r["name"]: r for r in out["recipients"]}["lead"]
    assert code == 0 and lead_now["new"] == [] and lead_now["sent"] == lead["failed"]
    assert {s["key"] for s in httpserver.log[-1][0].get_json()["signals"]} == {s["key"] for s in lead["new"]}
    code, out = _run(db, config, capsys)
    assert code == 0 and all(r["sent"] == 0 for r in out["recipients"])
    (db.parent / "ketaops-signals.sqlite").unlink()


def test_links_use_the_sidebar_labels():
    from dashboard.components.filters import PERIODS, clinic_label

    assert PERIODS["custom"] == links.CUSTOM_PERIOD
    assert links.clinic_param("C1", "Harbor") == clinic_label("C1", "Harbor")
    start, end = date(2026, 9, 1), date(2026, 9, 30)
    url = links.view_url("https://x.example/", "safety", start, end, {"C1": "Harbor"})
    assert url == (
        "https://x.example/safety?period=Custom%20range&range=2026-09-01&range=2026-09-30"
        "&clinics=Harbor%20%28C1%29"
    )
