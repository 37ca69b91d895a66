"""Refresh benchmarks: full refresh vs DuckDB's plain read_csv, incremental vs full.

Every figure is measured in the same run as its baseline, so the ratios hold
on whatever machine runs them (absolute seconds do not travel).
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.measure import Run, python_cmd, run_measured
from bench.scales import Scale
from pipelines.contract import TABLES


@dataclass(frozen=True)
class PipelineFigures:
    rows: int
    full: Run
    baseline: Run
    incremental: Run | None

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


def ensure_exports(scale: Scale, cache: Path) -> Path:
    """Demo exports for the scale, generated once and kept under bench/.cache."""
    out = cache / scale.name / "exports"
    done = out / ".complete"
    if not done.exists():
        shutil.rmtree(out, ignore_errors=True)
        run = run_measured(demo_args(scale, out))
        if run.returncode != 0:
            raise SystemExit(f"demo-data failed for scale {scale.name}")
        done.write_text(f"{run.seconds:.1f}s\n")
    return out


# DuckDB loading the same CSV files into plain tables, no validation: the floor
# any validating loader is compared against.
_BASELINE = textwrap.dedent(
    """
    import sys, duckdb
    exports, db = sys.argv[1], sys.argv[2]
    con = duckdb.connect(db)
    for table in sys.argv[3:]:
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, union_by_name = true)",
            [f"{exports}/**/{table}*.csv"],
        ).fetchall()
    con.close()
    """
)


def run_pipeline(scale: Scale, cache: Path, incremental: bool = True) -> PipelineFigures:
    exports = ensure_exports(scale, cache)
    work = cache / scale.name / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = sum(_csv_rows(p) for p in exports.rglob("*.csv"))

    tables = [t.name for t in TABLES]
    baseline = run_measured(python_cmd("-c", _BASELINE, str(exports), str(work / "baseline.duckdb"), *tables))
    db = work / "ketaops.duckdb"
    refresh = python_cmd("-m", "pipelines.cli", "refresh", "--exports", str(exports), "--db", str(db))
    full = run_measured(refresh)
    if full.returncode != 0 or baseline.returncode != 0:
        raise SystemExit("refresh or baseline failed; run it by hand to see why")

    inc = None
    if incremental:
        # One more day of exports on top of the same history, into a copy of the folder.
        next_day = work / "exports-next-day"
        shutil.copytree(exports, next_day)
        gen = run_measured(demo_args(scale, next_day, end_offset_days=1))
        if gen.returncode != 0:
            raise SystemExit("demo-data for the next day failed")
        inc = run_measured(
            python_cmd("-m", "pipelines.cli", "refresh", "--exports", str(next_day), "--db", str(db))
        )
        shutil.rmtree(next_day, ignore_errors=True)
    return PipelineFigures(rows=rows, full=full, baseline=baseline, incremental=inc)


def _csv_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)
