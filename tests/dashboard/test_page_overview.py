"""Overview page: tiles, trends and league table; figures checked against direct SQL counts."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from tests.dashboard.conftest import chart_titles, metric_values, sql_value, texts

ADMINISTERED = "status IN ('completed', 'stopped_early')"


def _last(db: Path) -> date:
    return sql_value(db, "SELECT max(CAST(scheduled_at AS DATE)) FROM sessions")


def _administered(
    db: Path, start: date, end: date, clinics: tuple[str, ...] = ("C1", "C2", "C3", "C4")
) -> int:
    marks = ", ".join("?" for _ in clinics)
    return sql_value(
        db,
        f"SELECT count(*) FROM sessions WHERE {ADMINISTERED} AND clinic_id IN ({marks}) "
        "AND CAST(scheduled_at AS DATE) BETWEEN ? AND ?",
        [*clinics, start, end],
    )


def test_overview_renders_tiles_trends_and_league(app_at, demo_like_db):
    at = app_at(demo_like_db)
    assert not at.exception
    labels = set(metric_values(at))
    assert {
        "Administered sessions",
        "Active patients",
        "New starts",
        "AEs per 100 sessions",
        "Serious AEs",
    } <= labels
    assert {
        "Administered sessions per week",
        "No-show rate per week",
        "New starts per week",
        "AEs per 100 sessions per week",
    } <= set(chart_titles(at))
    league = at.dataframe(key="league").value
    assert sorted(league["clinic_name"]) == ["Bayside", "Elm Street", "Harbor", "Ridge"]


def test_tiles_match_direct_sql_and_deltas_are_against_the_previous_equal_period(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Last 30 days")
    last = _last(demo_like_db)
    start = last - timedelta(days=29)
    now = _administered(demo_like_db, start, last)
    before = _administered(demo_like_db, start - timedelta(days=30), start - timedelta(days=1))
    tile = next(m for m in at.metric if m.label == "Administered sessions")
    assert tile.value == f"{now:,}"
    relative = f" ({(now - before) / before:+.1%})" if before else ""
    assert tile.delta == (f"{now - before:+,}{relative}" if now != before else "0")
    # the comparison is a caption under the delta (inside the tile), never on the delta's line
    assert tile.proto.delta_description == ""
    assert ("vs previous period" in [c.value for c in at.caption]) == (now != before)


def test_same_period_last_year_compares_with_the_same_dates_a_year_earlier(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Last 30 days", compare="Same period last year")
    last = _last(demo_like_db)
    start = last - timedelta(days=29)
    now = _administered(demo_like_db, start, last)
    before = _administered(demo_like_db, start.replace(year=start.year - 1), last.replace(year=last.year - 1))
    assert before > 0  # the demo-like data spans more than a year, so the comparison has data
    tile = next(m for m in at.metric if m.label == "Administered sessions")
    assert tile.delta == f"{now - before:+,} ({(now - before) / before:+.1%})"
    assert "vs last year" in [c.value for c in at.caption]
    assert "same period last year" in texts(at)


def test_ae_rate_tile_is_100_times_aes_over_administered_sessions(app_at, demo_like_db):
    at = app_at(demo_like_db, period="Last 12 months")
    last = _last(demo_like_db)
    start = last.replace(year=last.year - 1) + timedelta(days=1)
    aes = sql_value(
        demo_like_db,
        "SELECT count(*) FROM adverse_events WHERE CAST(onset_at AS DATE) BETWEEN ? AND ?",
        [start, last],
    )
    expected = 100 * aes / _administered(demo_like_db, start, last)
    assert metric_values(at)["AEs per 100 sessions"] == f"{expected:.2f}"


def test_clinic_filter_changes_the_figures(app_at, demo_like_db):
    everyone = metric_values(app_at(demo_like_db, period="Last 12 months"))["Administered sessions"]
    at = app_at(demo_like_db, period="Last 12 months", clinics=["Harbor (C1)"])
    last = _last(demo_like_db)
    start = last.replace(year=last.year - 1) + timedelta(days=1)
    harbor = metric_values(at)["Administered sessions"]
    assert harbor == f"{_administered(demo_like_db, start, last, ('C1',)):,}"
    assert harbor != everyone
    assert list(at.dataframe(key="league").value["clinic_name"]) == ["Harbor"]


def test_league_lights(monkeypatch, demo_like_db):
    from dashboard.components.league import league_table
    from dashboard.metrics.filters import Filters
    from pipelines.model.config import MetricConfig

    monkeypatch.setenv("KETAOPS_DB", str(demo_like_db))
    last = _last(demo_like_db)
    f = Filters(start=last - timedelta(days=89), end=last, clinic_ids=("C1", "C2", "C3", "C4"))
    league = {
        r["clinic_id"]: r for r in league_table(f, f, MetricConfig(), date.today()).iter_rows(named=True)
    }
    # Ridge (C3) sent nothing for 12 days (> 3): red; Harbor's data is from yesterday: green
    assert league["C3"]["data_light"] == "red" and league["C1"]["data_light"] == "green"
    # Bayside (C4) has chairs but no sessions: utilisation 0 < 30% → red
    assert league["C4"]["chair_utilisation"] == 0 and league["C4"]["util_light"] == "red"
    # no-show light follows the thresholds (green < 8%, amber < 15%, red from 15%)
    for row in league.values():
        rate = row["no_show_rate"]
        if rate is not None:
            expected = "green" if rate < 0.08 else "amber" if rate < 0.15 else "red"
            assert row["no_show_light"] == expected, row


def test_league_funnel_flag_is_against_the_whole_network(monkeypatch, demo_like_db, tmp_path):
    """Picking one clinic must not make it its own funnel target (alone it would always be 'within')."""
    from dashboard.components.league import league_table
    from dashboard.metrics.filters import Filters
    from pipelines.model.config import MetricConfig

    db = tmp_path / "outlier.duckdb"
    shutil.copy(demo_like_db, db)
    con = duckdb.connect(str(db))
    # Make Harbor (C1) an outlier: three more copies of each of its AEs (4× its rate).
    for copy in range(3):
        con.execute(
            "INSERT INTO adverse_events SELECT * REPLACE (ae_id || '-x' || ? AS ae_id) "
            "FROM adverse_events WHERE clinic_id = 'C1' AND ae_id NOT LIKE '%-x%'",
            [copy],
        )
    con.close()
    monkeypatch.setenv("KETAOPS_DB", str(db))
    last = _last(db)
    everyone = Filters(start=last - timedelta(days=364), end=last, clinic_ids=("C1", "C2", "C3", "C4"))
    full = league_table(everyone, everyone, MetricConfig(), date.today())
    assert full.filter(pl.col("clinic_id") == "C1")["flag"].item() == "above_998"
    alone = league_table(everyone.with_clinics(("C1",)), everyone, MetricConfig(), date.today())
    assert alone["flag"].to_list() == ["above_998"]
    # the red AE flag opens the table, in words (C4, without sessions, is red for utilisation
    # only); then the clinics by their worst light
    assert full["clinic_id"][0] == "C1"
    assert full["ae_flag"][0] == "above the 99.8% limit"
    rank = {"red": 0, "amber": 1, "green": 2, "grey": 3}
    worst = [
        min(rank[r[k]] for k in ("util_light", "no_show_light", "ae_light", "data_light"))
        for r in full.iter_rows(named=True)
    ]
    assert worst == sorted(worst)


def test_league_shows_every_clinic_and_the_flag_next_to_the_name(app_at, demo_like_db):
    at = app_at(demo_like_db)
    grid = at.dataframe(key="league")
    assert len(grid.value) == 4  # every clinic in scope, none cut off
    assert list(grid.value.columns[:2]) == ["clinic_name", "ae_flag"]
    assert not any("_" in str(v) for v in grid.value["ae_flag"])


def test_overview_empty_states(app_at, empty_db, absent_db):
    assert "no sessions yet" in texts(app_at(empty_db))
    absent = app_at(absent_db)
    assert not absent.exception and "No database yet" in texts(absent)
