"""``ketaops refresh`` as real processes: CLI contract, readers during refreshes, kills, lock, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines import publish, versions
from pipelines.lock import lock_path
from pipelines.refresh import EXIT_CANT_WRITE, EXIT_FAILED, EXIT_LOCKED, EXIT_NO_EXPORTS, STAGES, refresh
from pipelines.status import EXIT_LAST_RUN_FAILED, check_status

pytestmark = pytest.mark.slow

SESSIONS = "session_id,patient_key,clinic_id,scheduled_at,status,phase,dose_mg,weight_kg,duration_min"
DATA_TABLES = ["clinics", "patients", "sessions", "assessments", "adverse_events"]


def write(path: Path, header: str, *rows: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def add_day(exports: Path, day: int, n: int = 5) -> None:
    """n completed sessions of 10 mg each for patient P1 on 2025-03-<day>."""
    rows = [
        f"S{day}-{i},P1,C1,2025-03-{day:02d}T{8 + i:02d}:00,completed,induction,10,70,40" for i in range(n)
    ]
    write(exports / "C1" / f"sessions_2025-03-{day:02d}.csv", SESSIONS, *rows)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    ex = tmp_path / "exports"
    write(ex / "clinics.csv", "clinic_id,clinic_name,region,opened_on,chairs", "C1,North,N,2025-01-01,4")
    write(
        ex / "C1" / "patients.csv",
        "patient_key,home_clinic_id,sex,age_band,primary_condition,enrolled_on",
        "P1,C1,F,25-34,depression,2025-02-01",
    )
    add_day(ex, 1, n=10)
    return ex


def run_cli(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "pipelines.cli", "refresh", *args]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **kw,
    )


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*args, env=env)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def checksums(db: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        sql = "SELECT count(*), md5(coalesce(string_agg(r::VARCHAR, '|' ORDER BY r::VARCHAR), '')) FROM {} r"
        return {
            t: con.execute(sql.format(t)).fetchone() for t in [*DATA_TABLES, "refresh_runs", "source_files"]
        }
    finally:
        con.close()


def siblings(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir())


def test_success_prints_one_parseable_summary_line(exports: Path, tmp_path: Path) -> None:
    db = tmp_path / "out" / "k.duckdb"  # the folder is created
    result = cli("--exports", str(exports), "--db", str(db))
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert " ketaops-refresh INFO run_finished " in line
    fields = dict(kv.split("=", 1) for kv in line.split()[4:])
    # 3 files: 1 clinic + 1 patient + 10 sessions loaded, nothing rejected
    assert (fields["status"], fields["files_read"], fields["rows_loaded"], fields["rows_rejected"]) == (
        "succeeded",
        "3",
        "12",
        "0",
    )
    assert "redactions" in fields and float(fields["seconds"]) > 0
    stages = dict(pair.split(":") for pair in fields["stages"].split(","))  # where the time went
    assert {"discover", "copy", "validate", "load", "optimise", "checkpoint", "publish"} <= set(stages)
    assert all(float(v) >= 0 for v in stages.values())
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    assert siblings(db) == ["k.duckdb", "k.duckdb.lock", "k.v1.duckdb"]
    assert os.readlink(db) == "k.v1.duckdb"  # the published path names the first version


@pytest.mark.parametrize(
    ("make_args", "code", "words"),
    [
        (
            lambda tmp: ["--exports", str(tmp / "nope"), "--db", str(tmp / "k.duckdb")],
            EXIT_NO_EXPORTS,
            "not found",
        ),
        (
            lambda tmp: ["--exports", str(tmp), "--db", str(tmp / "afile" / "k.duckdb")],
            EXIT_CANT_WRITE,
            "afile",
        ),
        (lambda tmp: ["--exports", str(tmp), "--db", str(tmp)], EXIT_CANT_WRITE, "is a folder"),
    ],
)
def test_fatal_errors_are_one_line_with_their_own_exit_code(
    tmp_path: Path, make_args, code: int, words: str
) -> None:
    (tmp_path / "afile").write_text("a file where a folder should be")
    result = cli(*make_args(tmp_path))
    assert result.returncode == code
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "ERROR fatal" in line and words in line and "Traceback" not in line


def test_readers_never_fail_and_never_see_half_a_refresh(exports: Path, tmp_path: Path) -> None:
    db = tmp_path / "pub" / "k.duckdb"
    assert refresh(exports, db).status == "succeeded"
    reader = tmp_path / "reader.py"
    reader.write_text(
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from dashboard.db import connect\n"
        "db, stop = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "while not stop.exists():\n"
        "    try:\n"
        "        with connect(db) as con:\n"
        "            n, mg = con.execute('SELECT count(*), sum(dose_mg) FROM sessions').fetchone()\n"
        "            runs = con.execute('SELECT count(*) FROM refresh_runs').fetchone()[0]\n"
        "        print(json.dumps([n, mg, runs]), flush=True)\n"
        "    except Exception as exc:\n"
        "        print(json.dumps(['error', repr(exc)]), flush=True)\n"
        "    time.sleep(0.01)  # leave the 2-core CI machine to the refresh\n"
    )
    stop = tmp_path / "stop"
    proc = subprocess.Popen(
        [sys.executable, str(reader), str(db), str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        for day in (2, 3, 4):
            add_day(exports, day)
            result = cli("--exports", str(exports), "--db", str(db))
            assert result.returncode == 0, result.stderr
        time.sleep(0.5)
    finally:
        stop.touch()
        out, _ = proc.communicate(timeout=60)
    answers = [tuple(json.loads(line)) for line in out.splitlines()]
    assert answers and not [a for a in answers if a[0] == "error"]
    # state k (k = 0..3 refreshes after the first): 10 + 5k sessions of 10 mg, k + 1 runs — never a mix
    published = {(10 + 5 * k, 10.0 * (10 + 5 * k), k + 1) for k in range(4)}
    assert set(answers) <= published
    assert len(set(answers)) >= 2  # the reader really ran across publishes
    assert answers[-1] == (25, 250.0, 4)


@pytest.mark.parametrize("stage", STAGES)
def test_sigkill_at_any_stage_leaves_the_published_database_as_it_was(
    exports: Path, tmp_path: Path, stage: str
) -> None:
    db = tmp_path / "pub" / "k.duckdb"
    refresh(exports, db)
    before = checksums(db)
    add_day(exports, 2)
    proc = run_cli("--exports", str(exports), "--db", str(db), env={"KETAOPS_TEST_PAUSE_AT": stage})
    assert proc.stderr is not None and proc.stderr.readline().strip() == f"paused at {stage}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert checksums(db) == before  # opens, same content
    assert f"pid {proc.pid}" in lock_path(db).read_text()  # the killed run's lock is left behind
    after = refresh(exports, db)
    assert after.status == "succeeded", after.message
    assert "stale lock" in after.message
    assert checksums(db)["sessions"][0] == 15
    # no build file, WAL or spill folder left; the pointer names the newest version. A run killed
    # between naming its version and swapping the pointer leaves that version unpublished: the
    # next run numbers past it (a name is never given to two files)
    assert not [n for n in siblings(db) if publish.BUILD_MARK in n or versions.POINTER_MARK in n]
    killed_named_one = stage == "before_pointer"
    expected = ["k.v1.duckdb", "k.v2.duckdb", *(["k.v3.duckdb"] if killed_named_one else [])]
    assert siblings(db) == ["k.duckdb", "k.duckdb.lock", *expected]
    assert os.readlink(db) == expected[-1]


def test_two_refreshes_at_once_one_runs_the_other_waits_or_gives_up(exports: Path, tmp_path: Path) -> None:
    db = tmp_path / "pub" / "k.duckdb"
    slow = {"KETAOPS_TEST_PAUSE_AT": "locked", "KETAOPS_TEST_PAUSE_SECONDS": "3"}
    first = run_cli("--exports", str(exports), "--db", str(db), env=slow)
    assert first.stderr is not None and first.stderr.readline().strip() == "paused at locked"
    busy = cli("--exports", str(exports), "--db", str(db))  # --wait 0 (default)
    assert busy.returncode == EXIT_LOCKED == 75
    (line,) = busy.stderr.splitlines()
    assert "another refresh is running" in line and f"pid {first.pid}" in line
    waiter = cli("--exports", str(exports), "--db", str(db), "--wait", "60")
    assert waiter.returncode == 0, waiter.stderr
    assert first.wait(timeout=60) == 0
    runs = check_status(db, 9999, date(2025, 4, 1)).runs  # published and recorded beside the file
    # newest first: the waiter, finding nothing new; the run that found the lock busy; the first
    assert [(r["status"], r["files_read"]) for r in runs] == [
        ("succeeded", 0),
        ("failed", 0),
        ("succeeded", 3),
    ]
    assert runs[1]["message"].startswith("exit 75: another refresh is running")


def test_failed_run_leaves_the_file_untouched_is_recorded_and_the_next_run_succeeds(
    exports: Path, tmp_path: Path
) -> None:
    db = tmp_path / "pub" / "k.duckdb"
    refresh(exports, db)
    before = db.read_bytes()
    add_day(exports, 2)
    failed = cli("--exports", str(exports), "--db", str(db), env={"KETAOPS_TEST_FAIL_AT": "mid_load"})
    assert failed.returncode == EXIT_FAILED
    (line,) = failed.stderr.splitlines()
    assert "ERROR run_failed" in line and "failure injected at mid_load" in line
    assert db.read_bytes() == before  # byte for byte
    assert siblings(db) == ["k.duckdb", "k.duckdb.lock", "k.duckdb.unpublished-runs.jsonl", "k.v1.duckdb"]
    status_cmd = [sys.executable, "-m", "pipelines.cli", "status", "--db", str(db), "--stale-days", "9999"]
    status = subprocess.run(status_cmd, capture_output=True, text=True, timeout=60)
    assert status.returncode == EXIT_LAST_RUN_FAILED, status.stdout
    assert cli("--exports", str(exports), "--db", str(db)).returncode == 0
    con = duckdb.connect(str(db), read_only=True)
    runs = con.execute("SELECT status FROM refresh_runs ORDER BY started_at").fetchall()
    con.close()
    assert runs == [("succeeded",), ("failed",), ("succeeded",)]
    assert not publish.side_runs_path(db).exists()


DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_cron_line_runs_a_refresh_under_its_own_flock(exports: Path, tmp_path: Path) -> None:
    """The cron flock must not be the refresh's own lock file, or every run would report 'busy'."""
    line = next(x for x in (DEPLOY / "ketaops-refresh.cron").read_text().splitlines() if x.startswith("*/"))
    command = " ".join(line.split()[6:])  # after the five time fields and the user
    data = tmp_path / "data"
    data.mkdir()
    # the signals step after a successful refresh: an env file and a config with no recipients
    (tmp_path / "signals.env").write_text("KETAOPS_TEST=1\n")
    (tmp_path / "signals.toml").write_text("")
    command = (
        command.replace("cd /opt/ketaops", f"cd {DEPLOY.parent}")
        .replace(".venv/bin/ketaops", f"{sys.executable} -m pipelines.cli")
        .replace("/srv/ketaops/exports", str(exports))
        .replace("/srv/ketaops/data", str(data))
        .replace("/var/log/ketaops", str(tmp_path))
        .replace("/etc/ketaops", str(tmp_path))
    )
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120)
    logs = {name: (tmp_path / name).read_text() for name in ("refresh.log", "signals.log")}
    assert result.returncode == 0, logs
    assert "run_finished" in logs["refresh.log"]
    assert (data / "ketaops.duckdb").exists()


def test_systemd_units_are_a_oneshot_service_and_a_persistent_timer() -> None:
    from pipelines.cli import build_parser

    service = (DEPLOY / "ketaops-refresh.service").read_text()
    timer = (DEPLOY / "ketaops-refresh.timer").read_text()
    assert "Type=oneshot" in service.splitlines() and "Persistent=true" in timer.splitlines()
    exec_start = next(x for x in service.splitlines() if x.startswith("ExecStart="))
    args = build_parser().parse_args(exec_start.split()[1:])  # the options exist and parse
    assert (args.command, args.wait) == ("refresh", 600.0)
    assert f"SuccessExitStatus={EXIT_LOCKED}" in service.splitlines()


def test_the_refresh_imports_no_scipy() -> None:
    """SciPy is for the pages' intervals and limits; importing it cost every refresh ~0.4-1 s of a
    daily run's ~10 s. The refresh builds its per-patient tables with the shared model's
    functions (``pipelines.model``), which import no statistics module."""
    import subprocess
    import sys

    code = (
        "import sys, pipelines.refresh, pipelines.validate, pipelines.marts.outcome_tables, pipelines.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("operator_conf", [None, "dirty_decay_ms:2000"])
def test_the_refresh_gives_polars_allocator_its_setting_before_polars_reads_it(
    tmp_path: Path, operator_conf: str | None
) -> None:
    """Polars reads ``_RJEM_MALLOC_CONF`` once, when it is imported, and puts its own defaults
    first: a value that ends with the refresh's setting *after* Polars' defaults shows that the
    setting was there before Polars loaded. An operator's own value comes last, so it wins."""
    from pipelines.cli import POLARS_ALLOCATOR, REFRESH_ALLOCATOR_CONF

    argv = ["refresh", "--exports", str(tmp_path / "missing"), "--db", str(tmp_path / "k.duckdb")]
    code = (
        "import os, sys; from pipelines.cli import main; "
        f"code = main({argv!r}); "
        f"print(code, 'polars' in sys.modules, os.environ[{POLARS_ALLOCATOR!r}])"
    )
    env = {k: v for k, v in os.environ.items() if k != POLARS_ALLOCATOR}
    if operator_conf:
        env[POLARS_ALLOCATOR] = operator_conf
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    exit_code, polars_loaded, conf = out.stdout.split()
    assert (int(exit_code), polars_loaded) == (EXIT_NO_EXPORTS, "True")
    ours = f"{REFRESH_ALLOCATOR_CONF},{operator_conf}" if operator_conf else REFRESH_ALLOCATOR_CONF
    assert conf.endswith("," + ours) and conf != ours  # Polars' own defaults went first


def test_an_in_process_refresh_leaves_the_allocator_setting_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """With Polars already loaded (tests, a notebook) the setting could no longer take effect."""
    import polars  # noqa: F401

    from pipelines import cli

    monkeypatch.setenv(cli.POLARS_ALLOCATOR, "left:alone")
    cli._keep_freed_memory_longer()
    assert os.environ[cli.POLARS_ALLOCATOR] == "left:alone"


def _one_file_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.refresh

    monkeypatch.setattr(pipelines.refresh, "BATCH_BYTES", 1)  # every file is a chunk of its own


def test_the_next_chunks_are_validated_on_a_thread_while_the_current_one_loads(
    exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import pipelines.validate
    from pipelines.load import TableLoader
    from pipelines.refresh import VALIDATE_AHEAD

    assert VALIDATE_AHEAD >= 2  # else this test would not see the second chunk ahead

    for day in (2, 3, 4):
        add_day(exports, day)
    files = 6  # clinics, patients, four days of sessions: six chunks
    _one_file_per_chunk(monkeypatch)
    started: list[threading.Event] = [threading.Event() for _ in range(files)]
    threads: set[str] = set()
    overlapped: list[bool] = []
    beyond: list[bool] = []
    real_validate, real_stage = pipelines.validate.validate_batch, TableLoader.stage_batch

    def validate(items):  # type: ignore[no-untyped-def]
        threads.add(threading.current_thread().name)
        started[sum(e.is_set() for e in started)].set()
        return real_validate(items)

    def stage(self, loads, results, accepted):  # type: ignore[no-untyped-def]
        i = len(overlapped)
        # the chunks up to VALIDATE_AHEAD past this one start validating while it is staged; a run
        # validating fewer ahead (or none: sequential) would wait here in vain
        overlapped.append(started[min(i + VALIDATE_AHEAD, files - 1)].wait(timeout=10))
        # … and none beyond them (memory stays bounded), however long this one takes
        if i + VALIDATE_AHEAD + 1 < files:
            beyond.append(started[i + VALIDATE_AHEAD + 1].wait(timeout=0.1))
        return real_stage(self, loads, results, accepted)

    monkeypatch.setattr(pipelines.validate, "validate_batch", validate)
    monkeypatch.setattr(TableLoader, "stage_batch", stage)
    db = tmp_path / "k.duckdb"
    summary = refresh(exports, db)
    assert summary.status == "succeeded", summary.message
    assert overlapped == [True] * files
    assert beyond == [False] * (files - VALIDATE_AHEAD - 1)
    assert threading.current_thread().name not in threads  # validated off the loading thread
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT session_number) FROM sessions").fetchone() == (25, 25)
    con.close()


def test_a_table_is_applied_before_the_next_tables_files_are_validated(
    exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader applies a table once its last chunk is staged, not when the next table's
    first chunk arrives: a network's first chunk of adverse events took 4-7 s to validate."""
    import threading

    import pipelines.validate
    from pipelines.contract import table_for_file
    from pipelines.load import TableLoader

    applied = {t: threading.Event() for t in DATA_TABLES}
    waited: list[bool] = []
    real_validate, real_apply = pipelines.validate.validate_batch, TableLoader.apply

    def validate(items):  # type: ignore[no-untyped-def]
        table = table_for_file(items[0][1])
        if table is not None and table.name == "sessions":
            # a loader that waits for this chunk before applying the patients would wait in vain
            waited.append(applied["patients"].wait(timeout=5))
        return real_validate(items)

    def apply(self):  # type: ignore[no-untyped-def]
        real_apply(self)
        applied[self.table.name].set()

    monkeypatch.setattr(pipelines.validate, "validate_batch", validate)
    monkeypatch.setattr(TableLoader, "apply", apply)
    summary = refresh(exports, tmp_path / "k.duckdb")
    assert summary.status == "succeeded", summary.message
    assert waited == [True]
    assert summary.rows_loaded == 12  # clinic, patient, ten sessions


def test_chunks_are_validated_on_several_threads_at_once(
    exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import pipelines.validate
    from pipelines.refresh import VALIDATE_AHEAD, VALIDATE_WORKERS

    assert 2 <= VALIDATE_WORKERS <= VALIDATE_AHEAD + 1  # else fewer would run at once than asserted
    for day in (2, 3, 4):
        add_day(exports, day)
    _one_file_per_chunk(monkeypatch)
    together = threading.Barrier(VALIDATE_WORKERS, timeout=10)
    met: list[bool] = []
    real_validate = pipelines.validate.validate_batch

    def validate(items):  # type: ignore[no-untyped-def]
        if items[0][1].endswith(("03-02.csv", "03-03.csv")):  # two chunks of sessions meet here
            try:
                together.wait()
                met.append(True)
            except threading.BrokenBarrierError:
                met.append(False)
        return real_validate(items)

    monkeypatch.setattr(pipelines.validate, "validate_batch", validate)
    summary = refresh(exports, tmp_path / "k.duckdb")
    assert summary.status == "succeeded", summary.message
    assert met == [True] * VALIDATE_WORKERS
    assert summary.rows_loaded == 2 + 10 + 3 * 5


@pytest.mark.parametrize("failing", ["validate", "stage"])
def test_a_chunk_that_fails_to_validate_or_load_fails_the_run_and_leaves_no_thread_behind(
    exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    import threading

    import pipelines.validate
    from pipelines.load import TableLoader
    from pipelines.refresh import VALIDATE_AHEAD

    db = tmp_path / "k.duckdb"
    refresh(exports, db)
    before = checksums(db)
    days = (2, 3, 4, 5, 6)  # five chunks: the ones after a failure are more than VALIDATE_AHEAD
    for day in days:
        add_day(exports, day)
    _one_file_per_chunk(monkeypatch)
    calls: list[str] = []
    real_validate, real_stage = pipelines.validate.validate_batch, TableLoader.stage_batch

    def validate(items):  # type: ignore[no-untyped-def]
        calls.append(items[0][1])
        if failing == "validate" and len(calls) == 2:
            raise MemoryError("injected")
        return real_validate(items)

    def stage(self, loads, results, accepted):  # type: ignore[no-untyped-def]
        if failing == "stage" and loads[0].rel_path.endswith("03.csv"):
            raise MemoryError("injected")
        return real_stage(self, loads, results, accepted)

    monkeypatch.setattr(pipelines.validate, "validate_batch", validate)
    monkeypatch.setattr(TableLoader, "stage_batch", stage)
    summary = refresh(exports, db)
    assert summary.status == "failed" and "MemoryError: injected" in summary.message
    assert checksums(db) == before
    # nothing queued behind the failure is validated: at most VALIDATE_AHEAD chunks past the one
    # being loaded (the 2nd chunk when validation fails, the 2nd when staging fails), never all
    failed_at = 2
    assert failed_at <= len(calls) <= failed_at + VALIDATE_AHEAD - (failing == "validate") < len(days)
    assert not [t for t in threading.enumerate() if t.name.startswith("ketaops-validate")]


def _side_records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_run_that_never_starts_is_recorded_and_status_reports_it(exports: Path, tmp_path: Path) -> None:
    db = tmp_path / "pub" / "k.duckdb"
    assert cli("--exports", str(exports), "--db", str(db)).returncode == 0
    missing = cli("--exports", str(tmp_path / "nowhere"), "--db", str(db))
    assert missing.returncode == EXIT_NO_EXPORTS == 66
    (record,) = _side_records(publish.side_runs_path(db))
    assert record["status"] == "failed" and str(record["message"]).startswith(
        "exit 66: exports folder not found"
    )
    status_cmd = [sys.executable, "-m", "pipelines.cli", "status", "--db", str(db), "--stale-days", "9999"]
    status = subprocess.run(status_cmd, capture_output=True, text=True, timeout=60)
    assert status.returncode == EXIT_LAST_RUN_FAILED, status.stdout
    assert "exit 66: exports folder not found" in status.stdout
    assert "last_run=failed" in status.stdout.splitlines()[-1]
    # the next publishing run folds the record into the database
    add_day(exports, 2)
    assert cli("--exports", str(exports), "--db", str(db)).returncode == 0
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = con.execute("SELECT status FROM refresh_runs ORDER BY started_at").fetchall()
    assert statuses == [("succeeded",), ("failed",), ("succeeded",)]


def test_a_run_that_cannot_write_beside_the_database_is_recorded_in_the_state_folder(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("a file where a folder should be")
    db = tmp_path / "afile" / "sub" / "k.duckdb"  # its folder cannot be created
    state = tmp_path / "state"
    result = cli("--exports", str(tmp_path), "--db", str(db), env={publish.STATE_DIR_ENV: str(state)})
    assert result.returncode == EXIT_CANT_WRITE
    (log,) = state.iterdir()
    (record,) = _side_records(log)
    assert record["status"] == "failed" and str(record["message"]).startswith("exit 73: cannot create")
    status_cmd = [sys.executable, "-m", "pipelines.cli", "status", "--db", str(db)]
    status = subprocess.run(
        status_cmd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, publish.STATE_DIR_ENV: str(state)},
    )
    assert status.returncode == EXIT_LAST_RUN_FAILED  # a run is recorded, so not "no database" (66)
    assert "exit 73: cannot create" in status.stdout


def test_sigterm_mid_run_is_recorded_as_a_failed_run(exports: Path, tmp_path: Path) -> None:
    db = tmp_path / "pub" / "k.duckdb"
    proc = run_cli("--exports", str(exports), "--db", str(db), env={"KETAOPS_TEST_PAUSE_AT": "copied"})
    assert proc.stderr is not None and proc.stderr.readline().strip() == "paused at copied"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    (record,) = _side_records(publish.side_runs_path(db))
    assert record["status"] == "failed" and record["message"] == "stopped by signal SIGTERM"
    assert not db.exists()  # nothing published


def test_a_run_with_rejects_says_so_in_its_summary_line(exports: Path, tmp_path: Path) -> None:
    write(exports / "C1" / "sessions_bad.csv", "no,such,header", "1,2,3")  # rejected whole
    result = cli("--exports", str(exports), "--db", str(tmp_path / "k.duckdb"))
    assert result.returncode == 0
    (line,) = result.stdout.splitlines()
    assert " WARNING run_finished " in line and 'outcome="succeeded with rejects"' in line
    assert " files_rejected=1 " in line
