"""``ketaops demo-data``: generate clinic by clinic, write, discard (bounded memory at any scale)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from pipelines.demo.clinics import clinics_frame, make_clinics
from pipelines.demo.dirty import Refs, write_dirty
from pipelines.demo.generate import DATE_COL, clinic_data
from pipelines.demo.manifest import build_manifest, clinic_stats
from pipelines.demo.params import DemoSpec, to_day
from pipelines.demo.review_seed import write_review_seed
from pipelines.demo.writer import typed, write_frame, write_partitioned

MANIFEST = "MANIFEST.json"


class NoData(ValueError):
    """The arguments leave nothing to generate from."""


def generate(spec: DemoSpec, progress: bool = False) -> dict:
    """Write the demo exports under ``spec.out`` and return the manifest (also written)."""
    out = spec.out
    out.mkdir(parents=True, exist_ok=True)
    clinics = make_clinics(spec)
    write_frame(typed("clinics", clinics_frame(clinics)), out / f"clinics.{spec.fmt}", spec.fmt)
    stats = []
    refs: dict[bool, Refs | None] = {}  # planted? -> first clinic's reference records
    for clinic in tqdm(clinics, desc="clinics", unit="clinic", disable=not progress):
        if clinic.opened_day > to_day(spec.end):
            continue
        tables = clinic_data(spec, clinic).tables
        for name, df in tables.items():
            write_partitioned(name, df, out / clinic.clinic_id, spec.daily_from, spec.fmt)
        stats.append(clinic_stats(spec, clinic, tables))
        if refs.get(clinic.role is not None) is None:
            refs[clinic.role is not None] = _refs(tables)
    manifest = build_manifest(spec, clinics, stats)
    ref = refs.get(False) or refs.get(True)  # prefer a clinic without a planted signal
    if spec.dirty and ref is None:
        raise NoData("--dirty needs at least one clinic with a completed session before --end")
    if spec.dirty and ref is not None:
        manifest["dirty"] = write_dirty(out, ref, spec.seed)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    write_review_seed(out)
    return manifest


def _refs(tables: dict) -> Refs | None:
    """The clinic's first administered session (its date does not depend on --end)."""
    s = (
        tables["sessions"]
        .filter(tables["sessions"]["status"] == "completed")
        .sort("scheduled_at", "session_id")
    )
    if s.height == 0:
        return None
    row = s.row(0, named=True)
    return Refs(row["clinic_id"], row["patient_key"], row["session_id"], row[DATE_COL].isoformat())


def run(args: argparse.Namespace) -> int:
    start = getattr(args, "start", None)
    spec = DemoSpec.build(
        out=Path(args.out), n_clinics=args.clinics, years=args.years, end=args.end, start=start,
        seed=args.seed, fmt=args.format, dirty=args.dirty,
    )  # fmt: skip
    problem = (
        "--clinics must be at least 1" if spec.n_clinics < 1
        else "--years must be positive" if spec.years <= 0
        else "--start must be before --end" if spec.start >= spec.end
        else None
    )  # fmt: skip
    if problem:
        print(f"ketaops demo-data: {problem}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        m = generate(spec, progress=sys.stderr.isatty())
    except NoData as exc:
        print(f"ketaops demo-data: {exc}", file=sys.stderr)
        return 2
    rows = m["rows"]
    print(
        f"demo-data: {rows['clinics']} clinics, {rows['patients']:,} patients, "
        f"{rows['sessions']:,} sessions, "
        f"{rows['assessments']:,} assessments, {rows['adverse_events']:,} AEs "
        f"({spec.start} → {spec.end}) in {time.perf_counter() - t0:.1f}s → {spec.out}"
    )
    return 0
