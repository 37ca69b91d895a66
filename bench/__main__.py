"""``python -m bench --scale tiny|small|large [--skip-pipeline] [--skip-pages] [--skip-server] [--load]``.

Prints every figure beside the baseline measured in the same run, with the
ratio and its target, and writes them to bench/.cache/<scale>/results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from bench.scales import SCALES

CACHE = Path(__file__).resolve().parent / ".cache"

TARGETS = {
    "full_vs_baseline": 1.5,
    "refresh_rss_mb": 4096,
    "incremental_seconds": 5.0,
    "cold_p95": 1.0,
    "warm_p95": 0.1,
    "render_seconds": 2.0,
    "server_rss_mb": 1024,
    "load_p95_ratio": 2.0,  # 8 concurrent viewers against 1
    "load_rss_mb": 1536,
    "new_tab_p95": 2.0,
    "filter_change_p95": 1.0,
}


def _verdict(value: float, target: float) -> str:
    return "ok  " if value <= target else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--combos", type=int, default=20, help="filter combinations per page")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument(
        "--skip-server",
        action="store_true",
        help="skip the Chromium figures: server RSS, first paint",
    )
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--load", action="store_true", help="also run the concurrent-viewer load run")
    parser.add_argument("--load-viewers", default="1,4,8,16", help="viewer counts of the load run")
    parser.add_argument("--load-seconds", type=float, default=90.0, help="length of each load level")
    parser.add_argument("--load-replicas", type=int, default=1, help="servers the viewers share")
    parser.add_argument("--load-think", type=float, default=0.0, help="mean seconds between a viewer's views")
    parser.add_argument(
        "--load-wide", action="store_true", help="viewers also pick clinics (cache keys keep growing)"
    )
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    results: dict[str, object] = {"scale": asdict(scale)}
    db = args.cache / scale.name / "run" / "ketaops.duckdb"
    print(f"KetaOps benchmark, scale {scale.name}: {scale.clinics} clinics × {scale.years} years")

    if not args.skip_pipeline:
        from bench.pipeline import run_pipeline

        p = run_pipeline(scale, args.cache)
        rate = p.rows / p.full.seconds
        print(
            f"\nFull refresh: {p.rows:,} rows in {p.full.seconds:.1f} s ({rate:,.0f} rows/s), "
            f"peak RSS {p.full.peak_rss_mb:,.0f} MB"
        )
        print(
            f"  baseline DuckDB read_csv, no validation: {p.baseline.seconds:.1f} s, "
            f"peak RSS {p.baseline.peak_rss_mb:,.0f} MB"
        )
        print(
            f"  ratio {p.full_vs_baseline:.2f}× (target ≤ {TARGETS['full_vs_baseline']}×) "
            f"{_verdict(p.full_vs_baseline, TARGETS['full_vs_baseline'])}; "
            f"RSS target ≤ {TARGETS['refresh_rss_mb']} MB "
            f"{_verdict(p.full.peak_rss_mb, TARGETS['refresh_rss_mb'])}"
        )
        if p.full.stages:
            print(f"  stages, s: {p.full.stages}")
        results["pipeline"] = {
            "rows": p.rows,
            "full": asdict(p.full),
            "baseline": asdict(p.baseline),
            "full_vs_baseline": p.full_vs_baseline,
        }
        if p.incremental:
            inc = p.incremental
            print(
                f"Incremental refresh of one new day: {inc.seconds:.2f} s vs full {p.full.seconds:.1f} s "
                f"(ratio {inc.seconds / p.full.seconds:.3f}; target ≤ {TARGETS['incremental_seconds']} s "
                f"{_verdict(inc.seconds, TARGETS['incremental_seconds'])}), in the standby copy left by "
                "the schedule's last run with nothing new"
            )
            if inc.stages:
                print(f"  stages of that run, s: {inc.stages}")
            results["incremental"] = asdict(inc)
            for label, key, run in (
                ("  the same day right after a publish (no standby copy: copies as it goes)",
                 "incremental_no_standby", p.incremental_no_standby),
                ("  a run with nothing new, the first after a publish (copies the database for the next run)",
                 "idle_first", p.idle_first),
                ("  a run with nothing new (most scheduled runs)", "idle", p.idle),
                ("  same exports with every file's mtime changed (all hashed)", "touched", p.touched),
            ):  # fmt: skip
                if run is not None:
                    print(f"{label}: {run.seconds:.2f} s")
                    results[key] = asdict(run)
            if p.spread:
                runs = ", ".join(f"{k} {' / '.join(f'{v:.2f}' for v in vs)}" for k, vs in p.spread.items())
                print(f"  (medians of {len(next(iter(p.spread.values())))} schedules; every run, s: {runs})")
                results["incremental_spread"] = p.spread
    if not db.exists():
        print(f"no database at {db}: run without --skip-pipeline first", file=sys.stderr)
        return 1

    if not args.skip_pages:
        results["pages"] = _pages(db, args.combos)
    if not args.skip_server:
        from bench.server import server_rss_after_all_pages

        rss = server_rss_after_all_pages(db)
        if rss is None:
            print("\nServer RSS: skipped (no /usr/bin/chromium)")
        else:
            print(
                f"\nServer RSS after opening every page: {rss:,.0f} MB "
                f"(target ≤ {TARGETS['server_rss_mb']} MB "
                f"{_verdict(rss, TARGETS['server_rss_mb'])})"
            )
            results["server_rss_mb"] = rss
        results["first_paint"] = _first_paint(db)
    if args.load:
        results["load"] = _load(db, args)
    out = args.cache / scale.name / "results.json"
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"\nresults: {out}")
    return 0


def _load(db: Path, args: argparse.Namespace) -> list[dict[str, object]]:
    from bench.load import load_runs, report, worst_ratio

    levels = tuple(int(n) for n in args.load_viewers.split(","))
    print(
        f"\nLoad run: {', '.join(map(str, levels))} concurrent viewers, {args.load_replicas} server(s), "
        f"think time {args.load_think:g} s, a publish in each level"
    )
    runs = load_runs(
        db,
        args.cache / args.scale / "load",
        levels,
        args.load_seconds,
        replicas=args.load_replicas,
        think_seconds=args.load_think,
        wide_filters=args.load_wide,
    )
    rows = report(runs)
    single = next((r for r in rows if r["viewers"] == 1), None)
    for r in rows:
        if r["viewers"] != 8 or single is None:
            continue
        clean = r["errors"] == 0 and r["backwards"] == 0 and r["mixed"] == 0
        ratio, rss = TARGETS["load_p95_ratio"], TARGETS["load_rss_mb"]
        for kind, label in (("pages", "all views"), ("warm", "warm views"), ("cold", "cold views")):
            worst = worst_ratio(r, single, kind)
            print(
                f"  8 viewers, {label}: worst page p95 {worst:.2f}× the single viewer's "
                f"(target ≤ {ratio}×) {_verdict(worst, ratio)}"
            )
        print(
            f"  8 viewers: errors/backwards/mixed {'none' if clean else 'SOME'}; "
            f"RSS {r['rss_peak_mb']:,.0f} MB (target ≤ {rss} MB) {_verdict(r['rss_peak_mb'], rss)}"
        )
    return rows


def _first_paint(db: Path) -> list[dict[str, object]]:
    """New tab → usable and filter change → usable per page, in Chromium (``bench/first_paint.py``)."""
    from bench.first_paint import measure_first_paint

    print("\nIn Chromium, p95 seconds until usable (headline drawn) / complete (script run finished):")
    print(
        f"  {'page':<11}{'new tab':>9}{'complete':>10}{'1st visit':>10}{'filter':>8}{'new filter':>11}"
        "  verdict"
    )
    rows = []
    for fig in measure_first_paint(db):
        f = fig.summary()
        ok = (f["new_tab_usable"] or 0) <= TARGETS["new_tab_p95"] and (f["filter_usable"] or 0) <= TARGETS[
            "filter_change_p95"
        ]
        cells = [f[k] for k in ("new_tab_usable", "new_tab_complete", "first_visit_usable", "filter_usable")]
        shown = ["-" if v is None else f"{v:.2f}" for v in [*cells, f["filter_first_usable"]]]
        print(f"  {fig.page:<11}{shown[0]:>9}{shown[1]:>10}{shown[2]:>10}{shown[3]:>8}{shown[4]:>11}  "
              f"{'ok' if ok else 'MISS'}")  # fmt: skip
        rows.append({"page": fig.page, **f})
    print(
        f"  targets: new tab ≤ {TARGETS['new_tab_p95']} s, filter change (a period seen before) ≤ "
        f"{TARGETS['filter_change_p95']} s; 1st visit: a browser with nothing cached; new filter: a period "
        "not seen before (its queries run)"
    )
    return rows


def _pages(db: Path, n_combos: int) -> list[dict[str, object]]:
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from bench.pages import PAGES, filter_combinations, measure_page, warm_imports
    from dashboard.access.current import use_viewer
    from dashboard.access.viewer import demo_viewer
    from dashboard.db import connect
    from dashboard.metrics.filters import Filters

    with connect(db) as con:
        clinic_ids = [r[0] for r in con.execute("SELECT clinic_id FROM clinics ORDER BY 1").fetchall()]
        regions = [r[0] for r in con.execute("SELECT DISTINCT region FROM clinics ORDER BY 1").fetchall()]
        region_of = dict(con.execute("SELECT clinic_id, region FROM clinics").fetchall())
        last = con.execute("SELECT CAST(max(scheduled_at) AS DATE) FROM sessions").fetchone()[0]
    base = Filters(start=last, end=last, clinic_ids=tuple(clinic_ids))
    combos = filter_combinations(base, clinic_ids, regions, n_combos)
    print(f"\nImports paid once per server process (not in the renders below): {warm_imports():.2f} s")
    print(
        f"\nPage query sets over {len(combos)} filter combinations (seconds; baseline = one hand-written "
        "DuckDB statement on the raw tables):"
    )
    print(
        f"  {'page':<11}{'calls':>6}{'cold p50':>10}{'cold p95':>10}{'warm p95':>10}{'baseline':>10}"
        f"{'cold/base':>10}{'render':>8}{'1st read':>9}  verdict"
    )
    rows = []
    for page in PAGES:
        # the replays run outside a page run: as the local demo's viewer (the whole network), as
        # the recorded render saw it; nobody signed in would see no clinic
        with use_viewer(demo_viewer(region_of)):
            fig = measure_page(db, page, combos)
        ok = (
            fig.cold_p95 <= TARGETS["cold_p95"]
            and fig.warm_p95 <= TARGETS["warm_p95"]
            and fig.render_seconds <= TARGETS["render_seconds"]
        )
        print(
            f"  {page:<11}{fig.calls:>6}{fig.cold_p50:>10.3f}{fig.cold_p95:>10.3f}{fig.warm_p95:>10.4f}"
            f"{fig.baseline_p50:>10.3f}{fig.cold_vs_baseline:>9.1f}×{fig.render_seconds:>8.2f}"
            f"{fig.first_read:>9.3f}  {'ok' if ok else 'MISS'}"
        )
        rows.append({**asdict(fig), "cold_vs_baseline": fig.cold_vs_baseline})
    print(
        f"  targets: cold p95 ≤ {TARGETS['cold_p95']} s, warm p95 ≤ {TARGETS['warm_p95']} s, "
        f"AppTest render ≤ {TARGETS['render_seconds']} s; 1st read: the first combination's cold set on "
        "a file attached afresh (the first view after a publish)"
    )
    return rows


if __name__ == "__main__":
    sys.exit(main())
