"""``ketaops metrics``: metrics.md's machine-readable figures, from the same functions as the pages.

JSON is one object (period, network, clinics, outcomes; monitoring on a contract v2 database).
CSV is a long table,
one figure per line: period_start, period_end, scope (network | clinic |
outcome | monitoring), clinic_id, condition, instrument, metric, value. Layout and defaults
are documented in docs/metrics.md ("`ketaops metrics`").
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import duckdb

from dashboard.db import connect
from dashboard.metrics import monitoring, outcomes, safety, throughput
from dashboard.metrics.filters import Filters
from pipelines.model.config import MetricConfig, load_config

DEFAULT_PERIOD_DAYS = 90  # the last 90 days up to the data's last date, both ends included
CSV_COLUMNS = (
    "period_start",
    "period_end",
    "scope",
    "clinic_id",
    "condition",
    "instrument",
    "metric",
    "value",
)
EXIT_OK, EXIT_NO_DATABASE, EXIT_BAD_ARGUMENT = 0, 1, 2


def _num(x: Any) -> float | None:
    """A JSON-safe float: None for missing or NaN figures."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _ci(lo: Any, hi: Any) -> list[float | None]:
    return [_num(lo), _num(hi)]


def build_report(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    cfg: MetricConfig,
    *,
    funnel_clinics: tuple[str, ...] = (),
    outcome_clinics: tuple[str, ...] = (),
) -> dict[str, Any]:
    """metrics.md's "Machine-readable output" for the filters ``f`` (period and clinic scope).

    Rates are fractions (None when their denominator is 0); per-100 figures are
    per 100 administered sessions. Keys beyond metrics.md's are marked in the docs.
    ``funnel_clinics``: the population of the funnel's target, every clinic the viewer may
    see (default: ``f``'s clinics), so ``--clinic X`` compares X with the network, not itself.
    ``outcome_clinics``: the population of the outcomes' network rows (default: ``f``'s
    clinics); a scoped report takes the whole network's, as the Outcomes page shows a viewer of
    part of it, and lists only ``f``'s clinics beside them.
    """
    summary = throughput.throughput_summary(con, f, cfg)
    ae = safety.ae_rate(con, f, cfg)
    induction = throughput.induction_completion(con, f)
    network = {
        "scheduled_sessions": summary["scheduled_sessions"],
        "administered_sessions": summary["administered_sessions"],
        "active_patients": summary["active_patients"],
        "new_starts": summary["new_starts"],
        "no_show_rate": _num(summary["no_show_rate"]),
        "ae_count": int(ae["ae_count"]),
        "serious_ae_count": int(ae["serious_ae_count"]),
        "ae_per_100_sessions": _num(ae["ae_per_100"]),
        "ae_per_100_ci95": _ci(ae["ci_low"], ae["ci_high"]),
        # additions
        "cancellation_rate": _num(summary["cancellation_rate"]),
        "chair_utilisation": _num(summary["chair_utilisation"]),
        "induction_eligible_patients": induction["eligible_patients"],
        "induction_completion_rate": _num(induction["completion_rate"]),
    }
    by_clinic = throughput.throughput_by_clinic(con, f, cfg)
    ae_by = {r["level"]: r for r in safety.ae_rate_by(con, f, "clinic", cfg).iter_rows(named=True)}
    target = replace(f, clinic_ids=funnel_clinics, regions=()) if funnel_clinics else f
    flags = {r["clinic_id"]: r["flag"] for r in safety.funnel(con, target, cfg=cfg).iter_rows(named=True)}
    clinics = []
    for row in by_clinic.iter_rows(named=True):
        cid = row["clinic_id"]
        a = ae_by.get(cid, {})
        clinics.append(
            {
                "clinic_id": cid,
                "administered_sessions": int(row["administered_sessions"]),
                "no_show_rate": _num(row["no_show_rate"]),
                "chair_utilisation": _num(row["chair_utilisation"]),
                "ae_count": int(a.get("ae_count") or 0),
                "ae_per_100_sessions": _num(a.get("ae_per_100")),
                "ae_per_100_ci95": _ci(a.get("ci_low"), a.get("ci_high")),
                "funnel": flags.get(cid),
                # additions
                "clinic_name": row["clinic_name"],
                "region": row["region"],
                "scheduled_sessions": int(row["scheduled_sessions"]),
                "active_patients": int(row["active_patients"]),
                "new_starts": int(row["new_starts"]),
                "cancellation_rate": _num(row["cancellation_rate"]),
                "serious_ae_count": int(a.get("serious_ae_count") or 0),
            }
        )
    report = {
        "period": {"start": f.start.isoformat(), "end": f.end.isoformat()},
        "network": network,
        "clinics": clinics,
        "outcomes": [
            row
            for row in outcomes.outcomes_report(
                con, f.with_clinics(outcome_clinics) if outcome_clinics else f, cfg
            )
            if row["clinic_id"] is None or row["clinic_id"] in f.clinic_ids
        ],
    }
    if monitoring.has_monitoring_data(con):  # a contract v2 database
        report["monitoring"] = monitoring.report_block(con, f, cfg)
    return report


def report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report as a long table (CSV_COLUMNS), one figure per row; the CI becomes _low/_high rows."""
    base = {"period_start": report["period"]["start"], "period_end": report["period"]["end"]}
    rows: list[dict[str, Any]] = []

    def add(scope: str, figures: dict[str, Any], **keys: Any) -> None:
        for metric, value in figures.items():
            if metric in keys or metric in ("clinic_id", "condition", "instrument"):
                continue
            if metric == "suppressed_figures":  # names, one field: "remitters;remission_rate"
                rows.append({**base, "scope": scope, **keys, "metric": metric, "value": ";".join(value)})
            elif isinstance(value, list):
                rows.append({**base, "scope": scope, **keys, "metric": f"{metric}_low", "value": value[0]})
                rows.append({**base, "scope": scope, **keys, "metric": f"{metric}_high", "value": value[1]})
            else:
                rows.append({**base, "scope": scope, **keys, "metric": metric, "value": value})

    add("network", report["network"])
    for c in report["clinics"]:
        add("clinic", c, clinic_id=c["clinic_id"])
    for o in report["outcomes"]:
        add("outcome", o, clinic_id=o["clinic_id"], condition=o["condition"], instrument=o["instrument"])
    if "monitoring" in report:
        add("monitoring", report["monitoring"]["network"])
        for c in report["monitoring"]["clinics"]:
            add("monitoring", c, clinic_id=c["clinic_id"])
    return rows


def write_csv(report: dict[str, Any], out: IO[str]) -> None:
    """Long-table CSV: empty field = null, booleans true/false, floats at full precision."""

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v) if isinstance(v, float) else str(v)

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report_rows(report):
        writer.writerow([cell(row.get(c)) for c in CSV_COLUMNS])


# --- command line ---------------------------------------------------------------------------


class UsageError(Exception):
    """A bad argument: reported on one line, exit code 2."""


def _config(db: Path) -> MetricConfig:
    """``$KETAOPS_CONFIG``, else ``ketaops.toml`` next to the database, else the working directory's."""
    beside = db.parent / "ketaops.toml"
    if not os.environ.get("KETAOPS_CONFIG") and beside.is_file():
        return load_config(beside)
    return load_config()


def resolve_scope(con: duckdb.DuckDBPyConnection, args: argparse.Namespace) -> tuple[str, tuple[str, ...]]:
    """(label, clinic ids) of ``--scope``, checked against the clinics table; the network without it.

    ``args.scope`` is the parsed scope (``pipelines/cli.py`` parses it with
    ``dashboard.access.scope.parse_scope``): anything with ``label`` and ``resolve(region_of)``.
    """
    region_of = dict(con.execute("SELECT clinic_id, region FROM clinics").fetchall())
    scope = getattr(args, "scope", None)
    if scope is None:
        return "network", tuple(sorted(region_of))
    try:
        return scope.label, tuple(scope.resolve(region_of))
    except ValueError as exc:  # a region or clinic the clinics table does not have
        raise UsageError(f"--scope: {exc}") from exc


def resolve_filters(con: duckdb.DuckDBPyConnection, args: argparse.Namespace) -> Filters:
    """Period and clinic scope from the arguments; the default period ends on the data's last date.

    ``--scope`` bounds the clinics as the dashboard bounds a viewer's: ``--clinic`` picks inside it.
    """
    known = sorted(r[0] for r in con.execute("SELECT clinic_id FROM clinics").fetchall())
    label, in_scope = resolve_scope(con, args)
    requested = [c.strip() for arg in (args.clinics or []) for c in arg.split(",") if c.strip()]
    unknown = [c for c in dict.fromkeys(requested) if c not in set(known)]
    if unknown:
        examples = ", ".join(known[:5]) + (", …" if len(known) > 5 else "")
        raise UsageError(
            f"unknown clinic id {', '.join(unknown)} (the database has {len(known)} clinics"
            + (f": {examples})" if known else ")")
        )
    outside = sorted(set(requested) - set(in_scope))
    if outside:
        raise UsageError(f"--clinic {', '.join(outside)} is outside the scope {label}")
    end: date = args.end or throughput.data_last_date(con) or date.today()
    start: date = args.start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    return Filters(start=start, end=end, clinic_ids=tuple(dict.fromkeys(requested)) or in_scope)


def cli_metrics(args: argparse.Namespace) -> int:
    """Print the report as JSON or CSV. Exit 0 ok, 1 no readable database, 2 bad argument."""
    db = Path(args.db)
    if not db.is_file():
        print(f"ketaops metrics: no database at {db} (run `ketaops refresh` first)", file=sys.stderr)
        return EXIT_NO_DATABASE
    try:
        try:
            cfg = _config(db)
        except ValueError as exc:  # unknown settings in ketaops.toml
            raise UsageError(str(exc)) from exc
        with connect(db) as con:
            f = resolve_filters(con, args)
            label, _ = resolve_scope(con, args)
            network = tuple(r[0] for r in con.execute("SELECT clinic_id FROM clinics").fetchall())
            if label == "network":
                report = build_report(con, f, cfg, funnel_clinics=network)
            else:  # as the pages show a viewer of part of the network: outcomes against the whole network
                report = {
                    "scope": label,
                    **build_report(con, f, cfg, funnel_clinics=network, outcome_clinics=network),
                }
    except UsageError as exc:
        print(f"ketaops metrics: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENT
    except duckdb.Error as exc:
        print(f"ketaops metrics: cannot read the database {db}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_NO_DATABASE
    try:
        if args.format == "csv":
            write_csv(report, sys.stdout)
        else:
            print(json.dumps(report, indent=2, allow_nan=False))
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK
