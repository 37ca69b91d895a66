"""``ketaops metrics``: metrics.md's JSON shape, hand-checked figures, CSV layout and exit codes.

The throughput fixture (tests/dashboard/metrics/test_throughput.py) is reused,
with three adverse events in the period and one after it.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from scipy.stats import chi2
from test_safety import funnel_rows
from test_throughput import CLINICS, END, PATIENTS, SESSIONS, START, numbered

from dashboard.metrics.filters import Filters
from dashboard.metrics.report import build_report, report_rows
from pipelines.cli import main
from pipelines.model.config import MetricConfig


def ae(ae_id: str, clinic: str, patient: str, session: str | None, onset: str, grade: int) -> dict[str, Any]:
    return {
        "ae_id": ae_id,
        "patient_key": patient,
        "clinic_id": clinic,
        "session_id": session,
        "onset_at": datetime.fromisoformat(onset),
        "category": "nausea_vomiting",
        "severity_grade": grade,
        "serious": grade >= 3,
        "action_taken": "monitored",
    }


AES = [
    ae("e1", "A", "P1", "a1", "2026-03-02 09:30", 1),
    ae("e2", "A", "P3", "a6", "2026-03-09 11:30", 3),  # serious
    ae("e3", "B", "P4", "b1", "2026-03-10 14:30", 2),
    ae("e4", "A", "P1", "x2", "2026-03-16 09:30", 1),  # after the period
]


@pytest.fixture
def db(make_db: Callable[[dict], Path]) -> Path:
    return make_db(
        {"clinics": CLINICS, "patients": PATIENTS, "sessions": numbered(SESSIONS), "adverse_events": AES}
    )


def garwood_per_100(k: int, n: int) -> list[float]:
    """Exact Poisson 95% CI on k events, per 100 of n sessions (independent of dashboard.stats)."""
    lower = chi2.ppf(0.025, 2 * k) / 2 if k else 0.0
    upper = chi2.ppf(0.975, 2 * k + 2) / 2
    return [100 * lower / n, 100 * upper / n]


NETWORK_TYPES = {
    "scheduled_sessions": int,
    "administered_sessions": int,
    "active_patients": int,
    "new_starts": int,
    "no_show_rate": float,
    "ae_count": int,
    "serious_ae_count": int,
    "ae_per_100_sessions": float,
    "ae_per_100_ci95": list,
}
CLINIC_TYPES = {
    "clinic_id": str,
    "administered_sessions": int,
    "no_show_rate": float,
    "chair_utilisation": float,
    "ae_count": int,
    "ae_per_100_sessions": float,
    "ae_per_100_ci95": list,
    "funnel": str,
}
OUTCOME_KEYS = {
    "condition",
    "instrument",
    "clinic_id",
    "evaluable",
    "responders",
    "response_rate",
    "remitters",
    "remission_rate",
    "suppressed",
}


def _typed(value: Any, kind: type) -> bool:
    return type(value) is kind  # bool is not an int here


def test_report_shape_and_figures(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        report = build_report(con, Filters(START, END, ("A", "B", "C")), MetricConfig())
    json.dumps(report, allow_nan=False)  # serialisable as it stands
    assert list(report) == ["period", "network", "clinics", "outcomes"]
    assert report["period"] == {"start": "2026-03-02", "end": "2026-03-15"}
    net = report["network"]
    for key, kind in NETWORK_TYPES.items():
        assert _typed(net[key], kind), (key, net[key])
    # figures from test_throughput's hand count; AEs e1 e2 e3 in the period, e2 serious; 7 administered
    assert (net["scheduled_sessions"], net["administered_sessions"], net["active_patients"]) == (10, 7, 5)
    assert (net["new_starts"], net["no_show_rate"]) == (3, pytest.approx(0.2))
    assert (net["ae_count"], net["serious_ae_count"]) == (3, 1)
    assert net["ae_per_100_sessions"] == pytest.approx(300 / 7)
    assert net["ae_per_100_ci95"] == pytest.approx(garwood_per_100(3, 7))

    clinics = {c["clinic_id"]: c for c in report["clinics"]}
    assert list(clinics) == ["A", "B", "C"]
    for c in clinics.values():
        for key, kind in CLINIC_TYPES.items():
            assert _typed(c[key], kind), (c["clinic_id"], key, c[key])
        assert c["funnel"] in {"above_998", "above_95", "within", "below_95", "below_998"}
    a, b, c = clinics["A"], clinics["B"], clinics["C"]
    assert (a["administered_sessions"], a["ae_count"], a["ae_per_100_sessions"]) == (5, 2, 40.0)
    assert a["chair_utilisation"] == pytest.approx(290 / 11520)  # 2 chairs × 8 h × 60 × 12 days
    assert a["ae_per_100_ci95"] == pytest.approx(garwood_per_100(2, 5))
    # A: expected 5 × 3/7 ≈ 2.1 AEs, observed 2 -> inside any funnel
    assert a["funnel"] == "within"
    assert (b["ae_count"], b["ae_per_100_sessions"], b["no_show_rate"]) == (1, 100.0, 0.5)
    assert (c["ae_count"], c["ae_per_100_sessions"]) == (0, 0.0)
    assert c["ae_per_100_ci95"] == pytest.approx([0.0, 100 * chi2.ppf(0.975, 2) / 2])

    assert isinstance(report["outcomes"], list)
    for row in report["outcomes"]:
        assert set(row) >= OUTCOME_KEYS and isinstance(row["suppressed"], bool)


def test_report_clinic_scope(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        report = build_report(con, Filters(START, END, ("B",)), MetricConfig())
    assert [c["clinic_id"] for c in report["clinics"]] == ["B"]
    net = report["network"]
    assert (net["scheduled_sessions"], net["administered_sessions"], net["ae_count"]) == (2, 1, 1)
    # B is never compared with itself: one clinic is no funnel
    assert report["clinics"][0]["funnel"] is None


def test_cli_clinic_is_compared_with_the_network(
    make_db: Callable[[dict], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # F1 has 30 AEs in 100 sessions against a network target of 40/300 (test_safety's funnel data):
    # above the 99.8% limit there, while against itself it would be "within".
    db = make_db(funnel_rows())
    window = ("--start", "2026-01-01", "--end", "2026-01-31")
    code, out, _ = run(capsys, "--db", str(db), *window, "--clinic", "F1")
    assert code == 0
    assert [(c["clinic_id"], c["funnel"]) for c in json.loads(out)["clinics"]] == [("F1", "above_998")]
    code, out, _ = run(capsys, "--db", str(db), *window, "--clinic", "F2,F3")
    assert {c["clinic_id"]: c["funnel"] for c in json.loads(out)["clinics"]}["F2"] == "below_998"


# --- the command ------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["metrics", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_default_period(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", str(db))
    assert (code, err) == (0, "")
    report = json.loads(out)
    # the data's last date is 16 March (x2); 90 days back, both ends included: 17 Dec .. 16 Mar
    assert report["period"] == {"start": "2025-12-17", "end": "2026-03-16"}
    assert [c["clinic_id"] for c in report["clinics"]] == ["A", "B", "C"]
    # x1 (20 Feb), x2 (16 Mar), x3 (10 Jan) now count too: 13 scheduled, 4 AEs
    assert (report["network"]["scheduled_sessions"], report["network"]["ae_count"]) == (13, 4)


def test_cli_period_and_clinics(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--db", str(db), "--start", "2026-03-02", "--end", "2026-03-15", "--clinic", "A"
    )
    assert code == 0
    report = json.loads(out)
    assert [c["clinic_id"] for c in report["clinics"]] == ["A"]
    assert report["network"]["scheduled_sessions"] == 7
    code, out, _ = run(
        capsys, "--db", str(db), "--start", "2026-03-02", "--end", "2026-03-15", "--clinic", "A,C"
    )
    assert [c["clinic_id"] for c in json.loads(out)["clinics"]] == ["A", "C"]


def test_cli_csv_long_table(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--db", str(db), "--start", "2026-03-02", "--end", "2026-03-15", "--format", "csv"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "period_start",
        "period_end",
        "scope",
        "clinic_id",
        "condition",
        "instrument",
        "metric",
        "value",
    ]
    cell = {(r["scope"], r["clinic_id"], r["metric"]): r["value"] for r in rows if r["scope"] != "outcome"}
    assert rows[0]["period_start"] == "2026-03-02" and rows[0]["period_end"] == "2026-03-15"
    assert cell[("network", "", "scheduled_sessions")] == "10"
    assert float(cell[("clinic", "A", "chair_utilisation")]) == pytest.approx(290 / 11520)
    low, high = garwood_per_100(3, 7)
    assert float(cell[("network", "", "ae_per_100_ci95_low")]) == pytest.approx(low)
    assert float(cell[("network", "", "ae_per_100_ci95_high")]) == pytest.approx(high)
    assert cell[("clinic", "C", "funnel")] in {"within", "below_95", "below_998", "above_95", "above_998"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--clinic", "A", "--clinic", "Z9"], "unknown clinic id Z9"),
        (["--start", "2026-03-10", "--end", "2026-03-01"], "is after --end"),
    ],
)
def test_cli_bad_arguments_exit_2(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "--db", str(db), *argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1  # one line, no traceback


def test_cli_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", str(tmp_path / "absent.duckdb"))
    assert code == 1 and out == ""
    assert "no database at" in err and err.count("\n") == 1


def test_cli_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("not a database")
    code, _, err = run(capsys, "--db", str(bogus))
    assert code == 1 and "cannot read the database" in err


@pytest.mark.slow
def test_cli_entry_point_subprocess(db: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "metrics", "--db", str(db), "--start", "2026-03-02",
         "--end", "2026-03-15"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["network"]["administered_sessions"] == 7
    bad = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "metrics", "--db", str(db), "--clinic", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_default_period_without_sessions(
    make_db: Callable[[dict], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_db({"clinics": CLINICS})
    code, out, _ = run(capsys, "--db", str(path), "--end", "2026-01-31")
    assert code == 0
    report = json.loads(out)
    assert report["period"] == {"start": "2025-11-03", "end": "2026-01-31"}  # 31 Jan − 89 days
    assert report["network"]["scheduled_sessions"] == 0 and report["network"]["no_show_rate"] is None
    assert date.fromisoformat(report["period"]["end"]) == date(2026, 1, 31)


def test_csv_names_suppressed_figures_in_one_field() -> None:
    outcome = {"condition": "depression", "instrument": "phq9", "clinic_id": None, "remitters": None}
    outcome |= {"suppressed": False, "suppressed_figures": ["remitters", "remission_rate"], "maturing": 240}
    report = {"period": {"start": "2026-01-01", "end": "2026-03-31"}, "network": {}, "clinics": []}
    rows = report_rows(report | {"outcomes": [outcome]})
    cell = {r["metric"]: r["value"] for r in rows}
    assert cell["suppressed_figures"] == "remitters;remission_rate" and cell["maturing"] == 240
