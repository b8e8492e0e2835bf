"""Progress benchmark: progress against the targets by basin and by county as of three dates, the dashboard's
vector tiles at z6, z10 and z14, and the dashboard's first paint in headless Chromium, on a generated catalogue.

Run ``.venv/bin/python bench/progress.py --outfalls 1000000 --events 10000000 [--json] [--keep]``.

A throwaway PostGIS cluster is started with the product's own :class:`outfalls.db.cluster.Cluster` (fsync off),
migrated with Alembic (so the milestone triggers of revision 0008 are in place) and loaded with the reference
data. The catalogue is generated in SQL: N outfalls on random sites of Shaanxi (basin, sub-basin, county and
nearest river derived once per site with the product's own rules), a lifecycle per outfall that follows the
transition table (drone finds surveyed or rejected, then traced, remediation planned, remediated, closed out,
some merged; dates from 2020-05 on, nothing after 2026-06-30), and sampling and attribute events on top until
there are M events in all. Events are inserted in batches, so the triggers keep the milestones as the product
would. Then, after ``VACUUM ANALYZE``:

``progress by basin|county as of DATE``
    ``outfalls.progress.progress(session, scope=national, by=..., as_of=DATE)``: every scope of the axis (basins,
    sub-basins, rivers; provinces, cities, counties), every metric, with targets and gaps. Baseline: one
    hand-written SQL query computing the same counts straight from the ``events`` table (the first event of each
    stage per outfall up to the day, joined to the outfall's location, ``GROUPING SETS`` for the levels, each
    level counting an outfall only where its parent does, as the product counts). The numbers of both are
    compared (``agree``); when they differ, the first few scopes that disagree are printed with both sides'
    numbers (and listed under ``disagreements`` in the JSON). A second figure (``... over milestones``) times a
    hand-written query over the same ``outfall_milestones`` table, to show the module's own overhead.
``tile zZ`` / ``tile zZ over HTTP`` / ``tile zZ over HTTP, cache miss``
    The dashboard's tile as of a day (2026-06-30): ``outfalls.progress.outfall_tile`` on an open session, and
    ``GET /tiles/outfalls/Z/X/Y.mvt?as_of=...`` through Flask's test client as a national leader (session
    cookie) — served by the app's tile cache once read (``cache_hits`` says how many were), and by the same app
    without a cache (``[progress] tile_cache_mb = 0``: the tile made again every time) —, for the tile holding
    the outfall nearest the centre of Xi'an (at z10 with its eight neighbours), p50 and p95, the six calls of a
    tile in turn (which goes first rotating) after one untimed read. Baseline: the same tile by hand, ``ST_AsMVT``
    over the same ``outfalls`` with each outfall's state as of the day looked up in its ``outfall_milestones`` row
    (every outfall a point with id, name and state: the same features as ours from z10 on; below it ours clusters),
    on an open connection. Beside it (``current_state_*``): ours without a date against raw ``ST_AsMVT`` with
    the state on the outfall row.
``dashboard first paint``
    Headless Chromium (Debian's, driven by Playwright) opening ``/dashboard`` logged in as a national leader:
    time to the first contentful paint and to the map ready with its tiles drawn. Baseline: the catalogue map
    page ``/`` in the same browser, to its first contentful paint.

Every ratio is our seconds divided by the baseline's seconds: lower is better. Progress goes to stderr; a table
(or, with ``--json``, one JSON object) to stdout.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.catalogue.transitions import OFF_LADDER, STAGES
from outfalls.config import load_settings
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine, migrate
from outfalls.progress import outfall_tile, progress
from outfalls.reference import load_reference
from outfalls.scope import Scope

DB_NAME = "bench"
AS_OF = (date(2023, 12, 31), date(2024, 12, 31), date(2026, 6, 30))
XIAN = (108.94, 34.30)
ZOOMS = (6, 10, 14)
PASSWORD = "bench-password-1"


# -- reporting ---------------------------------------------------------------------------------------------
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
        return {
            "name": self.name,
            "seconds": round(self.seconds, 6),
            "baseline": self.baseline,
            "baseline_seconds": round(self.baseline_seconds, 6),
            "ratio": round(self.ratio, 3),
            **self.extra,
        }


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def alternate(
    ours: Callable[[], Any], raw: Callable[[], Any], repeats: int, warmup: int = 1
) -> tuple[list[float], ...]:
    """Time ``ours`` and ``raw`` alternately (so other load on the machine hits both alike) after a warm-up."""
    for _ in range(warmup):
        ours()
        raw()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        a.append(timed(ours)[0])
        b.append(timed(raw)[0])
    return a, b


# -- the throwaway cluster and the generated catalogue -----------------------------------------------------
@contextmanager
def throwaway_cluster(*, keep: bool) -> Iterator[tuple[str, Path]]:
    root = Path(tempfile.mkdtemp(prefix="ofp", dir="/tmp"))
    root.chmod(0o755)  # the server runs as the unprivileged postgres user when this runs as root
    cluster = Cluster(root / "pg", fsync=False)
    try:
        say(f"starting a throwaway PostGIS cluster in {cluster.root}")
        cluster.start()
        url = cluster.create_database(DB_NAME, extensions=("postgis",))
        say("migrating (alembic) and loading reference data")
        migrate(url)
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                load_reference(session)
                session.commit()
        finally:
            engine.dispose()
        yield url, root
    finally:
        if keep:
            say(f"kept: {url}  (stop with: pg_ctl stop -D {cluster.pgdata}; then rm -rf {root})")
        else:
            cluster.remove()
            shutil.rmtree(root, ignore_errors=True)
            say("cluster removed")


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


SITES_SQL = """
CREATE TABLE bench_sites AS
SELECT row_number() OVER () AS site, geom FROM (
  SELECT (ST_Dump(ST_GeneratePoints(geom, %(n)s, %(seed)s))).geom::geometry(Point, 4490) AS geom
  FROM admin_areas WHERE code = '610000'
) d;
ALTER TABLE bench_sites ADD basin_id int, ADD sub_basin_id int, ADD admin_area_id int, ADD river_id int;
-- the product's derivation rules (outfalls.catalogue.lifecycle.assign_locations), once per site
UPDATE bench_sites s SET
  sub_basin_id = (SELECT p.ref_id FROM area_parts p WHERE p.kind = 'sub_basin' AND ST_Intersects(p.geom, s.geom)
                  ORDER BY p.ref_id LIMIT 1),
  basin_id = (SELECT p.ref_id FROM area_parts p WHERE p.kind = 'basin' AND ST_Intersects(p.geom, s.geom)
              ORDER BY p.ref_id LIMIT 1),
  admin_area_id = (SELECT p.ref_id FROM area_parts p WHERE p.kind = 'admin' AND ST_Intersects(p.geom, s.geom)
                   ORDER BY p.rank LIMIT 1),
  river_id = (SELECT r.id FROM rivers r WHERE ST_DWithin(r.geom, s.geom, 0.05) ORDER BY r.geom <-> s.geom LIMIT 1);
CREATE UNIQUE INDEX ON bench_sites (site);
"""

# One plan per outfall: its discovery and the day it reached each stage (NULL: not reached by 2026-06-30).
PLAN_SQL = """
SELECT setseed(%(seed)s);
CREATE TABLE bench_plan AS
WITH base AS (
  SELECT g AS id, 1 + floor(random() * %(sites)s)::int AS site, random() < 0.84 AS drone,
         DATE '2020-05-01' + floor(random() * 1700)::int AS found, random() AS r_rej, random() AS r_merge,
         random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5
  FROM generate_series(1, %(n)s) g
), steps AS (
  SELECT *, CASE WHEN drone THEN found + 10 + floor(r1 * 120)::int ELSE found END AS surveyed_d FROM base
), plan AS (
  SELECT id, site, drone, found,
    CASE WHEN drone AND r_rej < 0.3 THEN surveyed_d END AS rejected,
    CASE WHEN NOT (drone AND r_rej < 0.3) THEN surveyed_d END AS surveyed,
    CASE WHEN NOT (drone AND r_rej < 0.3) THEN surveyed_d + 20 + floor(r2 * 500)::int END AS traced,
    r3, r4, r5, r_merge
  FROM steps
)
SELECT id, site, drone, found, rejected,
  CASE WHEN surveyed <= DATE '2026-06-30' THEN surveyed END AS surveyed,
  CASE WHEN traced <= DATE '2026-06-30' THEN traced END AS traced,
  CASE WHEN traced + 10 + floor(r3 * 200)::int <= DATE '2026-06-30'
       THEN traced + 10 + floor(r3 * 200)::int END AS planned,
  CASE WHEN traced + 60 + floor(r3 * 200 + r4 * 400)::int <= DATE '2026-06-30'
       THEN traced + 60 + floor(r3 * 200 + r4 * 400)::int END AS remediated,
  CASE WHEN traced + 90 + floor(r3 * 200 + r4 * 400 + r5 * 200)::int <= DATE '2026-06-30'
       THEN traced + 90 + floor(r3 * 200 + r4 * 400 + r5 * 200)::int END AS closed,
  CASE WHEN r_merge < 0.02 AND surveyed + 30 <= DATE '2026-06-30' THEN surveyed + 30 END AS merged
FROM plan;
-- a merged outfall does nothing after its merge
UPDATE bench_plan SET traced = CASE WHEN traced < merged THEN traced END,
  planned = CASE WHEN planned < merged THEN planned END, remediated = CASE WHEN remediated < merged THEN remediated END,
  closed = CASE WHEN closed < merged THEN closed END
WHERE merged IS NOT NULL;
CREATE UNIQUE INDEX ON bench_plan (id);
"""

OUTFALLS_SQL = """
INSERT INTO outfalls (id, national_code_provenance, local_code_provenance, name, name_provenance, type_scheme,
  type_code, geom, basin_id, sub_basin_id, river_id, admin_area_id, found_by, found_on, status, status_since,
  is_demo, version)
SELECT p.id, 'unknown', 'unknown', '排污口' || p.id, 'known', 'HJ1312', '4.8',
  ST_SetSRID(ST_Translate(s.geom, (random() - 0.5) * 0.002, (random() - 0.5) * 0.002), 4490),
  s.basin_id, s.sub_basin_id, s.river_id, s.admin_area_id, CASE WHEN p.drone THEN 'drone' ELSE 'foot' END, p.found,
  CASE WHEN p.merged IS NOT NULL THEN 'merged' WHEN p.rejected IS NOT NULL THEN 'rejected'
       WHEN p.closed IS NOT NULL THEN 'closed' WHEN p.remediated IS NOT NULL THEN 'remediated'
       WHEN p.planned IS NOT NULL THEN 'remediating' WHEN p.traced IS NOT NULL THEN 'traced'
       WHEN p.surveyed IS NOT NULL THEN 'surveyed' ELSE 'candidate' END,
  COALESCE(p.merged, p.rejected, p.closed, p.remediated, p.planned, p.traced, p.surveyed, p.found), false, 1
FROM bench_plan p JOIN bench_sites s ON s.site = p.site
WHERE p.id BETWEEN %(lo)s AND %(hi)s;
"""

LIFECYCLE_EVENTS_SQL = """
INSERT INTO events (outfall_id, kind, payload, actor, effective_at, outfall_version)
SELECT p.id, e.kind, e.payload, 'bench', e.day + TIME '04:00' AT TIME ZONE 'UTC', 1
FROM bench_plan p CROSS JOIN LATERAL (VALUES
  ('created', jsonb_build_object('status', CASE WHEN p.drone THEN 'candidate' ELSE 'surveyed' END), p.found),
  ('surveyed', '{}'::jsonb, CASE WHEN p.drone THEN p.surveyed END),
  ('rejected', '{}'::jsonb, p.rejected),
  ('traced', '{}'::jsonb, p.traced),
  ('remediation_planned', '{}'::jsonb, p.planned),
  ('remediated', '{}'::jsonb, p.remediated),
  ('closed', '{}'::jsonb, p.closed),
  ('merged', '{}'::jsonb, p.merged)
) AS e(kind, payload, day)
WHERE e.day IS NOT NULL AND p.id BETWEEN %(lo)s AND %(hi)s;
"""

# Events that change no stage (sampling visits, attribute edits), spread over each outfall's active life.
FILLER_SQL = """
INSERT INTO events (outfall_id, kind, payload, actor, effective_at, outfall_version)
SELECT p.id, CASE WHEN random() < 0.6 THEN 'sampled' ELSE 'attributes_changed' END, '{}'::jsonb, 'bench',
  (p.found + floor(random() * GREATEST(1, COALESCE(p.merged, p.rejected, DATE '2026-06-30') - p.found))::int)
    + TIME '04:00' AT TIME ZONE 'UTC', 1
FROM (SELECT 1 + floor(random() * %(n)s)::int AS id FROM generate_series(1, %(rows)s)) f
JOIN bench_plan p ON p.id = f.id;
"""


def generate(url: str, n: int, m: int, seed: int) -> dict[str, Any]:
    """Fill the database with ``n`` outfalls and ``m`` events; returns counts and timings."""
    stats: dict[str, Any] = {}
    batch = 100_000
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute(SITES_SQL.replace("%(n)s", str(max(2000, min(50_000, n // 10)))).replace("%(seed)s", str(seed)))
        sites = conn.execute("SELECT count(*) FROM bench_sites").fetchone()[0]  # type: ignore[index]
        say(f"{sites:,} sites derived ({time.perf_counter() - t0:.1f} s)")
        conn.execute(
            PLAN_SQL.replace("%(seed)s", str((seed % 1000) / 1000))
            .replace("%(sites)s", str(sites))
            .replace("%(n)s", str(n))
        )
        t1 = time.perf_counter()
        for lo in range(1, n + 1, batch):
            conn.execute(OUTFALLS_SQL, {"lo": lo, "hi": lo + batch - 1})
        conn.execute("SELECT setval(pg_get_serial_sequence('outfalls', 'id'), %s)", (n,))
        say(f"{n:,} outfalls ({time.perf_counter() - t1:.1f} s)")
        t2 = time.perf_counter()
        for lo in range(1, n + 1, batch):
            conn.execute(LIFECYCLE_EVENTS_SQL, {"lo": lo, "hi": lo + batch - 1})
        lifecycle = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
        say(f"{lifecycle:,} lifecycle events ({time.perf_counter() - t2:.1f} s)")
        rest = max(0, m - lifecycle)
        done = 0
        while done < rest:
            rows = min(1_000_000, rest - done)
            conn.execute(FILLER_SQL, {"n": n, "rows": rows})
            done += rows
            say(f"  {lifecycle + done:,}/{m:,} events")
        stats["events"] = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
        stats["insert_events_seconds"] = round(time.perf_counter() - t2, 1)
        stats["milestones"] = conn.execute("SELECT count(*) FROM outfall_milestones").fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE bench_plan")
        say("VACUUM ANALYZE")
        conn.execute("VACUUM ANALYZE")
    stats["generate_seconds"] = round(time.perf_counter() - t0, 1)
    return stats


# -- progress ------------------------------------------------------------------------------------------------
# The first day of each stage per outfall, straight from the events, up to the end of the day.
_FIRSTS = """
WITH firsts AS (
  SELECT outfall_id,
    min(effective_at) FILTER (WHERE kind = 'created') AS found,
    min(effective_at) FILTER (WHERE kind IN ('rejected', 'merged')) AS gone,
    min(effective_at) FILTER (WHERE kind IN ('surveyed', 'traced', 'remediation_planned', 'remediated', 'closed')
                              OR (kind = 'created' AND payload->>'status' <> 'candidate')) AS surveyed,
    min(effective_at) FILTER (WHERE kind = 'sampled') AS sampled,
    min(effective_at) FILTER (WHERE kind IN ('traced', 'remediation_planned', 'remediated', 'closed')
                              OR (kind = 'created' AND payload->>'status' IN ('traced', 'remediating', 'remediated',
                                                                            'closed'))) AS traced,
    min(effective_at) FILTER (WHERE kind IN ('remediation_planned', 'remediated', 'closed')) AS remediating,
    min(effective_at) FILTER (WHERE kind IN ('remediated', 'closed')) AS remediated,
    min(effective_at) FILTER (WHERE kind = 'closed') AS closed
  FROM events WHERE effective_at < %(cutoff)s::date + 1 GROUP BY outfall_id
), live AS (
  SELECT o.basin_id, o.sub_basin_id, o.river_id, o.admin_area_id, f.*
  FROM firsts f JOIN outfalls o ON o.id = f.outfall_id
  WHERE f.found IS NOT NULL AND f.gone IS NULL
)
"""
_COUNTS = (
    "count(*) AS denominator, count(surveyed) AS surveyed, count(sampled) AS sampled, count(traced) AS traced, "
    "count(remediating) AS remediating, count(remediated) AS remediated, count(closed) AS closed"
)
# A scope counts an outfall only where its parent does (outfalls.progress.hierarchy): a sub-basin the outfalls in
# it and in its basin, a river those on it and in the sub-basin the reference data puts the river in (or, with
# none, in its basin). An outfall on the Wei where the Wei crosses another sub-basin is in no river row.
BASIN_EVENTS_SQL = (
    _FIRSTS
    + f"""
SELECT CASE WHEN GROUPING(b.code) = 0 THEN 'basin' WHEN GROUPING(s.code) = 0 THEN 'sub_basin'
            WHEN GROUPING(r.code) = 0 THEN 'river' ELSE 'all' END AS kind,
       COALESCE(b.code, s.code, r.code) AS code, {_COUNTS}
FROM live l LEFT JOIN basins b ON b.id = l.basin_id
LEFT JOIN basins s ON s.id = l.sub_basin_id AND (s.parent_id IS NULL OR s.parent_id = l.basin_id)
LEFT JOIN rivers r ON r.id = l.river_id AND CASE WHEN r.sub_basin_id IS NOT NULL THEN r.sub_basin_id = s.id
                                                 ELSE r.basin_id IS NULL OR r.basin_id = l.basin_id END
GROUP BY GROUPING SETS ((b.code), (s.code), (r.code), ())
"""
)
AREA_EVENTS_SQL = (
    _FIRSTS
    + f"""
SELECT CASE WHEN GROUPING(p.code) = 0 THEN 'province' WHEN GROUPING(c.code) = 0 THEN 'city'
            WHEN GROUPING(a.code) = 0 THEN 'county' ELSE 'all' END AS kind,
       COALESCE(p.code, c.code, a.code) AS code, {_COUNTS}
FROM live l LEFT JOIN admin_areas a ON a.id = l.admin_area_id AND a.level = 'county'
LEFT JOIN admin_areas c ON c.id = a.parent_id LEFT JOIN admin_areas p ON p.id = c.parent_id
GROUP BY GROUPING SETS ((p.code), (c.code), (a.code), ())
"""
)
MILESTONES_SQL = """
SELECT basin_id, sub_basin_id, river_id, admin_area_id, count(*),
  count(*) FILTER (WHERE surveyed_on <= %(d)s), count(*) FILTER (WHERE sampled_on <= %(d)s),
  count(*) FILTER (WHERE traced_on <= %(d)s), count(*) FILTER (WHERE remediating_on <= %(d)s),
  count(*) FILTER (WHERE remediated_on <= %(d)s), count(*) FILTER (WHERE closed_on <= %(d)s)
FROM outfall_milestones
WHERE found_on <= %(d)s AND (rejected_on IS NULL OR rejected_on > %(d)s) AND (merged_on IS NULL OR merged_on > %(d)s)
GROUP BY 1, 2, 3, 4
"""
METRICS = ("surveyed", "sampled", "traced", "remediating", "remediated", "closed")
COUNTED = ("denominator", *METRICS)
SHOWN_DISAGREEMENTS = 5  # disagreeing scopes printed with both sides' numbers
ScopeKey = tuple[str, str | None]


def _table_of_report(report: Any) -> dict[ScopeKey, tuple[int, ...]]:
    out: dict[ScopeKey, dict[str, int]] = {}
    denominators: dict[ScopeKey, int] = {}
    for r in report.rows:
        out.setdefault((r.scope_kind, r.scope_code), {})[r.metric] = r.count
        denominators[(r.scope_kind, r.scope_code)] = r.denominator
    return {k: (denominators[k], *(v[m] for m in METRICS)) for k, v in out.items()}


def _table_of_rows(rows: Any) -> dict[ScopeKey, tuple[int, ...]]:
    """The hand SQL's rows (kind, code, denominator, *counts) by scope, without its rows of no scope."""
    return {(kind, code): tuple(v) for kind, code, *v in rows if code is not None or kind == "all"}


def disagreements(
    mine: dict[ScopeKey, tuple[int, ...]], theirs: dict[ScopeKey, tuple[int, ...]]
) -> list[tuple[ScopeKey, tuple[int, ...] | None, tuple[int, ...] | None]]:
    """Every scope whose numbers differ (or that only one side has): (scope, ours, the hand SQL's)."""
    keys = sorted(set(mine) | set(theirs), key=lambda k: (k[0], k[1] or ""))
    return [(k, mine.get(k), theirs.get(k)) for k in keys if mine.get(k) != theirs.get(k)]


def describe(disagreement: tuple[ScopeKey, tuple[int, ...] | None, tuple[int, ...] | None]) -> str:
    """One disagreement as ``river HYD4M-346: ours denominator=4 ... / hand SQL denominator=156 ...``."""
    (kind, code), ours, theirs = disagreement

    def side(values: tuple[int, ...] | None) -> str:
        return "no row" if values is None else " ".join(f"{k}={v}" for k, v in zip(COUNTED, values, strict=True))

    return f"{kind} {code or ''}".strip() + f": ours {side(ours)} / hand SQL {side(theirs)}"


def bench_progress(url: str, repeats: int, slow_repeats: int) -> list[Result]:
    settings = load_settings(env={}, overrides={"database.url": url})
    engine = make_engine(url)
    results: list[Result] = []
    national = Scope.national()
    try:
        with Session(engine) as session, psycopg.connect(libpq(url), autocommit=True) as conn:
            for by, label, sql in (("basin", "basin", BASIN_EVENTS_SQL), ("area", "county", AREA_EVENTS_SQL)):
                for day in AS_OF:

                    def ours(by: str = by, day: date = day) -> Any:
                        return progress(session, scope=national, by=by, as_of=day, defaults=settings.targets)

                    def raw(sql: str = sql, day: date = day) -> Any:
                        return conn.execute(sql, {"cutoff": day}).fetchall()

                    def milestones(day: date = day) -> Any:
                        return conn.execute(MILESTONES_SQL, {"d": day}).fetchall()

                    a, b = alternate(ours, raw, slow_repeats)
                    a2, c = alternate(ours, milestones, repeats)
                    report = ours()
                    mine = _table_of_report(report)
                    theirs = _table_of_rows(raw())
                    differ = disagreements(mine, theirs)
                    agree = not differ
                    ours_s = statistics.median(a + a2)
                    extra: dict[str, Any] = {
                        "p95_seconds": round(p95(a + a2), 6),
                        "rows": len(report.rows),
                        "agree": agree,
                        "scopes": len(mine),
                    }
                    if differ:
                        extra["scopes_disagreeing"] = len(differ)
                        extra["disagreements"] = [describe(d) for d in differ[:SHOWN_DISAGREEMENTS]]
                    results.append(
                        Result(
                            f"progress by {label} as of {day}",
                            ours_s,
                            "hand SQL over events",
                            statistics.median(b),
                            extra,
                        )
                    )
                    results.append(
                        Result(
                            f"progress by {label} as of {day} over milestones",
                            ours_s,
                            "hand SQL over outfall_milestones",
                            statistics.median(c),
                            {"p95_seconds": round(p95(a + a2), 6)},
                        )
                    )
                    say(
                        f"{results[-2].name}: {ours_s * 1000:.0f} ms vs {statistics.median(b) * 1000:.0f} ms "
                        f"(events), {statistics.median(c) * 1000:.0f} ms (milestones); agree={agree}"
                    )
                    if differ:
                        shown = "".join(f"\n    {describe(d)}" for d in differ[:SHOWN_DISAGREEMENTS])
                        more = "\n    ..." if len(differ) > SHOWN_DISAGREEMENTS else ""
                        say(f"  {len(differ)} of {len(set(mine) | set(theirs))} scopes disagree:{shown}{more}")
    finally:
        engine.dispose()
    return results


# -- tiles -------------------------------------------------------------------------------------------------
def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    r = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)


RAW_TILE_SQL = """
SELECT ST_AsMVT(t, 'outfalls', 4096, 'geom') FROM (
  SELECT ST_AsMVTGeom(ST_Transform(o.geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom,
         o.id, o.name, o.status AS state
  FROM outfalls o
  WHERE o.geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 0.015625), 4490)
    AND o.status NOT IN ('rejected', 'merged')
) t
"""


# The same tile with each outfall's state as of a day, by hand: its milestones row looked up per outfall (the
# rule of transitions.state_from_milestones: off-ladder first, then the highest stage reached, else a candidate)
_STATE_ON_DAY = (
    "CASE "
    + " ".join(f"WHEN m.{s.value}_on <= %(day)s THEN '{s.value}'" for s in (*OFF_LADDER, *STAGES[:0:-1]))
    + " ELSE 'candidate' END"
)
RAW_TILE_AS_OF_SQL = f"""
SELECT ST_AsMVT(t, 'outfalls', 4096, 'geom') FROM (
  SELECT ST_AsMVTGeom(ST_Transform(o.geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom,
         o.id, o.name, s.state
  FROM outfalls o
  JOIN LATERAL (SELECT {_STATE_ON_DAY} AS state FROM outfall_milestones m
                WHERE m.outfall_id = o.id AND m.found_on <= %(day)s) s ON true
  WHERE o.geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 0.015625), 4490)
    AND s.state NOT IN ('rejected', 'merged')
) t
"""


AS_OF_BASELINE = "ST_AsMVT by hand, states as of the day from the milestones"
CLUSTER_BELOW_ZOOM = 10  # outfall_tile's default: points from this zoom on


def make_app(url: str, data_dir: Path, **overrides: Any) -> Any:
    from web import create_app

    settings = {"database.url": url, "storage.data_dir": str(data_dir), **overrides}
    return create_app(load_settings(env={}, overrides=settings))


def leader(url: str, login: str, password: str | None = None) -> str:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            user = accounts.create_user(
                session, login, roles=("leader",), is_national=True, password=password, actor="bench"
            )
            cookie, _web = accounts.start_session(session, user)
            session.commit()
            return cookie
    finally:
        engine.dispose()


def bench_tiles(app: Any, cold_app: Any, url: str, cookie: str, repeats: int) -> list[Result]:
    from web.auth import SESSION_COOKIE

    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, cookie)
    cold = cold_app.test_client()  # the same app without a tile cache: every tile made again
    cold.set_cookie(SESSION_COOKIE, cookie)
    cache = app.extensions["outfalls.tile_cache"]
    national = Scope.national()
    day = AS_OF[-1]
    results = []
    engine = make_engine(url)
    try:
        with psycopg.connect(libpq(url), autocommit=True) as conn, Session(engine) as session:
            # The baselines' best plan: with parallel workers the planner may spread the per-row cost of
            # ST_AsMVTGeom over them and scan the whole table instead of using the spatial index (100 ms
            # instead of 4 ms for a z10 tile at 10⁵ outfalls; the product keeps the scan apart, OFFSET 0), and
            # PostGIS's function costs make PostgreSQL JIT-compile the statement (20 of 83 ms for a z10 tile at
            # 10⁶; the product's connections run without JIT).
            conn.execute("SET max_parallel_workers_per_gather = 0")
            conn.execute("SET jit = off")
            # the tiles around the outfall nearest the centre of Xi'an: at z14 the centre itself may hold none
            near = conn.execute(
                "SELECT ST_X(geom), ST_Y(geom) FROM outfalls ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4490) "
                "LIMIT 1", XIAN).fetchone()  # fmt: skip
            centre: tuple[float, float] = (near[0], near[1]) if near else XIAN
            for z in ZOOMS:
                cx, cy = tile_of(centre[0], centre[1], z)
                # z10: the 3 × 3 tiles around it; z6 and z14: its own tile (neighbours at z14 mostly hold nothing)
                tiles = [(cx + dx, cy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)] if 6 < z < 14 else [(cx, cy)]
                times: dict[str, list[float]] = {"asof": [], "now": [], "http": [], "miss": [], "raw": [],
                                                 "raw_asof": []}  # fmt: skip
                hits = cache.hits
                sizes: list[int] = []
                raw_sizes: list[int] = []
                as_of_sizes: list[int] = []
                turn = 0
                for _round in range(max(2, repeats // len(tiles))):
                    for x, y in tiles:
                        # the dashboard's tile (states as of a day, from the milestones), the current states, the
                        # same over HTTP with and without the cache, and both by hand; each tile is read once
                        # untimed first, then the six in turn, which goes first rotating, so that neither side pays
                        # for a tile's first read
                        path = f"/tiles/outfalls/{z}/{x}/{y}.mvt?as_of={day}"
                        params = {"z": z, "x": x, "y": y}
                        dated = {**params, "day": day}
                        calls: list[tuple[str, Any]] = [
                            ("asof", lambda x=x, y=y, z=z: outfall_tile(session, z, x, y, scope=national, as_of=day)),
                            ("now", lambda x=x, y=y, z=z: outfall_tile(session, z, x, y, scope=national)),
                            ("http", lambda path=path: client.get(path)),
                            ("miss", lambda path=path: cold.get(path)),
                            ("raw", lambda params=params: conn.execute(RAW_TILE_SQL, params).fetchone()),
                            ("raw_asof", lambda p=dated: conn.execute(RAW_TILE_AS_OF_SQL, p).fetchone()),
                        ]
                        conn.execute(RAW_TILE_AS_OF_SQL, dated).fetchone()
                        client.get(path)  # the cache's first read, like the raw side's, is not timed
                        turn += 1
                        got: dict[str, Any] = {}
                        for name, call in calls[turn % len(calls) :] + calls[: turn % len(calls)]:
                            t, got[name] = timed(call)
                            times[name].append(t)
                        assert got["http"].status_code == 200, got["http"].status_code
                        assert got["miss"].data == got["http"].data
                        sizes.append(len(got["asof"]))
                        raw_sizes.append(len(got["raw"][0] or b""))
                        if z >= CLUSTER_BELOW_ZOOM:  # points on both sides: the same features
                            as_of_sizes.append(len(got["raw_asof"][0] or b""))
                session.rollback()
                raw, raw_as_of = statistics.median(times["raw"]), statistics.median(times["raw_asof"])
                common = {
                    "tiles": len(tiles),
                    "requests": len(times["raw"]),
                    "bytes": int(statistics.median(sizes)),
                    "baseline_bytes": int(statistics.median(as_of_sizes)) if as_of_sizes else None,
                    "baseline_p95_seconds": round(p95(times["raw_asof"]), 6),
                }
                current = {
                    "current_state_seconds": round(statistics.median(times["now"]), 6),
                    "current_state_baseline_seconds": round(raw, 6),
                    "current_state_ratio": round(statistics.median(times["now"]) / raw, 3),
                    "current_state_baseline_bytes": int(statistics.median(raw_sizes)),
                }
                results.append(
                    Result(
                        f"tile z{z}",
                        statistics.median(times["asof"]),
                        AS_OF_BASELINE,
                        raw_as_of,
                        {"p95_seconds": round(p95(times["asof"]), 6), **current, **common},
                    )
                )
                results.append(
                    Result(
                        f"tile z{z} over HTTP",
                        statistics.median(times["http"]),
                        AS_OF_BASELINE,
                        raw_as_of,
                        {"p95_seconds": round(p95(times["http"]), 6), "cache_hits": cache.hits - hits, **common},
                    )
                )
                results.append(
                    Result(
                        f"tile z{z} over HTTP, cache miss",
                        statistics.median(times["miss"]),
                        AS_OF_BASELINE,
                        raw_as_of,
                        {"p95_seconds": round(p95(times["miss"]), 6), **common},
                    )
                )
                say(
                    f"tile z{z} as of {day}: p50 {results[-3].seconds * 1000:.1f} ms "
                    f"(HTTP {results[-2].seconds * 1000:.2f} ms from the cache, "
                    f"{results[-1].seconds * 1000:.1f} ms made), p95 {p95(times['asof']) * 1000:.1f} ms vs by hand "
                    f"{raw_as_of * 1000:.1f} ms (p95 {p95(times['raw_asof']) * 1000:.1f} ms); {common['bytes']:,} vs "
                    f"{common['baseline_bytes'] or 0:,} bytes; current state "
                    f"{current['current_state_seconds'] * 1000:.1f} vs raw {raw * 1000:.1f} ms "
                    f"({current['current_state_ratio']:.2f})"
                )
    finally:
        engine.dispose()
    return results


# -- first paint ---------------------------------------------------------------------------------------------
FCP_JS = "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null"


def bench_first_paint(app: Any, repeats: int, login: str) -> list[Result]:
    from playwright.sync_api import sync_playwright
    from waitress import create_server, wasyncore

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.effective_port}"
    results = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
            page = context.new_page()
            page.goto(f"{base}/login?next=/account")
            page.fill("input[name=login]", login)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#current-user")
            fcp: list[float] = []
            ready: list[float] = []
            map_fcp: list[float] = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                page.goto(f"{base}/dashboard")
                page.wait_for_selector("#dash-map[data-state=ready]", state="attached", timeout=300_000)
                page.wait_for_selector("#dash-map[data-tiles-state=loaded]", state="attached", timeout=300_000)
                ready.append(time.perf_counter() - t0)
                fcp.append(page.evaluate(FCP_JS) / 1000)
                page.goto(f"{base}/")
                page.wait_for_function(FCP_JS, timeout=300_000)
                map_fcp.append(page.evaluate(FCP_JS) / 1000)
            browser.close()
        results.append(
            Result(
                "dashboard first paint",
                statistics.median(fcp),
                "catalogue map page first paint",
                statistics.median(map_fcp),
                {"ready_seconds": round(statistics.median(ready), 3), "repeats": repeats},
            )
        )
        say(
            f"dashboard first paint {results[0].seconds * 1000:.0f} ms "
            f"(map page {results[0].baseline_seconds * 1000:.0f} ms); "
            f"ready with tiles {statistics.median(ready) * 1000:.0f} ms"
        )
    finally:
        server.task_dispatcher.shutdown()
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)
    return results


# -- main ------------------------------------------------------------------------------------------------------
def print_table(n: int, m: int, results: list[Result]) -> None:
    print(f"progress benchmark: {n:,} outfalls, {m:,} events")
    print(f"{'result':<48} {'ours':>10} {'baseline':>10} {'ratio':>7}  baseline / notes")
    for r in results:
        notes = ", ".join(f"{k}={v}" for k, v in r.extra.items())
        print(
            f"{r.name:<48} {r.seconds * 1000:>8.1f}ms {r.baseline_seconds * 1000:>8.1f}ms {r.ratio:>7.2f}  "
            f"{r.baseline}; {notes}"
        )


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("waitress").setLevel(logging.ERROR)  # its queue-depth warnings are noise here
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--outfalls", type=int, default=100_000, help="outfalls to generate (default 100000)")
    parser.add_argument("--events", type=int, default=None, help="events in all (default 10 per outfall)")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per figure (default 15)")
    parser.add_argument("--slow-repeats", type=int, default=3, help="calls of the events baseline (default 3)")
    parser.add_argument("--paint-repeats", type=int, default=3, help="dashboard loads (default 3)")
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--keep", action="store_true", help="leave the cluster running and print its URL")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--reuse", type=Path, metavar="DIR",
        help="the catalogue kept in DIR (the one bench/dashboard.py --reuse keeps; built there the first time)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    n, m = args.outfalls, args.events if args.events is not None else args.outfalls * 10
    if n < 1 or m < n:
        parser.error("--outfalls must be at least 1 and --events at least --outfalls")
    if args.reuse is not None:
        from dashboard import build, cluster_at  # the same generated catalogue, kept between runs

        cluster: Any = cluster_at(args.reuse)
    else:
        cluster = throwaway_cluster(keep=args.keep)
    with cluster as (url, root):
        if args.reuse is not None:
            stats = build(url, root, n, m, args.seed)  # it holds the painter's login too
        else:
            stats = generate(url, n, m, args.seed)
            say(f"generated: {stats}")
            leader(url, "bench_painter", PASSWORD)
        results = bench_progress(url, args.repeats, args.slow_repeats)
        app = make_app(url, root / "data")
        cookie = leader(url, f"bench_leader_{time.time_ns()}")  # a kept catalogue holds earlier runs' leaders
        results += bench_tiles(app, make_app(url, root / "data", **{"progress.tile_cache_mb": 0}), url, cookie,
                               args.repeats)  # fmt: skip
        results += bench_first_paint(app, args.paint_repeats, "bench_painter")
        app.extensions["outfalls.sessions"].kw["bind"].dispose()
    if args.json:
        print(
            json.dumps(
                {
                    "bench": "progress",
                    "size": n,
                    "results": [r.as_dict() for r in results],
                    "events": stats["events"],
                    "generation": stats,
                },
                ensure_ascii=False,
            )
        )
    else:
        print_table(n, stats["events"], results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
