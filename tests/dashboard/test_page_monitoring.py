"""AppTest of the Monitoring page on the demo-like database with contract v2 rows added by SQL.

Vitals rows: every administered session of clinic C1 gets a pre-dose, a 40-minute and a discharge
BP; C2's get no 40-minute reading; C3 sends none (a v1 clinic). Expected counts are SQL here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.dashboard.conftest import chart_titles, metric_values, texts
from tests.dashboard.metrics.monitoring_fixture import MEDICATIONS_DDL, VITALS_DDL

PAGE = "views/monitoring.py"


pytestmark = pytest.mark.usefixtures("fresh_caches")


@pytest.fixture(scope="module")
def v2_db(demo_like_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("monitoring") / "ketaops.duckdb"
    shutil.copy(demo_like_db, db)
    con = duckdb.connect(str(db))
    try:
        con.execute(VITALS_DDL)
        con.execute(MEDICATIONS_DDL)
        con.execute("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS provider_key VARCHAR")
        con.execute("UPDATE sessions SET provider_key = 'PRV-' || clinic_id || '-' || (hash(session_id) % 2)")
        admin = "status IN ('completed', 'stopped_early')"
        for tp, minutes, clinics in (
            ("pre_dose", -10, "('C1', 'C2')"),
            ("during", 40, "('C1')"),
            ("discharge", 90, "('C1', 'C2')"),
        ):
            con.execute(
                f"""INSERT INTO vitals SELECT session_id || '-{tp}', session_id, clinic_id,
                        scheduled_at + to_minutes({minutes}), '{tp}', 130, 80, 70, 98, 14
                    FROM sessions WHERE {admin} AND clinic_id IN {clinics}"""
            )
    finally:
        con.close()
    return db


def _sql(db: Path, sql: str) -> object:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_page_renders_tiles_and_funnel(app_at, v2_db: Path) -> None:
    at = app_at(v2_db, PAGE)
    assert not at.exception
    assert "Monitoring" in [t.value for t in at.title]
    tiles = metric_values(at)
    assert {"Vitals complete", "Observed long enough", "Dissociation scored (CADSS)"} <= set(tiles)
    assert tiles["Dissociation scored (CADSS)"] == "0.0%"  # no CADSS scores in this database
    assert any("Vitals complete by clinic" in t for t in chart_titles(at))


def test_measure_in_the_url_changes_the_funnel(app_at, v2_db: Path) -> None:
    at = app_at(v2_db, PAGE, mon_measure="Observed long enough")
    assert not at.exception
    assert any("Observed long enough by clinic" in t for t in chart_titles(at))


def test_review_list_count_matches_sql(app_at, v2_db: Path) -> None:
    at = app_at(
        v2_db,
        PAGE,
        mon_view="Review lists",
        mon_rule="Vitals complete: vitals incomplete",
        period="Last 12 months",
    )
    assert not at.exception
    last = _sql(v2_db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")
    # incomplete = administered in the last 12 months at C2 (no 40-minute BP) or C3 (no rows at all)
    expected = _sql(
        v2_db,
        f"""SELECT count(*) FROM sessions WHERE status IN ('completed', 'stopped_early')
            AND clinic_id IN ('C2', 'C3') AND scheduled_at >= DATE '{last}' - INTERVAL 1 YEAR + INTERVAL 1 DAY
            AND scheduled_at < DATE '{last}' + INTERVAL 1 DAY""",
    )
    assert f"**{expected:,} session(s)** fail this rule" in texts(at)


def test_session_in_the_url_opens_its_vitals_timeline(app_at, v2_db: Path) -> None:
    sid = _sql(v2_db, "SELECT min(session_id) FROM vitals WHERE clinic_id = 'C2'")
    at = app_at(v2_db, PAGE, mon_view="Review lists", mon_session=sid, period="Last 12 months")
    assert not at.exception
    assert any(f"Vitals of session {sid}" in t for t in chart_titles(at))


def test_sidebar_clinic_filter_narrows_the_tiles(app_at, v2_db: Path) -> None:
    at = app_at(v2_db, PAGE, clinics="Harbor (C1)", period="Last 12 months")
    assert not at.exception
    assert metric_values(at)["Vitals complete"] == "100.0%"  # C1 sends every reading


def test_v1_database_shows_zero_not_an_error(app_at, demo_like_db: Path) -> None:
    at = app_at(demo_like_db, PAGE, period="Last 12 months")
    assert not at.exception
    assert metric_values(at)["Vitals complete"] == "0.0%"


def test_safety_shows_route_and_modality_side_by_side(app_at, demo_like_db: Path) -> None:
    at = app_at(demo_like_db, "views/safety.py", ae_by="Category")
    assert not at.exception
    titles = chart_titles(at)
    assert "AEs per 100 administered sessions by route" in titles
    assert "AEs per 100 administered sessions by modality" in titles
