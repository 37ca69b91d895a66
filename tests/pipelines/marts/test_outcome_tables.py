"""pipelines/marts/outcome_tables.py: the refresh's per-patient outcome tables change no figure.

Every Outcomes metric is computed twice on the same database: inline from the raw
tables (the path a database without the tables takes, which tests/dashboard/metrics
checks against hand-computed values) and from the tables the refresh built; they
must agree exactly. An incremental refresh's update of the touched patients must
leave the same rows as a rebuild from scratch.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dashboard.db import connect
from dashboard.metrics import outcomes
from dashboard.metrics.filters import Filters
from pipelines import compat, marts
from pipelines.cli import main
from pipelines.marts import first_sessions, maintenance, outcome_tables
from pipelines.model.config import MetricConfig

CFG = MetricConfig(suppression_k=3)


def _same(a: Any, b: Any) -> bool:
    """Equal results: frames as sorted rows (row order carries no meaning), dicts by key; floats
    to 1e-12 (a standard deviation summed in another row order differs in the last bits)."""
    if isinstance(a, pl.DataFrame):
        try:
            assert_frame_equal(a, b, check_row_order=False, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
        except AssertionError:
            return False
        return True
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-12, nan_ok=True)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _figures(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with connect(path) as con:
        end = con.execute("SELECT CAST(max(scheduled_at) AS DATE) FROM sessions").fetchall()[0][0]
        ids = tuple(r[0] for r in con.execute("SELECT clinic_id FROM clinics ORDER BY 1").fetchall())
        year = Filters(start=end - timedelta(days=364), end=end, clinic_ids=ids)
        sets = {
            "year": year,
            "quarter, two clinics": Filters(start=end - timedelta(days=89), end=end, clinic_ids=ids[:2]),
            "year, iv, depression": Filters(
                start=year.start, end=end, clinic_ids=ids, routes=("iv",), conditions=("depression",)
            ),
        }
        for name, f in sets.items():
            out[f"{name}: measures"] = outcomes.outcome_measures(con, f, CFG)
            out[f"{name}: summary"] = outcomes.outcome_summary(con, f, CFG)
            out[f"{name}: report"] = outcomes.outcomes_report(con, f, CFG)
            out[f"{name}: completeness"] = outcomes.mbc_completeness(con, f, CFG)
            out[f"{name}: ideation signals"] = outcomes.ideation_signals(con, f)
            for pair in (("depression", "phq9"), ("depression", "gad7"), ("ptsd", "pcl5")):
                out[f"{name}: detail {pair}"] = outcomes.outcome_detail(con, f, CFG, *pair)
                out[f"{name}: trajectory {pair}"] = outcomes.trajectory(con, f, CFG, *pair)
                out[f"{name}: comparison {pair}"] = outcomes.clinic_comparison(con, f, CFG, *pair)
                out[f"{name}: km {pair}"] = outcomes.time_to_response(con, f, CFG, *pair)
    return out


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(exports, next day's exports, database refreshed from the first): 3 clinics × 0.4 years."""
    root = tmp_path_factory.mktemp("outcome_tables")
    common = ["--clinics", "3", "--years", "0.4", "--start", "2026-06-01", "--seed", "5"]
    exports, next_day = root / "exports", root / "next"
    assert main(["demo-data", "--out", str(exports), *common, "--end", "2026-10-20"]) == 0
    assert main(["demo-data", "--out", str(next_day), *common, "--end", "2026-10-21"]) == 0
    db = root / "ketaops.duckdb"
    assert main(["refresh", "--exports", str(exports), "--db", str(db)]) == 0
    return exports, next_day, db


def test_figures_from_the_tables_equal_the_inline_computation(
    refreshed: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = refreshed[2]
    tabled = _figures(db)
    with monkeypatch.context() as m:
        m.setattr(compat, "outcome_tables_present", lambda con: False)  # as on a database without them
        inline = _figures(db)
    assert inline.keys() == tabled.keys()
    differ = [k for k in inline if not _same(inline[k], tabled[k])]
    assert differ == []
    # not vacuous: the year's primary depression response has evaluable patients
    m = inline["year: measures"].filter(
        (pl.col("condition") == "depression")
        & (pl.col("instrument") == "phq9")
        & (pl.col("measure") == "response")
    )
    assert m["denominator"][0] >= 10


def _in_small_chunks(
    refreshed: tuple[Path, Path, Path], copy: Path, monkeypatch: pytest.MonkeyPatch
) -> duckdb.DuckDBPyConnection:
    """A writable copy of the refreshed database, its outcome rebuild in chunks of 500 scores."""
    shutil.copy(refreshed[2], copy)
    monkeypatch.setattr(outcome_tables, "SCORES_PER_CHUNK", 500)
    return duckdb.connect(str(copy))


def test_a_rebuild_in_chunks_leaves_the_same_rows(
    refreshed: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "chunked.duckdb"
    con = _in_small_chunks(refreshed, copy, monkeypatch)
    try:
        [(n_scores,)] = con.execute("SELECT count(*) FROM assessments").fetchall()
        assert n_scores > 3 * 500  # several chunks
        outcome_tables.rebuild(con)
        # chunks are computed ahead on a thread but written in order: each table stays in day-0 order
        for table in outcome_tables.TABLES:
            [(back,)] = con.execute(
                f"SELECT count(*) FILTER (WHERE day0 < prev) FROM "
                f"(SELECT day0, lag(day0) OVER (ORDER BY rowid) AS prev FROM {table})"
            ).fetchall()
            assert back == 0, table
    finally:
        con.close()
    rows = _table_rows(copy)
    assert rows == _table_rows(refreshed[2])
    assert len(rows[marts.OUTCOME_PATIENTS]) > 100


def test_a_chunk_that_fails_fails_the_rebuild(
    refreshed: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = outcome_tables.compute, []

    def compute(con: duckdb.DuckDBPyConnection, keyed: pl.DataFrame) -> dict[str, pl.DataFrame]:
        calls.append(keyed.height)
        if len(calls) == 2:  # the chunk computed on the thread while the first is written
            raise RuntimeError("chunk 2 failed")
        return real(con, keyed)

    monkeypatch.setattr(outcome_tables, "compute", compute)
    con = _in_small_chunks(refreshed, tmp_path / "failing.duckdb", monkeypatch)
    try:
        with pytest.raises(RuntimeError, match="chunk 2 failed"):
            outcome_tables.rebuild(con)
    finally:
        con.close()
    assert len(calls) == 2  # nothing computed after the failure


def _table_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
            for t in marts.PER_PATIENT_TABLES
        }
    finally:
        con.close()


def test_incremental_refresh_updates_touched_patients_like_a_rebuild(
    refreshed: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports, next_day = tmp_path / "exports", refreshed[1]
    shutil.copytree(refreshed[0], exports)
    db = tmp_path / "ketaops.duckdb"
    shutil.copy(refreshed[2], db)

    paths: list[str] = []
    original = marts.update_per_patient_tables

    def spy(con: duckdb.DuckDBPyConnection) -> str:
        paths.append(original(con))
        return paths[-1]

    monkeypatch.setattr(marts, "update_per_patient_tables", spy)
    added = [p for p in next_day.rglob("*.csv") if not (exports / p.relative_to(next_day)).exists()]
    assert added
    for p in added:
        shutil.copy2(p, exports / p.relative_to(next_day))
    assert main(["refresh", "--exports", str(exports), "--db", str(db)]) == 0
    assert paths == ["updated"]  # the day's patients only, not a rebuild

    incremental = _table_rows(db)
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(db, rebuilt)
    con = duckdb.connect(str(rebuilt))
    try:
        first_sessions.build_first_sessions(con)
        outcome_tables.rebuild(con)
    finally:
        con.close()
    assert incremental == _table_rows(rebuilt)
    # the new day reached the tables: a patient whose day 0 is the new day
    with duckdb.connect(str(db), read_only=True) as con:
        sql = f"SELECT count(*) FROM {marts.FIRST_SESSIONS} WHERE CAST(day0 AS DATE) = DATE '2026-10-21'"
        assert con.execute(sql).fetchall()[0][0] > 0


def test_the_rebuild_runs_other_work_while_its_first_chunk_is_computed(
    refreshed: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full refresh builds the maintenance rows then, instead of idling on the first chunk."""
    import threading

    real, computing, released = outcome_tables.compute, threading.Event(), threading.Event()
    overlapped: list[bool] = []

    def compute(con: duckdb.DuckDBPyConnection, keyed: pl.DataFrame) -> dict[str, pl.DataFrame]:
        computing.set()
        released.wait(timeout=10)  # the first chunk is held until the work beside it has run
        return real(con, keyed)

    def meanwhile() -> None:
        overlapped.append(computing.wait(timeout=10))
        released.set()

    monkeypatch.setattr(outcome_tables, "compute", compute)
    con = _in_small_chunks(refreshed, tmp_path / "meanwhile.duckdb", monkeypatch)
    try:
        outcome_tables.rebuild(con, meanwhile=meanwhile)
    finally:
        con.close()
    assert overlapped == [True]
    assert _table_rows(tmp_path / "meanwhile.duckdb") == _table_rows(refreshed[2])


def test_a_full_rebuild_builds_the_maintenance_rows_beside_the_first_sessions(
    refreshed: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read every session; neither keeps two cores busy, so they run at once (on two cursors)."""
    import threading

    both_running = threading.Barrier(2, timeout=10)  # broken, and raising, if they run one after the other
    for module, name in (
        (first_sessions, "build_first_sessions"),
        (maintenance, "build_maintenance_sessions"),
    ):
        real = getattr(module, name)

        def meet(con: duckdb.DuckDBPyConnection, real: Any = real) -> None:
            both_running.wait()
            real(con)

        monkeypatch.setattr(module, name, meet)
    copy = tmp_path / "beside.duckdb"
    con = _in_small_chunks(refreshed, copy, monkeypatch)
    try:
        con.execute(f"DROP TABLE {marts.MAINTENANCE_SESSIONS}").fetchall()  # as a first load: rebuild
        assert marts.update_per_patient_tables(con) == "rebuilt"
    finally:
        con.close()
    assert _table_rows(copy) == _table_rows(refreshed[2])


def test_tables_of_an_older_layout_are_read_then_rebuilt_without_the_removed_columns(
    refreshed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """The outcome rows no longer carry the patient key (its strings cost ~15% of their writes),
    nor the session scores the patient's day-0 attributes (~80% of theirs). A database published
    with them still gives the same figures, and the next refresh, even with no new file, rebuilds
    the tables without them."""
    exports, _, db = refreshed
    older = tmp_path / "older.duckdb"
    shutil.copy(db, older)
    day0_attributes = {"clinic_id": "fs.clinic_id", "condition": "fs.primary_condition"}
    day0_attributes |= {"route": "fs.route", "modality": "fs.modality", "patient_key": "fs.patient_key"}
    with duckdb.connect(str(older)) as con:
        for table, removed in compat.REMOVED_COLUMNS.items():
            for column in removed:
                # filled as that version did; a wrong value would change the figures compared below
                con.execute(f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR").fetchall()
                con.execute(
                    f"UPDATE {table} SET {column} = {day0_attributes[column]} "
                    f"FROM {marts.FIRST_SESSIONS} fs WHERE fs.patient_no = {table}.patient_no"
                ).fetchall()
        assert not compat.per_patient_tables_complete(con)
    before = _figures(db)
    older_figures = _figures(older)
    assert [k for k in before if not _same(before[k], older_figures[k])] == []
    assert main(["refresh", "--exports", str(exports), "--db", str(older)]) == 0
    with duckdb.connect(str(older), read_only=True) as con:
        assert compat.per_patient_tables_complete(con)
        for table, removed in compat.REMOVED_COLUMNS.items():
            assert not any(compat.table_exists(con, table, (column,)) for column in removed), table
    assert _table_rows(older) == _table_rows(db)
