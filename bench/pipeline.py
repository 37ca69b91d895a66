"""Refresh benchmarks: full refresh vs DuckDB's plain read_csv, incremental vs full.

Every figure is measured in the same run as its baseline, so the ratios hold
on whatever machine runs them (absolute seconds do not travel).
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import textwrap
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.measure import Run, python_cmd, run_measured
from bench.scales import Scale
from pipelines import versions
from pipelines.contract import TABLES
from pipelines.demo.cli import MANIFEST
from pipelines.demo.generate import V2_COLUMNS


@dataclass(frozen=True)
class PipelineFigures:
    rows: int
    full: Run
    baseline: Run
    incremental: Run | None  # one new day, in the standby copy an idle run left (the scheduled case)
    incremental_no_standby: Run | None = None  # the same day right after a publish: copies as it goes
    idle_first: Run | None = None  # nothing new, first run after a publish: prepares the standby copy
    idle: Run | None = None  # nothing new, standby ready: the cost of most scheduled runs
    touched: Run | None = None  # nothing new, but every file's mtime changed: all hashed
    spread: dict[str, list[float]] | None = None  # every repeat's seconds of the median figures

    @property
    def full_vs_baseline(self) -> float:
        return self.full.seconds / self.baseline.seconds


def demo_args(scale: Scale, out: Path, end_offset_days: int = 0) -> list[str]:
    end = scale.end + timedelta(days=end_offset_days)
    return python_cmd(
        "-m",
        "pipelines.cli",
        "demo-data",
        "--out",
        str(out),
        "--clinics",
        str(scale.clinics),
        "--years",
        str(scale.years),
        "--start",
        scale.start.isoformat(),
        "--end",
        end.isoformat(),
    )


def ensure_exports(scale: Scale, cache: Path, name: str = "exports", end_offset_days: int = 0) -> Path:
    """Demo exports for the scale, generated once and kept under bench/.cache."""
    out = cache / scale.name / name
    done = out / ".complete"
    if not done.exists():
        partial = out.with_name(out.name + ".partial")  # a generation killed half-way is not reused
        if not (partial / MANIFEST).exists():
            shutil.rmtree(partial, ignore_errors=True)
            run = run_measured(demo_args(scale, partial, end_offset_days))
            if run.returncode != 0:
                raise SystemExit(f"demo-data failed for scale {scale.name}")
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
        done.write_text("complete\n")
    return out


# DuckDB loading the same CSV files into plain typed tables, no validation: the floor
# any validating loader is compared against. Its fastest correct form: the contract's
# columns and types given, no sniffing. (``union_by_name = true`` sniffs every file
# and took 8x longer on 2,941 files: a slow baseline would flatter the pipeline.)
_BASELINE = textwrap.dedent(
    """
    import json, sys, duckdb
    exports, db, tables = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    con = duckdb.connect(db)
    for table, pattern, columns, padded in tables:
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, header = true, auto_detect = false, "
            f"delim = ',', columns = ?, null_padding = {padded})",  # quote, escape: the double quote
            [f"{exports}/{pattern}", columns],
        ).fetchall()
    con.close()
    """
)


def _baseline_tables() -> str:
    """(table, glob, {column: DuckDB type}, padded) for every table, as the baseline's JSON argument.

    ``padded``: the demo's clinic still on contract v1 sends the table without its last columns
    (``V2_COLUMNS``, last in contract order), which ``null_padding`` reads as empty.
    """
    specs = []
    for t in TABLES:
        types = dict(t.published_columns)
        pattern = f"{t.name}.csv" if t.name == "clinics" else f"*/{t.name}_*.csv"
        specs.append((t.name, pattern, {c.name: types[c.name] for c in t.columns}, t.name in V2_COLUMNS))
    return json.dumps(specs)


def run_pipeline(scale: Scale, cache: Path, incremental: bool = True) -> PipelineFigures:
    exports = ensure_exports(scale, cache)
    work = cache / scale.name / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = sum(_csv_rows(p) for p in exports.rglob("*.csv"))

    baseline = run_measured(
        python_cmd("-c", _BASELINE, str(exports), str(work / "baseline.duckdb"), _baseline_tables())
    )
    (work / "baseline.duckdb").unlink(missing_ok=True)
    db = work / "ketaops.duckdb"
    refresh = python_cmd("-m", "pipelines.cli", "refresh", "--exports", str(exports), "--db", str(db))
    full = run_measured(refresh)
    if full.returncode != 0 or baseline.returncode != 0:
        raise SystemExit("refresh or baseline failed; run it by hand to see why")

    if not incremental:
        return PipelineFigures(rows=rows, full=full, baseline=baseline, incremental=None)
    # The exports as a scheduler finds them the next day: yesterday's files untouched
    # (mtimes kept), plus the files the next day's export adds or changes.
    following = ensure_exports(scale, cache, "exports-next-day", end_offset_days=1)
    next_day = work / "exports-next-day"
    shutil.copytree(exports, next_day)
    for path in following.rglob("*"):
        rel = path.relative_to(following)
        target = next_day / rel
        if path.is_file() and not (target.exists() and filecmp.cmp(path, target, shallow=False)):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    before_day = work / "before-day.duckdb"
    shutil.copyfile(db, before_day)
    again = python_cmd("-m", "pipelines.cli", "refresh", "--exports", str(exports), "--db", str(db))
    day = python_cmd("-m", "pipelines.cli", "refresh", "--exports", str(next_day), "--db", str(db))
    series: dict[str, list[Run]] = {"idle_first": [], "idle": [], "inc": [], "inc_no_standby": []}
    # Short runs on a shared machine swing by a second or more: the schedule is run
    # INCREMENTAL_REPEATS times from the same database and each figure is the median.
    for _ in range(INCREMENTAL_REPEATS):
        # The schedule a network runs (deploy/: every 15 minutes): ticks that find nothing new,
        # then the day's exports arrive. Every measured run starts with the disk synced, as on
        # a server whose exports were delivered minutes before: the bench's own file copies
        # must not be written back on a refresh's clock.
        _restore(before_day, db)
        series["idle_first"].append(run_measured(again))  # leaves the standby copy for the next run
        series["idle"].append(run_measured(again))
        os.sync()
        series["inc"].append(run_measured(day))
        # The same day with no idle run before it (e.g. two days' exports back to back): no standby.
        _restore(before_day, db)
        series["inc_no_standby"].append(run_measured(day))
    # Worst case: a copy touched every file (new mtimes, same bytes): each one is hashed.
    _restore(before_day, db)
    for path in next_day.rglob("*"):
        os.utime(path)
    os.sync()
    touched = run_measured(day)
    shutil.rmtree(next_day, ignore_errors=True)
    before_day.unlink()
    if any(r.returncode != 0 for runs in [*series.values(), [touched]] for r in runs):
        raise SystemExit("a refresh of the incremental series failed; run it by hand to see why")
    median = {name: _median(runs) for name, runs in series.items()}
    return PipelineFigures(
        rows,
        full,
        baseline,
        median["inc"],
        median["inc_no_standby"],
        median["idle_first"],
        median["idle"],
        touched,
        spread={name: sorted(r.seconds for r in runs) for name, runs in series.items()},
    )


INCREMENTAL_REPEATS = 3


def _restore(copy: Path, db: Path) -> None:
    """Put the database back as the full refresh left it (a new file: no standby copy matches),
    published as version 1 (a version file is never written in place: the old ones go first)."""
    for path in [*db.parent.glob(f"{db.name}.*"), *versions.on_disk(db).values()]:  # standby, side runs
        if path.is_dir():
            shutil.rmtree(path)
        elif not path.name.endswith(".lock"):
            path.unlink()
    db.unlink(missing_ok=True)
    shutil.copyfile(copy, versions.version_path(db, 1))
    versions.point(db, versions.version_path(db, 1))
    os.sync()


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def _csv_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)
