"""The board pack PDF against ``ketaops metrics``: text extracted with pypdf, numbers formatted here.

Expected values come from the metrics command's JSON for the same month and scope, formatted by
this test's own rules (thousands separators, one-decimal percentages, two-decimal rates).
"""

from __future__ import annotations

import calendar
import json
import re
import shutil
from datetime import date
from pathlib import Path

import pypdf
import pytest

from pipelines.cli import main
from tests.dashboard.conftest import LAST_DATE, SILENT_CLINIC

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium"),
]
# the month before the data's last month: a whole month with data, and one a year before it
MONTH = date(LAST_DATE.year - (LAST_DATE.month == 1), (LAST_DATE.month - 2) % 12 + 1, 1)


def _month_range(first: date) -> tuple[date, date]:
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _shift(first: date, months: int) -> date:
    i = first.year * 12 + first.month - 1 + months
    return date(i // 12, i % 12 + 1, 1)


def _metrics(db: Path, first: date, capsys: pytest.CaptureFixture[str], *clinics: str) -> dict:
    start, end = _month_range(first)
    args = ["metrics", "--db", str(db), "--start", start.isoformat(), "--end", end.isoformat()]
    args += [a for c in clinics for a in ("--clinic", c)]
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def _pages(pdf: Path) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(pdf).pages]


def _count(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def _line(text: str, label: str) -> list[str]:
    """The values after ``label`` on its line."""
    m = re.search(rf"^{re.escape(label)} (.+)$", text, flags=re.M)
    assert m, f"no line {label!r}"
    return m.group(1).split()


@pytest.fixture(scope="module")
def network_pdf(demo_like_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pack") / "pack.pdf"
    assert main(["report", "--db", str(demo_like_db), "--month", f"{MONTH:%Y-%m}", "--out", str(out)]) == 0
    return out


def test_network_figures_equal_the_metrics_command(network_pdf, demo_like_db, capsys):
    reports = [_metrics(demo_like_db, _shift(MONTH, m), capsys) for m in (0, -1, -12)]
    first = _pages(network_pdf)[0]
    for label, key, fmt in (
        ("Scheduled sessions", "scheduled_sessions", _count),
        ("Administered sessions", "administered_sessions", _count),
        ("Active patients", "active_patients", _count),
        ("New starts", "new_starts", _count),
        ("No-show rate", "no_show_rate", _pct),
        ("Cancellation rate", "cancellation_rate", _pct),
        ("Chair utilisation", "chair_utilisation", _pct),
        ("AEs", "ae_count", _count),
        ("Serious AEs", "serious_ae_count", _count),
    ):
        assert _line(first, label) == [fmt(r["network"][key]) for r in reports], label
    rates = re.search(r"^AEs per 100 sessions (.+?)^Serious", first, flags=re.M | re.S)
    assert rates
    expected = []
    for r in reports:
        n = r["network"]
        lo, hi = n["ae_per_100_ci95"]
        expected += [f"{n['ae_per_100_sessions']:.2f}", f"({lo:.2f}–{hi:.2f})"]
    assert rates.group(1).split() == expected


def test_clinic_rows_equal_the_metrics_command(network_pdf, demo_like_db, capsys):
    report = _metrics(demo_like_db, MONTH, capsys)
    text = "\n".join(_pages(network_pdf))
    for c in report["clinics"]:
        row = _line(text, f"{c['clinic_name']} {c['region']}")
        assert row == [
            _count(c["scheduled_sessions"]),
            _count(c["administered_sessions"]),
            _count(c["active_patients"]),
            _count(c["new_starts"]),
            _pct(c["chair_utilisation"]),
            _pct(c["no_show_rate"]),
            _pct(c["cancellation_rate"]),
        ], c["clinic_id"]
    serious = _line(text, "All serious AEs")
    assert serious[0] == _count(report["network"]["serious_ae_count"])
    block = text[text.index("Serious adverse events") : text.index("All serious AEs")]
    per_category = re.findall(r"^[A-Za-z ]+? (\d+) \d+ \d+$", block, flags=re.M)
    assert sum(int(n) for n in per_category) == report["network"]["serious_ae_count"]


def test_outcomes_keep_suppression(network_pdf, demo_like_db, capsys):
    report = _metrics(demo_like_db, MONTH, capsys)
    text = "\n".join(_pages(network_pdf))
    for o in report["outcomes"]:
        if o["clinic_id"] is not None:
            continue
        row = _line(text, f"{o['condition'].replace('_', ' ')} {o['instrument']} Network")
        if o["suppressed"]:
            assert row == ["suppressed", "(n", "<", "11)"]
        else:
            assert row[0] == _count(o["evaluable"]) and row[1] == _pct(o["response_rate"])
    hidden_clinics = sum(1 for o in report["outcomes"] if o["clinic_id"] and o["suppressed"])
    listed = sum(int(n) for n in re.findall(r"^(\d+) clinic\(s\): suppressed", text, flags=re.M))
    assert listed == hidden_clinics


def test_stale_clinics_are_named_on_page_one(network_pdf):
    first = _pages(network_pdf)[0]
    assert "Stale data:" in first and f"({SILENT_CLINIC})" in first


def test_a_clinic_scope_shows_only_that_clinic(demo_like_db, tmp_path, capsys):
    out = tmp_path / "c1.pdf"
    args = ["report", "--db", str(demo_like_db), "--month", f"{MONTH:%Y-%m}", "--scope", "clinic:C1"]
    assert main([*args, "--out", str(out)]) == 0
    text = "\n".join(_pages(out))
    assert "Harbor" in text
    for other in ("Elm Street", "Ridge", "Bayside"):
        assert other not in text
    report = _metrics(demo_like_db, MONTH, capsys, "C1")
    first = _pages(out)[0]
    assert _line(first, "Administered sessions")[0] == _count(report["network"]["administered_sessions"])
    assert _line(first, "AEs")[0] == _count(report["network"]["ae_count"])


def test_bad_month_and_scope_are_usage_errors(demo_like_db, tmp_path, capsys):
    out = tmp_path / "x.pdf"
    assert main(["report", "--db", str(demo_like_db), "--month", "2026-13", "--out", str(out)]) == 2
    assert main(["report", "--db", str(demo_like_db), "--scope", "clinic:NOPE", "--out", str(out)]) == 2
    assert "NOPE" in capsys.readouterr().err
    assert not out.exists()
