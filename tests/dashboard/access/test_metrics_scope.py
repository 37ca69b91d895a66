"""``ketaops metrics --scope``: the clinics and totals a viewer of that scope sees, nothing else."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from pipelines.cli import main


def _metrics(db, capsys, *argv: str) -> tuple[int, dict | str]:
    code = main(["metrics", "--db", str(db), *argv])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def _scheduled(db, clinics: tuple[str, ...], period: dict[str, str]) -> int:
    """Sessions scheduled in the report's period, counted here with plain SQL."""
    start, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
    assert (end - start).days == 89  # the default: 90 days up to the data's last date
    con = duckdb.connect(str(db), read_only=True)
    try:
        marks = ", ".join("?" for _ in clinics)
        return con.execute(
            f"SELECT count(*) FROM sessions WHERE clinic_id IN ({marks}) "
            "AND CAST(scheduled_at AS DATE) BETWEEN ? AND ?",
            [*clinics, start, end],
        ).fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("scope", "clinics"),
    [("clinic:C1", ("C1",)), ("region:North", ("C1", "C2")), ("network", ("C1", "C2", "C3", "C4"))],
)
def test_a_scoped_report_holds_only_the_scopes_clinics(demo_like_db, capsys, scope, clinics):
    code, report = _metrics(demo_like_db, capsys, "--scope", scope)
    assert code == 0
    assert {c["clinic_id"] for c in report["clinics"]} <= set(clinics)
    assert {o["clinic_id"] for o in report["outcomes"] if o.get("clinic_id")} <= set(clinics)
    assert report["network"]["scheduled_sessions"] == _scheduled(demo_like_db, clinics, report["period"])
    assert report.get("scope", "network") == scope
    assert "Ridge" not in json.dumps(report) or "C3" in clinics


def test_a_clinic_outside_the_scope_or_an_unknown_scope_is_refused(demo_like_db, capsys):
    code, err = _metrics(demo_like_db, capsys, "--scope", "clinic:C1", "--clinic", "C3")
    assert code == 2 and "--clinic C3 is outside the scope clinic:C1" in err
    code, err = _metrics(demo_like_db, capsys, "--scope", "region:West")
    assert code == 2 and "no region 'West'" in err


def test_a_scoped_reports_outcome_network_rows_are_the_whole_networks(demo_like_db, capsys):
    _, whole = _metrics(demo_like_db, capsys, "--start", "2000-01-01")
    _, alone = _metrics(demo_like_db, capsys, "--start", "2000-01-01", "--clinic", "C1")
    _, scoped = _metrics(demo_like_db, capsys, "--start", "2000-01-01", "--scope", "clinic:C1")

    def network_rows(report: dict) -> list[dict]:
        return [o for o in report["outcomes"] if o["clinic_id"] is None]

    assert network_rows(whole) and network_rows(whole) != network_rows(alone)  # not vacuous
    assert network_rows(scoped) == network_rows(whole)
    assert {o["clinic_id"] for o in scoped["outcomes"]} <= {None, "C1"}
