"""Replicas and publishes: a page reads one version, and a viewer never goes back to an older one.

Two "replicas" are two app sessions (AppTest) on the same folder, or on two folders where one
lags (a file-synced copy). A viewer moving between them carries only the page URL, as a browser
reconnecting to another server behind a proxy does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from dashboard import data_version
from dashboard.queries import cache, lookups
from pipelines import publish, versions
from tests.dashboard.conftest import build_demo_like_db, sql_value, texts

# the Overview tile's count for the default period (the 90 days ending on the data's last date)
ADMINISTERED = """
    SELECT count(*) FROM sessions
    WHERE status IN ('completed', 'stopped_early')
      AND CAST(scheduled_at AS DATE) > (SELECT max(CAST(scheduled_at AS DATE)) FROM sessions) - 90"""


@pytest.fixture(scope="module")
def first_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_like_db(tmp_path_factory.mktemp("v1") / "build.duckdb")


def _publish_first(folder: Path, first_build: Path) -> Path:
    db = folder / "ketaops.duckdb"
    folder.mkdir(parents=True, exist_ok=True)
    build = folder / "ketaops.duckdb.building-1"
    shutil.copyfile(first_build, build)
    publish.publish(build, db)
    return db


def _publish_fewer_sessions(db: Path) -> Path:
    """Publish the next version: the current one with clinic C1's sessions marked no-shows."""
    build = db.with_name(db.name + ".building-2")
    shutil.copyfile(db, build)
    con = duckdb.connect(str(build))
    con.execute("UPDATE sessions SET status = 'no_show' WHERE clinic_id = 'C1'").fetchall()
    publish.finish(con)
    return publish.publish(build, db)


def _administered_tile(at) -> int:
    tile = next(m for m in at.metric if m.label == "Administered sessions")
    return int(str(tile.value).replace(",", ""))


def _network_administered(at) -> int:
    """The tile for the whole network over the default period."""
    return _administered_tile(at)


def _open(app_at, db: Path, **query: str):
    return app_at(db, **query)


def _version_shown(at) -> str:
    shown = [line for line in texts(at).splitlines() if "version " in line and "Data as of" in line]
    assert len(shown) == 1, shown
    return shown[0].rsplit("version ", 1)[1].strip()


def test_resolve_reads_the_pointer_or_a_newer_floor_never_an_older_one(tmp_path: Path, first_build: Path):
    db = _publish_first(tmp_path, first_build)
    assert data_version.resolve(db) == data_version.Pinned("v1", versions.version_path(db, 1), 1)
    assert data_version.resolve(db, floor=0).number == 1  # a floor below the pointer is only a floor
    with pytest.raises(data_version.NotHereYet):
        data_version.resolve(db, floor=2)  # seen elsewhere, not on this server yet
    shutil.copyfile(versions.version_path(db, 1), versions.version_path(db, 2))  # synced, no pointer yet
    assert data_version.resolve(db, floor=2).path == versions.version_path(db, 2)
    assert data_version.resolve(tmp_path / "none.duckdb") is None


def test_two_replicas_on_one_folder_switch_together_and_never_go_back(app_at, tmp_path, first_build):
    db = _publish_first(tmp_path / "shared", first_build)
    v1_count = sql_value(db, ADMINISTERED)
    a = _open(app_at, db)
    assert not a.exception and _version_shown(a) == "1" and a.query_params["v"] == "1"
    assert _network_administered(a) == v1_count
    v2 = _publish_fewer_sessions(db)
    v2_count = sql_value(v2, ADMINISTERED)
    assert v2_count < v1_count
    # the same viewer on the other replica (its URL carries v=1): the version published now
    b = _open(app_at, db, v="1")
    assert _version_shown(b) == "2" and _network_administered(b) == v2_count
    # and back on the first replica, whose cache still holds version 1's figures
    a.run()
    assert _version_shown(a) == "2" and _network_administered(a) == v2_count


def test_a_lagging_replica_never_serves_an_older_version_than_the_viewer_saw(
    app_at, tmp_path, first_build, monkeypatch
):
    """The test that fails if a replica can serve a mixed version: replica B's folder is a copy
    taken before version 2 was published on A."""
    db_a = _publish_first(tmp_path / "a", first_build)
    folder_b = tmp_path / "b"
    shutil.copytree(db_a.parent, folder_b, symlinks=True)
    db_b = folder_b / "ketaops.duckdb"
    assert os.readlink(db_b) == "ketaops.v1.duckdb"
    v2 = _publish_fewer_sessions(db_a)
    v1_count, v2_count = sql_value(db_b, ADMINISTERED), sql_value(v2, ADMINISTERED)
    a = _open(app_at, db_a)
    assert _version_shown(a) == "2" and a.query_params["v"] == "2"
    url = {"v": a.query_params["v"]}
    monkeypatch.setenv("KETAOPS_VERSION_WAIT_SECONDS", "0")
    # fail-over to B, which has only version 1: a notice, not version 1's figures
    b = _open(app_at, db_b, **url)
    assert not a.exception and not b.exception
    assert "has not received data version 2" in texts(b)
    assert "Data as of" not in texts(b) and not b.metric
    # the sync has copied version 2's file but not yet the pointer: B serves version 2 from it
    shutil.copyfile(v2, folder_b / v2.name)
    assert os.readlink(db_b) == "ketaops.v1.duckdb"
    b = _open(app_at, db_b, **url)
    assert _version_shown(b) == "2" and _network_administered(b) == v2_count
    # a new viewer who never saw version 2 gets B's current version, as before the publish
    fresh = _open(app_at, db_b)
    assert _version_shown(fresh) == "1" and _network_administered(fresh) == v1_count


def test_a_publish_during_a_page_run_does_not_reach_that_run(app_at, tmp_path, first_build, monkeypatch):
    db = _publish_first(tmp_path / "mid", first_build)
    read: list[Path] = []
    real_connect = cache.connect

    def connect_then_publish(path: Path):
        read.append(Path(path))
        if len(read) == 1:
            _publish_fewer_sessions(db)  # right after the run's first read
        return real_connect(path)

    for reader in (cache, lookups):  # every cached read of the dashboard opens its file here
        monkeypatch.setattr(reader, "connect", connect_then_publish)
    at = _open(app_at, db)
    assert not at.exception and len(read) > 3
    assert set(read) == {versions.version_path(db, 1).resolve()}  # every read of the run: version 1
    assert _version_shown(at) == "1" and versions.current(db) == 2
    assert _network_administered(at) == sql_value(versions.version_path(db, 1), ADMINISTERED)
