"""Dashboard benchmark: the leadership dashboard opened in headless Chromium on a generated national-sized
catalogue: first paint, and the time until the map (its reference layers and outfall tiles) and the trend chart
are drawn.

Run ``.venv/bin/python bench/dashboard.py --outfalls 1000000 [--json] [--reuse DIR]``.

The catalogue is generated exactly as ``bench/progress.py`` generates it (same SQL, same seed, untimed): a
throwaway PostGIS cluster (or the one kept in ``--reuse DIR``) migrated with Alembic, reference data, N outfalls
on random sites of Shaanxi with a lifecycle each that follows the transition table, inserted through the
triggers that keep the milestones, then ``VACUUM ANALYZE``. The app is served by waitress on a loopback port;
Debian's Chromium (``/usr/bin/chromium``, driven by Playwright, nothing downloaded) logs in as a national
leader and opens ``/dashboard`` ``--repeats`` times, each time in a fresh browser context with the same session
cookie (no HTTP cache carried over).

``dashboard first paint``
    The first contentful paint of ``/dashboard`` (``performance`` paint timing), which waits for the server to
    render the page with its progress table (the chart's trend, the layers and the names come from the JSON API,
    asked for by preload links in the page's head).
``dashboard map and chart drawn``
    The ``dashboard-ready`` performance mark, which the page sets (with ``data-ready`` on ``<html>``) once its
    reference layers and names are on the map, the outfall tiles of the first view are loaded and drawn, and the
    chart is drawn with its trend.

Baseline, same run: the very same page replayed with static data. Every response of one of our loads (the
page, the scripts, the JSON layers and every tile) is recorded and served again from memory by the browser
(``page.route``), so the same JavaScript draws the same map and chart without any server work: the floor that
no server can beat. Ratio = ours ÷ replay; lower is better.

Beside the figures, ``waits`` says what the page waited for (resource timing of our loads, medians): the HTML
(server time to the first byte), the slowest JSON response (layers, names, trend) and the slowest tile.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from progress import PASSWORD, generate, leader, make_app  # bench/progress.py: the same catalogue
from sqlalchemy.orm import Session

from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine, migrate
from outfalls.reference import load_reference

DB_NAME = "bench"
META_FILE = "dashboard.json"  # what a --reuse folder holds
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
READY = "html[data-ready]"
MARKS_JS = """() => {
  const at = (n) => (performance.getEntriesByName(n)[0] || {}).startTime;
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const slowest = (f) => res.filter(f).reduce((a, r) => Math.max(a, r.responseEnd - r.startTime), 0);
  return {fcp: at('first-contentful-paint'), ready: at('dashboard-ready'), map: at('dashboard-map'),
          chart: at('dashboard-chart'), html_first_byte: nav.responseStart - nav.requestStart,
          html_done: nav.responseEnd, tiles: res.filter((r) => r.name.includes('.mvt')).length,
          slowest_tile: slowest((r) => r.name.includes('.mvt')),
          slowest_layer: slowest((r) => r.name.includes('/api/'))};
}"""


STARTED = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class Result:
    """One measured figure: ours against a baseline doing the same work."""

    name: str
    seconds: float
    baseline: str
    baseline_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Our seconds divided by the baseline's (lower is better)."""
        return self.seconds / self.baseline_seconds if self.baseline_seconds > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"name": self.name, "seconds": round(self.seconds, 4), "baseline": self.baseline,
                "baseline_seconds": round(self.baseline_seconds, 4), "ratio": round(self.ratio, 3),
                **self.extra}  # fmt: skip


# -- the cluster -------------------------------------------------------------------------------------------
@contextmanager
def cluster_at(root: Path | None) -> Iterator[tuple[str, Path]]:
    """A migrated database with reference data: in a throwaway cluster, or in the one kept in ``root`` (created
    the first time, migrated to the current schema on later runs, stopped but never removed at the end).
    """
    keep = root is not None
    root = root or Path(tempfile.mkdtemp(prefix="ofd", dir="/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the server runs as the unprivileged postgres user when this runs as root
    cluster = Cluster(root / "pg", fsync=False)
    say(f"starting the PostGIS cluster in {cluster.root}")
    cluster.start()
    try:
        if cluster.has_database(DB_NAME):
            url = cluster.url(DB_NAME)
        else:
            url = cluster.create_database(DB_NAME, extensions=("postgis",))
        say("migrating (alembic)")
        migrate(url)
        yield url, root
    finally:
        if keep:
            cluster.stop()
            say(f"cluster stopped; measure it again with --reuse {root}")
        else:
            cluster.remove()
            shutil.rmtree(root, ignore_errors=True)
            say("cluster removed")


def build(url: str, root: Path, n: int, m: int, seed: int) -> dict[str, Any]:
    """The generated catalogue of ``bench/progress.py`` (untimed), once per folder."""
    meta = root / META_FILE
    wanted = {"outfalls": n, "events": m, "seed": seed}
    if meta.exists():
        done = json.loads(meta.read_text())
        if "events_in_all" not in done:  # a build recorded before the requested count was kept apart
            done["events_in_all"], done["events"] = done["events"], m
        if {k: done.get(k) for k in wanted} != wanted:
            raise SystemExit(f"{root} holds a build of {done}; use another folder for {wanted}")
        say(f"reusing the build in {root}: {done}")
        return dict(done)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            load_reference(session)
            session.commit()
    finally:
        engine.dispose()
    stats = generate(url, n, m, seed)
    leader(url, "bench_painter", PASSWORD)
    done = {**stats, "events_in_all": stats["events"], **wanted}
    meta.write_text(json.dumps(done))
    say(f"generated: {done}")
    return done


# -- the browser -------------------------------------------------------------------------------------------
@contextmanager
def served(app: Any) -> Iterator[str]:
    from waitress import create_server, wasyncore

    from web.cli import SERVE_THREADS

    server = create_server(app, host="127.0.0.1", port=0, threads=SERVE_THREADS)  # as `outfalls serve` runs
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.task_dispatcher.shutdown()
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)


def measure(base: str, repeats: int, timeout_s: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``repeats`` loads of ours and of the replay, alternating; the marks of each."""
    from playwright.sync_api import Route, sync_playwright

    ours: list[dict[str, Any]] = []
    replays: list[dict[str, Any]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        login = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        page = login.new_page()
        page.goto(f"{base}/login?next=/account")
        page.fill("input[name=login]", "bench_painter")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#current-user")
        state = login.storage_state()
        login.close()

        def load(record: dict[str, tuple[int, dict[str, str], bytes]] | None,
                 replay: dict[str, tuple[int, dict[str, str], bytes]] | None) -> dict[str, Any]:  # fmt: skip
            ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", storage_state=state)
            try:
                pg = ctx.new_page()
                pg.on("pageerror", lambda err: say(f"page error: {err}"))
                if replay is not None:
                    missed: list[str] = []

                    def serve(route: Route) -> None:
                        hit = replay.get(route.request.url)
                        if hit is None:
                            missed.append(route.request.url)
                            route.abort()
                        else:
                            route.fulfill(status=hit[0], headers=hit[1], body=hit[2])

                    pg.route("**/*", serve)
                if record is not None:
                    pg.on("response", lambda r: record.__setitem__(r.url, (r.status, r.headers, r.body())))
                pg.goto(f"{base}/dashboard", timeout=timeout_s * 1000)
                pg.wait_for_selector(READY, state="attached", timeout=timeout_s * 1000)
                marks: dict[str, Any] = pg.evaluate(MARKS_JS)
                if replay is not None and missed:
                    raise SystemExit(f"the replay asked for what the recorded load did not: {missed[:3]}")
                return marks
            finally:
                ctx.close()

        recorded: dict[str, tuple[int, dict[str, str], bytes]] = {}
        say("warming up (one load of ours, recorded for the replay)")
        load(recorded, None)
        say(f"recorded {len(recorded)} responses, {sum(len(b) for _s, _h, b in recorded.values()):,} bytes")
        load(None, recorded)
        for i in range(repeats):
            ours.append(load(None, None))
            replays.append(load(None, recorded))
            say(f"load {i + 1}/{repeats}: first paint {ours[-1]['fcp']:.0f} ms, drawn {ours[-1]['ready']:.0f} ms "
                f"(replay {replays[-1]['fcp']:.0f} / {replays[-1]['ready']:.0f} ms); html first byte "
                f"{ours[-1]['html_first_byte']:.0f} ms, slowest tile {ours[-1]['slowest_tile']:.0f} ms of "
                f"{ours[-1]['tiles']}, slowest layer {ours[-1]['slowest_layer']:.0f} ms")  # fmt: skip
        browser.close()
    return ours, replays


def results_of(ours: list[dict[str, Any]], replays: list[dict[str, Any]]) -> list[Result]:
    def med(rows: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(r[key] for r in rows)) / 1000

    waits = {k: round(med(ours, k), 4) for k in ("html_first_byte", "html_done", "slowest_layer", "slowest_tile")}
    common = {"repeats": len(ours), "tiles": int(statistics.median(r["tiles"] for r in ours))}
    replay = "the same page replayed from recorded responses (static data, no server work)"
    return [
        Result("dashboard first paint", med(ours, "fcp"), replay, med(replays, "fcp"),
               {"max_seconds": round(max(r["fcp"] for r in ours) / 1000, 4), **common}),
        Result("dashboard map and chart drawn", med(ours, "ready"), replay, med(replays, "ready"),
               {"max_seconds": round(max(r["ready"] for r in ours) / 1000, 4),
                "chart_seconds": round(med(ours, "chart"), 4), "map_seconds": round(med(ours, "map"), 4),
                "waits": waits, **common}),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("waitress").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--outfalls", type=int, default=100_000, help="outfalls to generate (default 100000)")
    parser.add_argument("--events", type=int, default=None,
                        help="events in all (default 4 per outfall: the lifecycles and a few visits)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5, help="loads of the page, and of the replay (default 5)")
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--timeout", type=float, default=300, help="seconds a load may take (default 300)")
    parser.add_argument("--reuse", type=Path, metavar="DIR", help="keep the cluster and its build in DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    n = args.outfalls
    m = args.events if args.events is not None else 4 * n
    if n < 1 or m < n:
        parser.error("--outfalls must be at least 1 and --events at least --outfalls")
    with cluster_at(args.reuse) as (url, root):
        stats = build(url, root, n, m, args.seed)
        app = make_app(url, root / "data")
        try:
            with served(app) as base:
                ours, replays = measure(base, args.repeats, args.timeout)
        finally:
            app.extensions["outfalls.sessions"].kw["bind"].dispose()
    results = results_of(ours, replays)
    if args.json:
        print(json.dumps({"bench": "dashboard", "size": n, "results": [r.as_dict() for r in results],
                          "events": stats["events_in_all"]}, ensure_ascii=False))  # fmt: skip
    else:
        print(f"dashboard benchmark: {n:,} outfalls, {stats['events_in_all']:,} events")
        for r in results:
            print(f"{r.name:<32} {r.seconds * 1000:>8.0f} ms {r.baseline_seconds * 1000:>8.0f} ms {r.ratio:>6.2f}  "
                  + ", ".join(f"{k}={v}" for k, v in r.extra.items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
