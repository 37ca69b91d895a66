"""dashboard.db: the published file stays attached between reads, keyed on its version.

Each test runs on an instance of its own (``fresh``), so counts of attached databases are exact.
Only the published database (``$KETAOPS_DB``) is kept attached; ``published`` is its path here.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import duckdb
import pytest

from dashboard import db


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A read instance and attachment bookkeeping of this test's own (restored afterwards)."""
    monkeypatch.setattr(db, "_INSTANCE", None)
    monkeypatch.setattr(db, "_CURRENT", OrderedDict())
    monkeypatch.delenv("KETAOPS_READ_MEMORY_LIMIT", raising=False)
    spill_root = tmp_path / "systemp"
    spill_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill_root))  # the "system temp dir" of this test
    yield
    if db._INSTANCE is not None:
        db._INSTANCE.close()


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The path of the published database (``$KETAOPS_DB``), not created yet."""
    path = tmp_path / "k.duckdb"
    monkeypatch.setenv("KETAOPS_DB", str(path))
    return path


_WRITER = duckdb.connect(":memory:")  # attaching a new file costs ms, a new instance ~0.1 s


def _write(path: Path, value: int, rows: int = 100) -> Path:
    """A database whose table ``t`` holds ``rows`` rows, all of them ``value``."""
    con = _WRITER.cursor()
    try:
        con.execute("ATTACH ? AS w", [str(path)]).fetchall()
        con.execute("CREATE TABLE w.t AS SELECT ?::INTEGER AS x FROM range(?)", [value, rows]).fetchall()
        con.execute("DETACH w").fetchall()
    finally:
        con.close()
    return path


def _publish(path: Path, value: int) -> None:
    """Replace ``path`` atomically by a new database, as the refresh publishes."""
    os.replace(_write(path.with_name(f"{path.name}.build-{value}"), value), path)


def _x(con: duckdb.DuckDBPyConnection) -> int:
    lo, hi = con.execute("SELECT min(x), max(x) FROM t").fetchone()
    assert lo == hi
    return lo


def _alias(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_database()").fetchone()[0]


def _attached(path: Path | None = None) -> list[str]:
    """Aliases of the read attachments on the instance (of ``path`` only, if given)."""
    con = db._instance().cursor()
    try:
        rows = con.execute(
            "SELECT database_name, path FROM duckdb_databases() WHERE database_name LIKE 'published_%'"
        ).fetchall()
    finally:
        con.close()
    return sorted(name for name, p in rows if path is None or p == str(path))


def test_consecutive_reads_reuse_one_attachment(published: Path) -> None:
    path = _write(published, 1)
    with db.connect(path) as con:
        first = _alias(con)
        assert _x(con) == 1
    assert _attached(path) == [first]  # still attached after the read
    with db.connect() as con:  # the default path is the published one
        assert _alias(con) == first and _x(con) == 1
    assert _attached() == [first]


def test_a_new_publish_is_read_while_an_open_read_keeps_the_old_file(published: Path) -> None:
    path = _write(published, 1)
    with db.connect(path) as old:
        old_alias = _alias(old)
        _publish(path, 2)
        with db.connect(path) as new:
            assert _x(new) == 2
            new_alias = _alias(new)
        assert new_alias != old_alias
        assert _x(old) == 1  # the open read finishes on the file it started on
        assert _attached(path) == sorted([old_alias, new_alias])
    assert _attached() == [new_alias]  # the old file went with its last reader
    with db.connect(path) as con:
        assert _alias(con) == new_alias and _x(con) == 2


def test_a_replaced_file_nobody_reads_is_detached_by_the_next_read(published: Path) -> None:
    path = _write(published, 1)
    with db.connect(path) as con:
        old_alias = _alias(con)
    _publish(path, 2)
    with db.connect(path) as con:
        assert _x(con) == 2
        assert _attached() == [_alias(con)] != [old_alias]


def test_detach_idle_leaves_the_attachments_in_use(published: Path) -> None:
    path = _write(published, 1)
    with db.connect(path) as con:
        first = _alias(con)
    with db.connect(path) as con:
        assert db.detach_idle() == 0  # the one attachment is in use
        assert _x(con) == 1 and _attached() == [first]
    assert db.detach_idle() == 1
    assert _attached() == []
    with db.connect(path) as con:  # attached afresh
        assert _x(con) == 1 and _alias(con) != first


def test_a_file_published_during_the_attach_serves_that_read_only(
    published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(published, 1)
    real = db.db_version
    versions = iter(["before-attach", "after-attach"])
    monkeypatch.setattr(db, "db_version", lambda p=None: next(versions))
    with db.connect(path) as con:
        assert _x(con) == 1
        one_off = _alias(con)
        assert str(path) not in db._CURRENT and _attached() == [one_off]
    assert _attached() == []  # detached on exit, never reused
    monkeypatch.setattr(db, "db_version", real)
    with db.connect(path) as con:
        assert _alias(con) != one_off
        assert db._CURRENT[str(path)].alias == _alias(con)


def test_a_file_other_than_the_published_one_is_attached_for_one_read(published: Path) -> None:
    _write(published, 1)
    other = _write(published.with_name("other.duckdb"), 7)
    with db.connect(published) as con:
        kept = _alias(con)
    with db.connect(other) as con:
        assert _x(con) == 7 and len(_attached()) == 2
    assert _attached() == [kept]
    # so this process may write it next (DuckDB refuses that while the process has it attached)
    with duckdb.connect(str(other)) as con:
        con.execute("UPDATE t SET x = 8").fetchall()
    with db.connect(other) as con:
        assert _x(con) == 8
    assert _attached() == [kept]


def _read_published(monkeypatch: pytest.MonkeyPatch, path: Path) -> int:
    monkeypatch.setenv("KETAOPS_DB", str(path))
    with db.connect() as con:
        return _x(con)


def test_attached_paths_are_bounded_least_recently_used_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one process, several published paths in turn (as tests and tools do)
    n = db.MAX_ATTACHED_PATHS
    paths = [_write(tmp_path / f"{i}.duckdb", i) for i in range(n + 2)]
    for i, path in enumerate(paths[:n]):
        assert _read_published(monkeypatch, path) == i
    assert len(_attached()) == n
    assert _read_published(monkeypatch, paths[0]) == 0  # 0 is now the most recently used; 1 the least
    assert _read_published(monkeypatch, paths[n]) == n
    assert list(db._CURRENT) == [str(p) for p in [*paths[2:n], paths[0], paths[n]]]
    assert len(_attached()) == n


def test_an_attachment_in_use_is_never_evicted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = db.MAX_ATTACHED_PATHS
    paths = [_write(tmp_path / f"{i}.duckdb", i) for i in range(n + 2)]
    with ExitStack() as stack:
        monkeypatch.setenv("KETAOPS_DB", str(paths[0]))
        held = stack.enter_context(db.connect())  # the least recently used, but in use
        for i, path in enumerate(paths[1:], start=1):
            assert _read_published(monkeypatch, path) == i
        assert _x(held) == 0 and str(paths[0]) in db._CURRENT
        assert len(_attached()) == n
        cons = []
        for path in paths[1:]:  # all of them in use at once
            monkeypatch.setenv("KETAOPS_DB", str(path))
            cons.append(stack.enter_context(db.connect()))
        assert len(_attached()) == n + 2  # over the bound rather than detaching a file being read
        assert [_x(c) for c in [held, *cons]] == list(range(n + 2))
    assert len(_attached()) == n == len(db._CURRENT)  # back within the bound once they are done


def test_readers_on_threads_see_whole_versions_while_files_are_published(
    published: Path, tmp_path: Path
) -> None:
    path = _write(published, 0, rows=2000)
    versions = 25
    builds = [_write(tmp_path / f"build-{v}.duckdb", v, rows=2000) for v in range(1, versions + 1)]
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[list[int]] = [[] for _ in range(4)]

    def read(out: list[int]) -> None:
        try:
            while not stop.is_set() or not out:
                with db.connect(path) as con:
                    lo, hi, n = con.execute("SELECT min(x), max(x), count(*) FROM t").fetchone()
                    assert lo == hi and n == 2000, (lo, hi, n)
                    out.append(lo)
        except BaseException as exc:
            errors.append(exc)

    def publish() -> None:
        try:
            for build in builds:
                os.replace(build, path)
                stop.wait(0.01)
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    threads = [threading.Thread(target=read, args=(out,)) for out in seen]
    threads.append(threading.Thread(target=publish))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    for out in seen:
        assert set(out) <= set(range(versions + 1))
        assert out == sorted(out)  # a thread never goes back to an older publish
    assert any(len(set(out)) > 1 for out in seen)  # reads did overlap publishes
    with db.connect(path) as con:
        assert _x(con) == versions
    assert len(_attached()) == 1


def test_a_missing_file_raises_and_leaves_nothing_attached(published: Path) -> None:
    with pytest.raises(duckdb.IOException), db.connect(published):
        pass
    assert not published.exists() and _attached() == [] and not db._CURRENT
    path = _write(published, 1)
    with db.connect(path) as con:
        _x(con)
    path.unlink()  # the published file disappears: its attachment goes with the next read
    with pytest.raises(duckdb.IOException), db.connect(path):
        pass
    assert _attached() == [] and not db._CURRENT


def _setting(name: str, con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_setting(?)", [name]).fetchone()[0]


def _memory_limit_of(value: str) -> str:
    """DuckDB's own display of a memory limit of ``value``."""
    with duckdb.connect(":memory:", config={"memory_limit": value}) as con:
        return _setting("memory_limit", con)


def test_the_read_instance_has_a_memory_limit(tmp_path: Path) -> None:
    path = _write(tmp_path / "k.duckdb", 1)
    with db.connect(path) as con:
        assert _setting("memory_limit", con) == _memory_limit_of(db.DEFAULT_READ_MEMORY_LIMIT)
        assert _setting("memory_limit", con) != _memory_limit_of("300MB")
        assert Path(_setting("temp_directory", con)).parent == tmp_path / "systemp"


def test_the_memory_limit_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETAOPS_READ_MEMORY_LIMIT", "300MB")
    with db.connect(_write(tmp_path / "k.duckdb", 1)) as con:
        assert _setting("memory_limit", con) == _memory_limit_of("300MB")


def test_a_bad_memory_limit_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETAOPS_READ_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="KETAOPS_READ_MEMORY_LIMIT"), db.connect(tmp_path / "k.duckdb"):
        pass


def test_a_query_over_the_memory_limit_spills_to_the_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETAOPS_READ_MEMORY_LIMIT", "64MB")
    with db.connect(_write(tmp_path / "k.duckdb", 1)) as con:
        # a sort of ~100 MB of strings: out of memory without somewhere to spill
        n = con.execute(
            "SELECT count(*) FROM (SELECT md5(i::VARCHAR) s FROM range(1000000) r(i) ORDER BY s)"
        ).fetchone()[0]
        assert n == 1_000_000
        spill = Path(_setting("temp_directory", con))
        assert spill.is_dir() and spill.parent == tmp_path / "systemp"
