"""Load run: N concurrent viewers against one ``ketaops serve``, with a refresh publishing mid-run.

Viewers are protocol-level clients (Streamlit's websocket, the same protobuf messages the browser
sends), not browsers: on the 2-core machine sixteen Chromium renderers would take the CPU the
server is being measured on. A viewer opens pages as a browser following links does: each view is
a new session whose URL carries the filters and the version seen last (``?v=``, as the app writes
it), and it is *settled* when the page's script run finishes. Once per walk it fetches a CSV
download, as a click would. Each view records the version the page names ("version N" in the
header) and checks it: exactly one version per page, never older than that viewer saw before
(a "half-published" or backwards read). Every loop is bounded in views and in seconds; only
loopback addresses are used.
"""

from __future__ import annotations

import random
import re
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import psutil

from bench.pages import PAGES

PERIODS = ("Last 30 days", "Last 90 days", "Last 12 months", "Year to date")
CONDITIONS = ("Depression", "PTSD", "Anxiety")
VERSION = re.compile(r"· version (\d+)\b")  # the header's "… · version N"
VIEW_TIMEOUT = 300.0


@dataclass
class View:
    viewer: int
    page: str
    seconds: float
    version: int | None
    error: str | None
    started: float  # seconds since the run started
    during_publish: bool = False
    cold: bool = False  # the level's first view of this page, filters and version: nothing cached


@dataclass
class LoadResult:
    viewers: int
    views: list[View] = field(default_factory=list)
    backwards: int = 0  # a view older than one the same viewer saw before
    mixed: int = 0  # a page naming more (or fewer) than one version
    rss_peak_mb: float = 0.0
    cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0  # this process (the viewers and the publish): same cores
    wall_seconds: float = 0.0
    downloads: int = 0
    versions_seen: set[int] = field(default_factory=set)
    requested: set[tuple[object, ...]] = field(default_factory=set)  # (version, page, filters) viewed
    rss_minutes: list[float] = field(default_factory=list)  # the server's RSS at each whole minute, MB

    def page_figures(self, cold: bool | None = None) -> dict[str, dict[str, float]]:
        """Per page n/p50/p95 of the views without error: all, or only the cold (or warm) ones."""
        out = {}
        for page in PAGES:
            times = [
                v.seconds
                for v in self.views
                if v.page == page and v.error is None and (cold is None or v.cold == cold)
            ]
            if times:
                out[page] = {"n": len(times), "p50": statistics.median(times), "p95": _p95(times)}
        return out

    @property
    def errors(self) -> int:
        return sum(v.error is not None for v in self.views)


def view_page(
    port: int, page: str, query: dict[str, str | list[str]], timeout: float = VIEW_TIMEOUT
) -> tuple[str, str, list[str]]:
    """Open ``page`` with ``query`` in a new session and run it to the end.

    Returns (all markdown text, the query string the app left in the URL, download URLs).
    Raises on a script exception, a timeout or a closed connection.
    """
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    texts: list[str] = []
    downloads: list[str] = []
    url_query = urlencode(query, doseq=True)
    deadline = time.monotonic() + timeout
    with connect(
        f"ws://127.0.0.1:{port}/_stcore/stream",
        subprotocols=["streamlit"],  # type: ignore[list-item]
        max_size=None,
        open_timeout=60,
        ping_interval=None,  # as Streamlit's frontend: no client pings, a slow run is only slow
    ) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = url_query
        msg.rerun_script.page_name = page
        ws.send(msg.SerializeToString())
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{page}: not settled in {timeout:.0f} s")
            raw = ws.recv(timeout=left)
            fwd = ForwardMsg.FromString(raw if isinstance(raw, bytes) else raw.encode())
            kind = fwd.WhichOneof("type")
            if kind == "page_info_changed":
                url_query = fwd.page_info_changed.query_string
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                el_kind = element.WhichOneof("type")
                if el_kind == "markdown":
                    texts.append(element.markdown.body)
                elif el_kind == "alert":
                    texts.append(element.alert.body)
                elif el_kind == "exception":
                    raise RuntimeError(f"{page}: {element.exception.type}: {element.exception.message}")
                elif el_kind == "download_button" and element.download_button.url:
                    downloads.append(element.download_button.url)
            elif kind == "script_finished":
                status = ForwardMsg.ScriptFinishedStatus.Name(fwd.script_finished)
                if status == "FINISHED_SUCCESSFULLY":
                    return "\n".join(texts), url_query, downloads
                if status not in ("FINISHED_EARLY_FOR_RERUN", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"):
                    raise RuntimeError(f"{page}: script finished with {status}")


@dataclass(frozen=True)
class Walk:
    """How viewers walk: the servers (a viewer's next view goes to the next one: no stickiness
    between page loads, the hardest case for versions), seconds between views, and clinic labels
    to pick from (a wide filter space: cache keys keep growing, as over an hour of real use)."""

    ports: tuple[int, ...]
    think_seconds: float = 0.0
    clinic_labels: tuple[str, ...] = ()


def _viewer(
    walk: Walk,
    number: int,
    result: LoadResult,
    lock: threading.Lock,
    stop_at: float,
    max_views: int,
    t0: float,
    publishing: threading.Event,
) -> None:
    rng = random.Random(1000 + number)
    seen = 0
    query: dict[str, str | list[str]] = {}
    downloaded = False
    for i in range(max_views):
        if i and walk.think_seconds:
            time.sleep(min(rng.uniform(0.5, 1.5) * walk.think_seconds, max(0.0, stop_at - time.monotonic())))
        if time.monotonic() >= stop_at:
            return
        port = walk.ports[(number + i) % len(walk.ports)]
        page = PAGES[(number + i) % len(PAGES)]
        query = {k: v for k, v in query.items() if k == "v"}  # the version floor stays in the URL
        query["period"] = rng.choice(PERIODS)
        if rng.random() < 0.3:
            query["condition"] = rng.choice(CONDITIONS)
        if walk.clinic_labels and rng.random() < 0.5:
            k = min(len(walk.clinic_labels), rng.randint(1, 3))
            query["clinics"] = sorted(rng.sample(walk.clinic_labels, k))
        start = time.monotonic()
        during = publishing.is_set()
        error = None
        version = None
        try:
            text, url_query, downloads = view_page(port, page, query)
            found = {int(n) for n in VERSION.findall(text)}
            if len(found) != 1:
                with lock:
                    result.mixed += 1
                error = f"versions named: {sorted(found)}"
            else:
                version = found.pop()
            floor = parse_qs(url_query).get("v", [None])[0]
            if floor:
                query["v"] = floor
            if downloads and not downloaded:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{downloads[0]}", timeout=120) as r:
                    if not r.read():
                        raise RuntimeError("empty download")
                downloaded = True
                with lock:
                    result.downloads += 1
        except Exception as exc:  # recorded as an error of this view; the viewer goes on
            error = f"{type(exc).__name__}: {exc}"[:300]
        seconds = time.monotonic() - start
        filters = tuple(sorted((k, str(v)) for k, v in query.items() if k != "v"))
        with lock:
            cold = (version, page, filters) not in result.requested
            result.requested.add((version, page, filters))
            if version is not None:
                if version < seen:
                    result.backwards += 1
                    error = error or f"version {version} after {seen}"
                seen = max(seen, version)
                result.versions_seen.add(version)
            result.views.append(View(number, page, seconds, version, error, start - t0, during, cold))


def run_load(
    walk: Walk,
    server_pids: list[int],
    viewers: int,
    seconds: float,
    max_views: int,
    publish: Callable[[], None] | None = None,
    publish_after: float = 0.0,
) -> LoadResult:
    """``viewers`` viewers for at most ``seconds`` (and ``max_views`` views each); ``publish``
    runs once, ``publish_after`` seconds in, while they keep going. RSS is the largest server's,
    CPU the servers' total."""
    result = LoadResult(viewers)
    lock = threading.Lock()
    procs = [psutil.Process(pid) for pid in server_pids]

    def cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    def rss() -> float:
        return max(p.memory_info().rss for p in procs) / 2**20

    cpu_before = cpu()
    client_before = psutil.Process().cpu_times()
    t0 = time.monotonic()
    stop_at = t0 + seconds
    publishing = threading.Event()
    threads = [
        threading.Thread(
            target=_viewer,
            args=(walk, n, result, lock, stop_at, max_views, t0, publishing),
            name=f"viewer-{n}",
            daemon=True,
        )
        for n in range(viewers)
    ]
    for t in threads:
        t.start()
    publisher = None
    if publish is not None:

        def do_publish() -> None:
            time.sleep(publish_after)
            publishing.set()
            try:
                publish()
            finally:
                publishing.clear()

        publisher = threading.Thread(target=do_publish, name="publisher", daemon=True)
        publisher.start()
    while any(t.is_alive() for t in threads):
        now = rss()
        result.rss_peak_mb = max(result.rss_peak_mb, now)
        if time.monotonic() - t0 >= 60 * (len(result.rss_minutes) + 1):
            result.rss_minutes.append(now)
        for t in threads:
            t.join(timeout=0.5)
    if publisher is not None:
        publisher.join(timeout=VIEW_TIMEOUT)
    result.wall_seconds = time.monotonic() - t0
    result.cpu_seconds = cpu() - cpu_before
    client = psutil.Process().cpu_times()
    result.client_cpu_seconds = client.user + client.system - client_before.user - client_before.system
    result.rss_peak_mb = max(result.rss_peak_mb, rss())
    return result


def report(results: list[LoadResult]) -> list[dict[str, object]]:
    """Print each run's per-page p50/p95 beside the single-viewer run's (all views, then warm and
    cold views apart: a level's share of cold views depends on its length); return them as records."""
    single = next((r for r in results if r.viewers == 1), None)
    bases = {k: single.page_figures(k) if single else {} for k in (None, False, True)}
    rows = []
    print(
        f"\n  {'viewers':>7} {'page':<11}{'views':>6}{'cold':>5}{'p50':>7}{'p95':>7}{'p95/1':>7}"
        f"{'warm p95':>9}{'/1':>7}{'cold p95':>9}{'/1':>7}"
    )
    for r in results:
        figs = {k: r.page_figures(k) for k in (None, False, True)}
        for page, f in figs[None].items():
            cells = []
            for k in (False, True):
                g = figs[k].get(page)
                cells.append(f"{g['p95']:>9.2f}" if g else f"{'–':>9}")
                cells.append(f"{_ratio(g, bases[k].get(page)):>7}")
            cold = figs[True].get(page, {}).get("n", 0)
            print(
                f"  {r.viewers:>7} {page:<11}{f['n']:>6}{cold:>5.0f}{f['p50']:>7.2f}{f['p95']:>7.2f}"
                f"{_ratio(f, bases[None].get(page)):>7}{''.join(cells)}"
            )
        print(
            f"  {r.viewers:>7} all: {len(r.views)} views in {r.wall_seconds:.0f} s, {r.errors} errors, "
            f"{r.backwards} backwards, {r.mixed} mixed, {r.downloads} downloads, versions "
            f"{sorted(r.versions_seen)}, RSS peak {r.rss_peak_mb:,.0f} MB, server CPU {r.cpu_seconds:.0f} s "
            f"({r.cpu_seconds / max(r.wall_seconds, 1e-9):.2f} cores), "
            f"client CPU {r.client_cpu_seconds:.0f} s"
        )
        if len(r.rss_minutes) > 1:
            print(f"          RSS each minute, MB: {' '.join(f'{m:.0f}' for m in r.rss_minutes)}")
        for v in [v for v in r.views if v.error][:3]:
            print(f"      error: {v.page}: {v.error}")
        rows.append(
            {
                "viewers": r.viewers,
                "pages": figs[None],
                "warm": figs[False],
                "cold": figs[True],
                "views": len(r.views),
                "errors": r.errors,
                "backwards": r.backwards,
                "mixed": r.mixed,
                "downloads": r.downloads,
                "versions_seen": sorted(r.versions_seen),
                "rss_peak_mb": r.rss_peak_mb,
                "rss_minutes": r.rss_minutes,
                "cpu_seconds": r.cpu_seconds,
                "client_cpu_seconds": r.client_cpu_seconds,
                "wall_seconds": r.wall_seconds,
            }
        )
    return rows


def worst_ratio(level: dict[str, object], single: dict[str, object], kind: str = "pages") -> float:
    """The largest per-page p95 ratio of a ``report`` record against the single viewer's."""
    mine, base = level[kind], single[kind]
    assert isinstance(mine, dict) and isinstance(base, dict)
    ratios = [f["p95"] / base[p]["p95"] for p, f in mine.items() if p in base and base[p]["p95"]]
    return max(ratios, default=float("nan"))


def _ratio(fig: dict[str, float] | None, base: dict[str, float] | None) -> str:
    return f"{fig['p95'] / base['p95']:.2f}×" if fig and base and base["p95"] else "–"


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def publish_copy(db: Path, run: str) -> None:
    """Publish a new version: the current one plus a refresh record, built as a refresh builds
    (a private copy, checkpoint, the publish step). The load run measures what readers meet at
    a publish, not the refresh's own work (docs/performance.md, "Refresh")."""
    import duckdb

    from pipelines import publish

    with publish.building_copy(db, run) as build:
        con = duckdb.connect(str(build))
        con.execute(
            "INSERT INTO refresh_runs (run_id, started_at, finished_at, status, message) "
            "VALUES (?, now()::TIMESTAMP, now()::TIMESTAMP, 'succeeded', 'load benchmark publish')",
            [run],
        ).fetchall()
        publish.finish(con)
        publish.publish(build, db)


def load_runs(
    source_db: Path,
    work: Path,
    levels: tuple[int, ...] = (1, 4, 8, 16),
    seconds: float = 90.0,
    max_views: int | None = None,
    replicas: int = 1,
    think_seconds: float = 0.0,
    wide_filters: bool = False,
) -> list[LoadResult]:
    """Each level of concurrent viewers against ``replicas`` servers on one folder holding a copy
    of ``source_db`` (published as version 1 under ``work``), with one publish half-way through
    each level."""
    import os
    import shutil
    import subprocess
    import sys

    import duckdb

    from bench.server import _free_port, _wait_healthy
    from dashboard.components.filters import clinic_label
    from pipelines import versions

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "ketaops.duckdb"
    shutil.copyfile(source_db, versions.version_path(db, 1))
    versions.point(db, versions.version_path(db, 1))
    con = duckdb.connect(str(db), read_only=True)
    try:
        labels = tuple(
            clinic_label(i, n)
            for i, n in con.execute("SELECT clinic_id, clinic_name FROM clinics").fetchall()
        )
    finally:
        con.close()
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    servers, ports = [], []
    results = []
    try:
        for _ in range(replicas):
            port = _free_port()
            cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port)]
            cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
            env = {**os.environ, "KETAOPS_DB": str(db)}
            log = (work / f"server-{port}.log").open("wb")  # the server's own account of a failed view
            servers.append(
                psutil.Popen(cmd, env=env, cwd=app.parent.parent, stdout=log, stderr=subprocess.STDOUT)
            )
            ports.append(port)
        for port in ports:
            _wait_healthy(port)
            view_page(port, "overview", {})  # imports paid once per process, not in the figures
        pids = [s.pid for s in servers]
        for n in levels:
            # one viewer alone has nobody to wait for: thinking would only make its sample smaller
            think = 0.0 if n == 1 else think_seconds
            walk = Walk(tuple(ports), think, labels if wide_filters else ())
            print(
                f"  {n} viewer(s): up to {seconds:.0f} s, a publish after {seconds / 2:.0f} s …", flush=True
            )
            run = f"load-{n}"
            publish = lambda run=run: publish_copy(db, run)  # noqa: E731
            bound = max_views or int(seconds * 20) + 10  # a bound, not a pace: views take ≥ 0.05 s
            results.append(run_load(walk, pids, n, seconds, bound, publish, seconds / 2))
            print(f"    {_level_line(results[-1])}", flush=True)  # kept even if a later level fails
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=30)
            except psutil.TimeoutExpired:  # busy finishing a run: the figures are already taken
                server.kill()
                server.wait(timeout=30)
    return results


def _level_line(r: LoadResult) -> str:
    p95 = ", ".join(f"{page} {f['p95']:.2f}" for page, f in r.page_figures().items())
    return (
        f"{r.viewers} viewer(s): {len(r.views)} views, {r.errors} errors, {r.backwards} backwards, "
        f"{r.mixed} mixed, RSS peak {r.rss_peak_mb:,.0f} MB, server CPU {r.cpu_seconds:.0f} s; p95 s: {p95}"
    )
