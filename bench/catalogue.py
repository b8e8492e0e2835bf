"""Catalogue benchmark: bulk creation of outfalls and the latency of the list and map APIs, against raw PostGIS.

Run ``.venv/bin/python bench/catalogue.py --outfalls 100000 [--json] [--keep]``.

A throwaway PostGIS cluster is started with the product's own :class:`outfalls.db.cluster.Cluster` (fsync off),
migrated with Alembic and loaded with the reference data. Then N realistic outfalls are generated (points on
the banks of the real Shaanxi rivers of the reference data, and some scattered over the province for the
small streams and drains the 1:4M river layer lacks; HJ 1312 types, discovery level and date, names and a
lifecycle history of about 3.6 events each besides ``created``) and measured:

``create_outfalls``
    The project's insert path, ``outfalls.catalogue.lifecycle.create_outfalls`` in one transaction (commit included):
    outfall rows, their ``created`` and history events, and the spatial derivation of basin, sub-basin,
    administrative area and river. Baseline: the same outfall and event rows (every column, including the
    derived ids, ids and timestamps) loaded with ``COPY ... FROM STDIN`` (psycopg 3, text format) into twin
    tables made with ``CREATE TABLE ... (LIKE ... INCLUDING ALL)`` plus the same foreign keys. A bulk statement
    leaves the counts per area and day to the backlog (``outfalls.progress.backlog``), folded after the commit:
``fold the count backlog``
    That fold, timed from the commit to the last batch. Baseline: ``COPY`` of the count rows it leaves
    (``area_state_days``, ``area_milestone_days``, its months and years) into twins.
``create_outfalls, every row``
    Both, against ``COPY`` of every row they leave (outfalls, events, milestones and counts).
``spatial derivation``
    The part of ``create_outfalls`` spent deriving locations (timed per statement, against the
    subdivided ``area_parts``). Baseline: one plain PostGIS UPDATE of the twin table deriving the same four
    columns with ``ST_Intersects`` against the whole (not subdivided) basin and area polygons.
``list ...``
    ``GET /api/outfalls`` through Flask's test client, logged in with a session cookie as a national read-only
    user (first page, a basin-filtered page, the middle page) and as a user scoped to Xi'an (first page).
    Baseline: the same count and page query (same joins, ``ORDER BY id DESC LIMIT/OFFSET``) sent with psycopg.
``map ...``
    ``GET /api/map/outfalls`` for a bbox around Xi'an (the densest area) and for the whole province (truncated
    at ``map.max_features``). Baseline: ``SELECT json_agg(...)`` over the same rows (``geom && ST_MakeEnvelope``,
    ``ORDER BY id LIMIT``), fetched as text; the same query with the product's ``ST_Intersects`` predicate is
    timed too (``intersects_seconds``).

Latencies are medians (and p95) over repeated requests after a warm-up, ours and the baseline alternating,
measured after ``VACUUM ANALYZE``; the baseline's statements are planned for their actual values each time
(no prepared statements).
Every ratio is our seconds divided by the baseline's seconds: lower is better, 1.0 means no overhead.
Progress goes to stderr; a table (or, with ``--json``, one JSON object) goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import shapely
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from numpy.typing import NDArray
from sqlalchemy import event
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls
from outfalls.config import PROJECT_DIR, Settings, load_settings
from outfalls.db.cluster import Cluster, find_bin_dir
from outfalls.db.engine import make_engine, migrate
from outfalls.demo import FOUND_BY_SHARES, INDUSTRIES, REMEDIATION_SHARES, TYPE_SHARES
from outfalls.progress import backlog
from outfalls.reference import load_reference
from outfalls.types import CodeProvenance, EventKind, SurveyLevel

ACTOR = "bench"
DB_NAME = "bench"
PROVINCE_CODE = "610000"
RIVER_SHARE = 0.75  # the rest is scattered over the province (streams and drains missing from the 1:4M layer)
XIAN_BBOX = (108.5, 34.0, 109.5, 34.6)
FILTER_BASIN = "HH-08"  # 渭河流域, the Wei river basin
SCOPED_AREA = "610100"  # 西安市: a user who sees one city
FIRST_DAY = np.datetime64("2020-05-01")
LAST_DAY = np.datetime64("2026-06-30")  # no history after this day
REPEATS = 30
WARMUP = 3


# -- progress and results ---------------------------------------------------------------------------------
class Progress:
    """A one-line progress display on stderr (a new line every few seconds when stderr is not a terminal)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.started = time.perf_counter()
        self._last = 0.0

    def say(self, message: str) -> None:
        """Print a stage line."""
        self._clear()
        print(f"[{time.perf_counter() - self.started:7.1f}s] {message}", file=sys.stderr, flush=True)

    def counter(self, label: str, total: int) -> Callable[[int], None]:
        """A callback adding to a ``done/total`` counter."""
        done = 0
        t0 = time.perf_counter()

        def step(n: int) -> None:
            nonlocal done
            done += n
            now = time.perf_counter()
            if done < total and now - self._last < (0.5 if self.tty else 10.0):
                return
            self._last = now
            rate = done / max(now - t0, 1e-9)
            line = f"  {label}: {done:,}/{total:,} ({100 * done / max(total, 1):.0f} %, {rate:,.0f}/s)"
            if self.tty:
                print("\r" + line, end="\n" if done >= total else "", file=sys.stderr, flush=True)
            else:
                print(line, file=sys.stderr, flush=True)

        return step

    def _clear(self) -> None:
        if self.tty:
            print("\r\033[K", end="", file=sys.stderr)


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
        return self.seconds / self.baseline_seconds if self.baseline_seconds > 0 else float("inf")

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


# -- the throwaway cluster ---------------------------------------------------------------------------------
@contextmanager
def throwaway_cluster(progress: Progress, *, keep: bool) -> Iterator[tuple[Cluster, str, Path]]:
    """A started cluster with a migrated database holding the reference data; removed at the end unless kept."""
    root = Path(tempfile.mkdtemp(prefix="ofb", dir="/tmp"))
    root.chmod(0o755)  # the server runs as the unprivileged postgres user when this runs as root
    cluster = Cluster(root / "pg", fsync=False)
    try:
        progress.say(f"starting a throwaway PostGIS cluster in {cluster.root}")
        cluster.start()
        url = cluster.create_database(DB_NAME, extensions=("postgis",))
        progress.say("migrating (alembic) and loading reference data")
        migrate(url)
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                load_reference(session)
                session.commit()
        finally:
            engine.dispose()
        yield cluster, url, root
    finally:
        if keep:
            progress.say(f"kept: {url}  (stop with: pg_ctl stop -D {cluster.pgdata}; then rm -rf {root})")
        else:
            cluster.remove()
            shutil.rmtree(root, ignore_errors=True)
            progress.say("cluster removed")


def libpq_url(url: str) -> str:
    """The psycopg (libpq) form of a SQLAlchemy URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# -- generation --------------------------------------------------------------------------------------------
def _shares(shares: dict[Any, float]) -> tuple[list[Any], NDArray[np.float64]]:
    keys = list(shares)
    p = np.array([shares[k] for k in keys], dtype=float)
    return keys, p / p.sum()


def _bank_points(
    rng: np.random.Generator, lines: NDArray[np.object_], n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp], NDArray[np.bool_]]:
    """``n`` points 15–120 m off a random bank of the lines, uniformly along their length."""
    lengths = shapely.length(lines)
    k = rng.choice(len(lines), size=n, p=lengths / lengths.sum())
    d = rng.uniform(0, 1, n) * lengths[k]
    step = np.where(d + 1e-4 <= lengths[k], 1e-4, -1e-4)
    p = shapely.get_coordinates(shapely.line_interpolate_point(lines[k], d))
    q = shapely.get_coordinates(shapely.line_interpolate_point(lines[k], d + step))
    coslat = np.cos(np.radians(p[:, 1]))
    dx, dy = (q[:, 0] - p[:, 0]) * np.sign(step), (q[:, 1] - p[:, 1]) * np.sign(step)
    norm = np.hypot(dx * coslat, dy)
    norm[norm == 0] = 1.0
    left = rng.random(n) < 0.5
    side = np.where(left, 1.0, -1.0)
    offset_m = rng.uniform(15, 120, n)
    nx, ny = -dy / norm * side, dx * coslat / norm * side
    lon = p[:, 0] + nx * offset_m / (111_320 * coslat)
    lat = p[:, 1] + ny * offset_m / 110_540
    return lon, lat, k, left


def _points(
    rng: np.random.Generator, n: int, province: shapely.Geometry, lines: NDArray[np.object_]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp], NDArray[np.bool_]]:
    """Points inside the province: a share on river banks (line index, bank side), the rest scattered (-1)."""
    shapely.prepare(province)
    n_river = round(n * RIVER_SHARE)
    lon, lat = np.empty(0), np.empty(0)
    line_of, left = np.empty(0, dtype=np.intp), np.empty(0, dtype=bool)
    while len(lon) < n_river:  # the Yellow River is the border with Shanxi: keep the Shaanxi bank only
        x, y, k, s = _bank_points(rng, lines, int((n_river - len(lon)) * 1.2) + 16)
        inside = shapely.contains_xy(province, x, y)
        lon, lat = np.r_[lon, x[inside]], np.r_[lat, y[inside]]
        line_of, left = np.r_[line_of, k[inside]], np.r_[left, s[inside]]
    lon, lat, line_of, left = lon[:n_river], lat[:n_river], line_of[:n_river], left[:n_river]
    x0, y0, x1, y1 = shapely.bounds(province)
    while len(lon) < n:
        m = int((n - len(lon)) * 2.5) + 16
        x, y = rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)
        inside = shapely.contains_xy(province, x, y)
        take = min(int(inside.sum()), n - len(lon))
        lon, lat = np.r_[lon, x[inside][:take]], np.r_[lat, y[inside][:take]]
        line_of, left = np.r_[line_of, np.full(take, -1)], np.r_[left, np.zeros(take, dtype=bool)]
    order = rng.permutation(n)  # ids are not grouped by river
    return lon[order], lat[order], line_of[order], left[order]


def _per_group_seq(groups: NDArray[np.intp]) -> NDArray[np.int64]:
    """1, 2, 3 ... within each group, in array order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    first = np.zeros(len(groups), dtype=np.int64)
    first[starts] = starts
    first = np.maximum.accumulate(first)
    seq = np.empty(len(groups), dtype=np.int64)
    seq[order] = np.arange(len(groups)) - first + 1
    return seq


def _days(rng: np.random.Generator, start: NDArray[Any], lo: int, hi: int) -> NDArray[Any]:
    days: NDArray[Any] = start + rng.integers(lo, hi, len(start)).astype("timedelta64[D]")
    return days


def generate(session: Session, n: int, seed: int) -> list[NewOutfall]:
    """N outfalls along the real Shaanxi rivers with realistic types, discovery and lifecycle histories."""
    rng = np.random.default_rng(seed)
    province = shapely.from_wkb(
        session.scalar(sa.text("SELECT ST_AsBinary(geom) FROM admin_areas WHERE code = :c"), {"c": PROVINCE_CODE})
    )
    river_rows = session.execute(
        sa.text(
            "SELECT split_part(r.name, '(', 1), ST_AsBinary(d.geom) FROM rivers r "
            "JOIN admin_areas p ON p.code = :c AND ST_Intersects(r.geom, p.geom) "
            "CROSS JOIN LATERAL ST_Dump(ST_Intersection(r.geom, p.geom)) d "
            "WHERE GeometryType(d.geom) = 'LINESTRING' ORDER BY r.code"
        ),
        {"c": PROVINCE_CODE},
    ).all()
    lines = shapely.from_wkb(np.array([bytes(r[1]) for r in river_rows], dtype=object))
    keep = shapely.length(lines) > 0
    lines, river_names = lines[keep], [r[0] for r, k in zip(river_rows, keep, strict=True) if k]
    counties = session.execute(
        sa.text("SELECT code, name, ST_AsBinary(geom) FROM admin_areas WHERE level = 'county' ORDER BY code")
    ).all()
    labels = {
        r[0]: r[1] for r in session.execute(sa.text("SELECT code, label_zh FROM code_lists WHERE scheme = 'HJ1312'"))
    }
    if not lines.size or not counties or not labels:
        raise SystemExit("reference data is missing rivers, counties or HJ 1312 types")

    lon, lat, line_of, left = _points(rng, n, province, lines)
    county_geoms = shapely.from_wkb(np.array([bytes(c[2]) for c in counties], dtype=object))
    tree = shapely.STRtree(county_geoms)
    pt_idx, geom_idx = tree.query(shapely.points(lon, lat), predicate="intersects")
    county_of = np.full(n, len(counties), dtype=np.intp)  # len(counties) = outside every county polygon
    county_of[pt_idx[::-1]] = geom_idx[::-1]  # the first match wins
    county_codes = [c[0] for c in counties] + [PROVINCE_CODE]
    county_names = [c[1] for c in counties] + ["陕西省"]
    seq = _per_group_seq(county_of)

    type_keys, type_p = _shares(TYPE_SHARES)
    types = rng.choice(len(type_keys), size=n, p=type_p)
    level_keys, level_p = _shares(FOUND_BY_SHARES)
    found_by = rng.choice(len(level_keys), size=n, p=level_p)
    drone = np.array([level_keys[i] is SurveyLevel.DRONE for i in range(len(level_keys))])[found_by]
    found_on = FIRST_DAY + np.where(drone, rng.integers(0, 1150, n), rng.integers(0, 1300, n)).astype("timedelta64[D]")

    # The lifecycle, one stage after the other (the dates only move forward), as in outfalls.demo.
    u = rng.random((8, n))
    has_history = ~(drone & (u[0] < 0.02))  # a few drone candidates still wait for a crew
    surveyed_on = _days(rng, found_on, 7, 120)
    surveyed = drone & has_history & (surveyed_on <= LAST_DAY)
    day = np.where(surveyed, surveyed_on, found_on)
    active = has_history & (~drone | surveyed)
    sampled_on = _days(rng, day, 1, 60)
    sampled = active & (u[1] < 0.45) & (sampled_on <= LAST_DAY)
    day = np.where(sampled, sampled_on, day)
    traced_on = _days(rng, day, 10, 700)
    traced = active & (u[2] < 0.85) & (traced_on <= LAST_DAY)
    day = np.where(traced, traced_on, day)
    planned_on = _days(rng, day, 5, 60)
    planned = traced & (u[3] < 0.92) & (planned_on <= LAST_DAY)
    day = np.where(planned, planned_on, day)
    remediated_on = _days(rng, day, 30, 500)
    remediated = planned & (u[4] < 0.65) & (remediated_on <= LAST_DAY)
    day = np.where(remediated, remediated_on, day)
    closed_on = _days(rng, day, 20, 200)
    closed = remediated & (u[5] < 0.6) & (closed_on <= LAST_DAY)
    government = u[6] < 0.12
    industry = rng.integers(0, len(INDUSTRIES), n)
    party_no = rng.integers(1, 1000, n)
    category_keys, category_p = _shares(REMEDIATION_SHARES)
    category = rng.choice(len(category_keys), size=n, p=category_p)
    discharging = u[7] >= 0.3
    has_local = rng.random(n) < 0.7
    sign = rng.random(n) < 0.25
    has_national = rng.random(n) < 0.4

    def dates(a: NDArray[Any]) -> list[date]:
        return a.astype("datetime64[D]").astype(object).tolist()  # type: ignore[no-any-return]

    f_on, s_on, sa_on, t_on, p_on, r_on, c_on = map(
        dates, (found_on, surveyed_on, sampled_on, traced_on, planned_on, remediated_on, closed_on)
    )
    levels = [level_keys[i] for i in found_by.tolist()]
    categories = [category_keys[i].value for i in category.tolist()]
    flags = [a.tolist() for a in (surveyed, sampled, traced, planned, remediated, closed, government, discharging)]
    surveyed_l, sampled_l, traced_l, planned_l, remediated_l, closed_l, government_l, discharging_l = flags
    on_river = (line_of >= 0).tolist()
    line_l, left_l, county_l, seq_l = line_of.tolist(), left.tolist(), county_of.tolist(), seq.tolist()
    local_l, sign_l, national_l = has_local.tolist(), sign.tolist(), has_national.tolist()
    type_l = [type_keys[i] for i in types.tolist()]
    lon_l, lat_l = lon.tolist(), lat.tolist()
    industries = [s[:4] for s in INDUSTRIES]
    industry_l, party_l = industry.tolist(), party_no.tolist()

    items: list[NewOutfall] = []
    for i in range(n):
        cc, cname = county_codes[county_l[i]], county_names[county_l[i]]
        code = type_l[i]
        label = labels[code] if code != "9" else "排口"
        if on_river[i]:
            river = river_names[line_l[i]]
            name = f"{cname}{river}{'左' if left_l[i] else '右'}岸{seq_l[i]}#{label}"
        else:
            river = None
            name = f"{cname}{seq_l[i]}#{label}"
        history: list[HistoryItem] = []
        if surveyed_l[i]:
            history.append(HistoryItem(EventKind.SURVEYED, s_on[i], {"by": "foot"}))
        if sampled_l[i]:
            history.append(HistoryItem(EventKind.SAMPLED, sa_on[i], {"is_discharging": discharging_l[i]}))
        if traced_l[i]:
            gov = government_l[i]
            party = f"{cname}人民政府（政府兜底）" if gov else f"示例{industries[industry_l[i]]}企业{party_l[i]:03d}号"
            history.append(
                HistoryItem(EventKind.TRACED, t_on[i], {"responsible_party": party, "government_default": gov})
            )
        if planned_l[i]:
            history.append(HistoryItem(EventKind.REMEDIATION_PLANNED, p_on[i], {"category": categories[i]}))
        if remediated_l[i]:
            history.append(HistoryItem(EventKind.REMEDIATED, r_on[i], {"category": categories[i]}))
        if closed_l[i]:
            history.append(HistoryItem(EventKind.CLOSED, c_on[i], {}))
        local = local_l[i]
        items.append(
            NewOutfall(
                lonlat=(lon_l[i], lat_l[i]),
                name=name,
                type_code=code,
                type_raw=labels[code],
                found_by=levels[i],
                found_on=f_on[i],
                name_provenance=CodeProvenance.SIGN if sign_l[i] else CodeProvenance.KNOWN,
                local_code=f"{cc}-{seq_l[i]:05d}" if local else None,
                local_code_provenance=(
                    (CodeProvenance.SIGN if sign_l[i] else CodeProvenance.KNOWN) if local else CodeProvenance.UNKNOWN
                ),
                national_code=f"BENCH{cc}{i + 1:07d}" if national_l[i] else None,
                national_code_provenance=CodeProvenance.KNOWN if national_l[i] else CodeProvenance.UNKNOWN,
                receiving_water=river,
                is_demo=True,  # generated data, never real
                history=tuple(history),
            )
        )
    return items


# -- statement timing --------------------------------------------------------------------------------------
class StatementTimer:
    """Seconds spent in SQLAlchemy cursor executes, by kind (outfall and event inserts, location update ...).

    Work the product does on the raw DBAPI connection (``COPY``) is not seen here and counts as "other".
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._starts: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    @staticmethod
    def kind(statement: str) -> str:
        """The part of ``create_outfalls`` a statement belongs to."""
        head = " ".join(statement.split()[:5]).upper()
        if head.startswith("INSERT INTO OUTFALLS"):
            return "insert_outfalls"
        if head.startswith("INSERT INTO EVENTS"):
            return "insert_events"
        if head.startswith("UPDATE OUTFALLS") or "OUTFALL_LOCATIONS" in head:
            return "derive_locations"
        if "NEXTVAL" in head:
            return "next_ids"
        return "other"

    def _before(self, *_args: Any) -> None:
        self._starts.append(time.perf_counter())

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        elapsed = time.perf_counter() - self._starts.pop()
        kind = self.kind(statement)
        self.seconds[kind] = self.seconds.get(kind, 0.0) + elapsed
        self.calls[kind] = self.calls.get(kind, 0) + 1


# -- bulk load: ours and COPY ------------------------------------------------------------------------------
TWIN_SQL = """
CREATE TABLE twin_outfalls (LIKE outfalls INCLUDING ALL);
ALTER TABLE twin_outfalls
  ADD FOREIGN KEY (basin_id) REFERENCES basins (id),
  ADD FOREIGN KEY (sub_basin_id) REFERENCES basins (id),
  ADD FOREIGN KEY (river_id) REFERENCES rivers (id),
  ADD FOREIGN KEY (admin_area_id) REFERENCES admin_areas (id),
  ADD FOREIGN KEY (merged_into_id) REFERENCES twin_outfalls (id),
  ADD FOREIGN KEY (type_scheme, type_code) REFERENCES code_lists (scheme, code);
CREATE TABLE twin_events (LIKE events INCLUDING ALL);
ALTER TABLE twin_events ADD FOREIGN KEY (outfall_id) REFERENCES twin_outfalls (id);
"""
# What create_outfalls leaves besides its outfall and event rows: the milestones its events' trigger keeps and the
# counts per area and day (month, year) their triggers keep. COPY of these rows too is the least any code could do
# to store the same state: the second baseline.
DERIVED_TABLES = ("outfall_milestones", "area_state_days", "area_milestone_days", "area_milestone_months",
                  "area_milestone_years")  # fmt: skip


def copy_rows(conn: psycopg.Connection[Any], tables: Sequence[tuple[str, Sequence[str], list[Any]]], label: str,
              progress: Progress) -> float:  # fmt: skip
    """After a checkpoint, COPY (text, ``write_row``) each table's rows into it and commit: (table, columns,
    rows) in turn. Returns the seconds of the COPYs and the commit.
    """
    conn.commit()
    conn.autocommit = True
    conn.execute("CHECKPOINT")
    conn.autocommit = False
    step = progress.counter(label, sum(len(rows) for _, _, rows in tables))
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        for table, cols, rows in tables:
            names = ", ".join(f'"{c}"' for c in cols)
            with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for start in range(0, len(rows), 100_000):
                    for row in rows[start : start + 100_000]:
                        copy.write_row(row)
                    step(len(rows[start : start + 100_000]))
    conn.commit()
    return time.perf_counter() - t0


def copy_every_row(
    conn: psycopg.Connection[Any], tables: Sequence[str], progress: Progress
) -> tuple[float, dict[str, int]]:
    """COPY (text) every row of ``tables`` into twins made with ``CREATE TABLE ... (LIKE ... INCLUDING ALL)`` (the
    same indexes and constraints, no foreign keys, no triggers): the least any code could spend storing the same
    rows. Returns the seconds of the COPYs (the twins made and the rows fetched before) and the rows by table.
    """
    fetched: list[tuple[str, Sequence[str], list[Any]]] = []
    for table in tables:
        cols = _columns(conn, table)
        conn.execute(f"CREATE TABLE twin_{table} (LIKE {table} INCLUDING ALL)")
        # as text: the counts' current row is dated 'infinity', which Python's dates cannot hold
        text = ", ".join(f'"{c}"::text' for c in cols)
        rows = conn.execute(f'SELECT {text} FROM {table} ORDER BY "{cols[0]}"').fetchall()
        fetched.append((f"twin_{table}", cols, rows))
    seconds = copy_rows(conn, fetched, "COPY every row", progress)
    return seconds, {table.removeprefix("twin_"): len(rows) for table, _, rows in fetched}


# The plain PostGIS way to derive the same four columns: whole polygons, no subdivision.
PLAIN_DERIVE_SQL = """
UPDATE twin_outfalls o SET
  sub_basin_id = (SELECT b.id FROM basins b WHERE b.level = 'sub_basin' AND ST_Intersects(b.geom, o.geom)
                  ORDER BY b.id LIMIT 1),
  basin_id = (SELECT b.id FROM basins b WHERE b.level = 'basin' AND ST_Intersects(b.geom, o.geom)
              ORDER BY b.id LIMIT 1),
  admin_area_id = (SELECT a.id FROM admin_areas a WHERE a.geom IS NOT NULL AND ST_Intersects(a.geom, o.geom)
                   ORDER BY CASE a.level WHEN 'village' THEN 0 WHEN 'town' THEN 1 WHEN 'county' THEN 2
                            WHEN 'city' THEN 3 ELSE 4 END LIMIT 1),
  river_id = (SELECT r.id FROM rivers r WHERE ST_DWithin(r.geom, o.geom, 0.05) ORDER BY r.geom <-> o.geom LIMIT 1)
WHERE o.id <= %(last_id)s
"""
# The plain UPDATE is slow (whole polygons of up to 18,000 vertices): it runs on the first rows only and its
# time is scaled to N, which is fair because the work per row does not depend on N.
PLAIN_DERIVE_SAMPLE = 20_000


def _columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
        "ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def _plain_derivation(conn: psycopg.Connection[Any], n: int, progress: Progress) -> tuple[float, float, int, Any]:
    """The plain PostGIS derivation on the first rows of the twin table: (sample seconds, seconds scaled to N,
    sample rows, (rows agreeing with ours, rows without area, rows without river)).
    """
    progress.say("baseline: plain PostGIS UPDATE deriving the locations from the whole polygons")
    conn.autocommit = True
    conn.execute("CHECKPOINT")
    conn.autocommit = False
    first_ids = conn.execute("SELECT id FROM twin_outfalls ORDER BY id LIMIT %s", (PLAIN_DERIVE_SAMPLE,))
    sample_ids = [r[0] for r in first_ids]
    t0 = time.perf_counter()
    conn.execute(PLAIN_DERIVE_SQL, {"last_id": sample_ids[-1]})
    conn.commit()
    sample_s = time.perf_counter() - t0
    plain_s = sample_s * n / len(sample_ids)
    agree = conn.execute(
        "SELECT count(*) FILTER (WHERE o.basin_id IS NOT DISTINCT FROM t.basin_id "
        "AND o.sub_basin_id IS NOT DISTINCT FROM t.sub_basin_id "
        "AND o.admin_area_id IS NOT DISTINCT FROM t.admin_area_id "
        "AND o.river_id IS NOT DISTINCT FROM t.river_id), "
        "count(*) FILTER (WHERE o.admin_area_id IS NULL), count(*) FILTER (WHERE o.river_id IS NULL) "
        "FROM outfalls o JOIN twin_outfalls t USING (id) WHERE o.id <= %s",
        (sample_ids[-1],),
    ).fetchone()
    assert agree is not None
    conn.commit()
    progress.say(
        f"baseline: plain derivation of {len(sample_ids):,} rows in {sample_s:.1f} s "
        f"({plain_s:.1f} s scaled to {n:,}); {agree[0]:,} of {len(sample_ids):,} rows agree"
    )
    return sample_s, plain_s, len(sample_ids), agree


def bench_load(url: str, n: int, seed: int, progress: Progress, *, load_only: bool = False) -> list[Result]:
    """Create N outfalls through ``create_outfalls``, then COPY the same rows into twin tables (and, unless
    ``load_only``, derive their locations the plain PostGIS way).
    """
    engine = make_engine(url)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(TWIN_SQL)
    try:
        with Session(engine) as session:
            progress.say(f"generating {n:,} outfalls along the Shaanxi rivers")
            t0 = time.perf_counter()
            items = generate(session, n, seed)
            generate_s = time.perf_counter() - t0
            history = sum(len(i.history) for i in items)
            progress.say(f"generated in {generate_s:.1f} s ({history / n:.2f} history events an outfall)")
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        timer = StatementTimer(engine)
        progress.say("ours: create_outfalls in one transaction")
        with Session(engine) as session:
            t0 = time.perf_counter()
            create_outfalls(session, items, actor=ACTOR, progress=progress.counter("create_outfalls", n))
            session.commit()
            ours_s = time.perf_counter() - t0
            event.remove(engine, "before_cursor_execute", timer._before)
            event.remove(engine, "after_cursor_execute", timer._after)
            waiting = backlog.waiting(session)
            session.rollback()
            progress.say(f"ours: folding the {waiting:,} milestone rows left in the counts' backlog")
            backlog.wait(engine)  # the fold the commit started in the background, if any
            backlog.fold(session)
            fold_s = time.perf_counter() - t0 - ours_s
        del items
    finally:
        engine.dispose()

    with psycopg.connect(libpq_url(url)) as conn:
        n_rows = conn.execute("SELECT count(*) FROM outfalls").fetchone()[0]  # type: ignore[index]
        n_events = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
        assert n_rows == n, f"{n_rows} outfalls written, {n} expected"
        progress.say(f"ours: {n_rows:,} outfalls and {n_events:,} events in {ours_s:.1f} s; fetching them for COPY")
        o_cols = _columns(conn, "outfalls")
        e_cols = _columns(conn, "events")
        o_select = ", ".join(f'"{c}"' for c in o_cols)
        e_select = ", ".join("payload::text" if c == "payload" else f'"{c}"' for c in e_cols)
        outfall_rows = conn.execute(f"SELECT {o_select} FROM outfalls ORDER BY id").fetchall()
        event_rows = conn.execute(f"SELECT {e_select} FROM events ORDER BY id").fetchall()
        progress.say("baseline: COPY the same outfall and event rows into twin tables")
        twins = [("twin_outfalls", o_cols, outfall_rows), ("twin_events", e_cols, event_rows)]
        copy_s = copy_rows(conn, twins, "COPY", progress)
        progress.say(f"baseline: COPY in {copy_s:.1f} s; then the milestone and count rows it left")
        del outfall_rows, event_rows, twins
        milestones_s, milestone_rows = copy_every_row(conn, DERIVED_TABLES[:1], progress)
        counts_s, count_rows = copy_every_row(conn, DERIVED_TABLES[1:], progress)
        derived_s, derived_rows = milestones_s + counts_s, milestone_rows | count_rows
        progress.say(f"baseline: COPY of {sum(derived_rows.values()):,} derived rows in {derived_s:.1f} s")

        derive_s = timer.seconds.get("derive_locations", 0.0)
        plain = None if load_only else _plain_derivation(conn, n, progress)

    parts = {k: round(v, 3) for k, v in sorted(timer.seconds.items())}
    sql_s = sum(timer.seconds.values())
    load = Result(
        "create_outfalls",
        ours_s,
        "COPY (text) of the same outfall + event rows into LIKE ... INCLUDING ALL twins with the same FKs",
        copy_s,
        {
            "rows": n,
            "events": n_events,
            "rows_per_s": round(n / ours_s),
            "events_per_s": round(n_events / ours_s),
            "baseline_rows_per_s": round(n / copy_s),
            "baseline_events_per_s": round(n_events / copy_s),
            "statement_seconds": parts,
            "statement_calls": dict(sorted(timer.calls.items())),
            "other_seconds": round(ours_s - sql_s, 3),
            "generate_seconds": round(generate_s, 3),
            "note": "ours also derives basin, sub-basin, area and river spatially (see 'spatial derivation'); the"
                    " counts per area and day follow in the fold after the commit (see 'fold the count backlog')",
        },
    )
    fold = Result(
        "fold the count backlog",
        fold_s,
        "COPY (text) of the count rows the fold leaves (area_state_days, area_milestone_days, area_milestone_months,"
        " area_milestone_years) into LIKE ... INCLUDING ALL twins (no foreign keys)",
        counts_s,
        {"backlog_rows": waiting, "count_rows": count_rows},
    )
    every = Result(
        "create_outfalls, every row",
        ours_s + fold_s,
        "COPY (text) of every row create_outfalls leaves: outfalls, events, outfall_milestones and the counts per"
        " area and day (area_state_days, area_milestone_days, area_milestone_months, area_milestone_years), into"
        " LIKE ... INCLUDING ALL twins (no foreign keys)",
        copy_s + derived_s,
        {"rows": n, "events": n_events, "derived_rows": derived_rows, "derived_copy_seconds": round(derived_s, 3),
         "create_seconds": round(ours_s, 3), "fold_seconds": round(fold_s, 3)},
    )
    if plain is None:
        return [load, fold, every]
    sample_s, plain_s, sample_rows, agree = plain
    derive = Result(
        "spatial derivation",
        derive_s,
        "plain UPDATE ... ST_Intersects against whole (not subdivided) basins and areas, ST_DWithin rivers"
        " (run on the first rows, scaled to N)",
        plain_s,
        {
            "rows": n,
            "rows_per_s": round(n / derive_s) if derive_s else None,
            "baseline_rows_per_s": round(n / plain_s),
            "baseline_sample_rows": sample_rows,
            "baseline_sample_seconds": round(sample_s, 3),
            "rows_agreeing": agree[0],
            "rows_without_area": agree[1],
            "rows_without_river": agree[2],
            "note": "ours: the location derivation statements inside create_outfalls (subdivided area_parts)",
        },
    )
    return [load, fold, every, derive]


# -- latencies ---------------------------------------------------------------------------------------------
def _timed_pair(ours: Callable[[], Any], raw: Callable[[], Any], repeats: int, warmup: int) -> tuple[list[float], ...]:
    """Alternate the two calls, so that load from elsewhere on the machine affects both alike."""
    for _ in range(warmup):
        ours()
        raw()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        for fn, out in ((ours, a), (raw, b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return a, b


def _p95(samples: list[float]) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def _statements(engine: sa.Engine, fn: Callable[[], Any]) -> int:
    """How many SQL statements one call sends through the engine."""
    count = 0

    def counter(*_args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", counter)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return count


def _latency(
    name: str, ours: Callable[[], Any], baseline: str, raw: Callable[[], Any], repeats: int, extra: dict[str, Any]
) -> Result:
    a, b = _timed_pair(ours, raw, repeats, WARMUP)
    return Result(
        name,
        statistics.median(a),
        baseline,
        statistics.median(b),
        {
            "p95_seconds": round(_p95(a), 6),
            "baseline_p95_seconds": round(_p95(b), 6),
            "repeats": repeats,
            **extra,
        },
    )


LIST_SQL = """
SELECT o.id, o.name, o.national_code, o.local_code, o.type_code, c.label_zh, c.label_en, o.status, o.status_since,
       tb.name, sb.name, r.name, a.code, a.name, o.found_by, o.found_on, ST_X(o.geom), ST_Y(o.geom), o.is_demo
FROM outfalls o
LEFT JOIN code_lists c ON c.scheme = o.type_scheme AND c.code = o.type_code
LEFT JOIN basins tb ON tb.id = o.basin_id
LEFT JOIN basins sb ON sb.id = o.sub_basin_id
LEFT JOIN rivers r ON r.id = o.river_id
LEFT JOIN admin_areas a ON a.id = o.admin_area_id
WHERE {where}
ORDER BY o.id DESC LIMIT %(limit)s OFFSET %(offset)s
"""

# {op} is geom && box (the baseline: for points the same rows as ST_Intersects, without the exact test) or the
# product's ST_Intersects(geom, box), reported beside it.
MAP_SQL = """
SELECT coalesce(json_agg(json_build_object(
         'type', 'Feature', 'id', s.id, 'geometry', ST_AsGeoJSON(s.geom, 6)::json,
         'properties', json_build_object('name', s.name, 'status', s.status, 'type', s.type_code, 'demo', s.is_demo)
       )), '[]'::json)::text, count(*)
FROM (SELECT id, name, status, type_code, is_demo, geom FROM outfalls
      WHERE {op} ORDER BY id LIMIT %(limit)s) s
"""
BOX = "ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4490)"
MAP_BASELINE_SQL = MAP_SQL.format(op=f"geom && {BOX}")
MAP_INTERSECTS_SQL = MAP_SQL.format(op=f"ST_Intersects(geom, {BOX})")
INTERSECTS_REPEATS = 5


def logged_in_client(app: Flask, url: str, login: str, **scope: Any) -> FlaskClient:
    """A test client with the session cookie of a new read-only (leader) user of the given scope."""
    from web.auth import SESSION_COOKIE

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            user = accounts.create_user(session, login, roles=("leader",), actor=ACTOR, **scope)
            cookie, _web_session = accounts.start_session(session, user)
            session.commit()
    finally:
        engine.dispose()
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, cookie)
    return client


def make_app(url: str, data_dir: Path) -> Flask:
    """The web application on the bench database (built before the long load, so the code measured is the
    code as it was when the run started).
    """
    from web import create_app

    settings = load_settings(env={}, overrides={"database.url": url, "storage.data_dir": str(data_dir)})
    return create_app(settings)


def bench_latency(app: Flask, url: str, n: int, repeats: int, progress: Progress) -> list[Result]:
    """Median and p95 of the list and map API calls against the same queries sent raw."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        progress.say("VACUUM ANALYZE (a loaded catalogue's steady state)")
        conn.execute("VACUUM ANALYZE outfalls")
        conn.execute("VACUUM ANALYZE events")
    settings: Settings = app.extensions["outfalls.settings"]
    client = logged_in_client(app, url, "bench-national", is_national=True)
    city_client = logged_in_client(app, url, "bench-xian", areas=(SCOPED_AREA,))
    app_engine: sa.Engine = app.extensions["outfalls.sessions"].kw["bind"]
    page_size = settings.list.page_size
    max_features = settings.map.max_features
    results: list[Result] = []

    # No server-side prepared statements for the baseline: a generic plan chosen after a few small bboxes
    # turns the whole-province query into a bitmap scan and sort of every row (3.4 s instead of 0.2 s at 1M).
    with psycopg.connect(libpq_url(url), autocommit=True, prepare_threshold=None) as conn:
        row = conn.execute("SELECT id FROM basins WHERE code = %s", (FILTER_BASIN,)).fetchone()
        assert row is not None
        basin_id = row[0]

        def api(path: str, who: FlaskClient = client) -> Callable[[], bytes]:
            def get() -> bytes:  # the body as sent; parsing it is the client's work, not the server's
                response = who.get(path)
                if response.status_code != 200:
                    raise SystemExit(f"GET {path} answered {response.status_code}: {response.get_data(True)[:300]}")
                return bytes(response.data)

            return get

        def raw_list(where: str, params: dict[str, Any], page: int) -> Callable[[], Any]:
            count_sql = f"SELECT count(*) FROM outfalls o WHERE {where}"
            page_sql = LIST_SQL.format(where=where)
            args = {**params, "limit": page_size, "offset": (page - 1) * page_size}

            def run() -> Any:
                total = conn.execute(count_sql, params).fetchone()
                rows = conn.execute(page_sql, args).fetchall()
                return total, rows

            return run

        deep = max(1, n // page_size // 2)
        basin_where = "(o.basin_id = %(b)s OR o.sub_basin_id = %(b)s)"
        scoped_where = "o.admin_area_id IN (SELECT id FROM admin_areas WHERE code LIKE %(prefix)s)"
        cases = [
            ("list page 1", "/api/outfalls?page=1&page_size=50", "TRUE", {}, 1, client),
            (f"list basin={FILTER_BASIN} page 3", f"/api/outfalls?basin={FILTER_BASIN}&page=3", basin_where,
             {"b": basin_id}, 3, client),
            (f"list page {deep} (offset {(deep - 1) * page_size:,})", f"/api/outfalls?page={deep}&page_size=50",
             "TRUE", {}, deep, client),
            ("list page 1, Xi'an-scoped user", "/api/outfalls?page=1&page_size=50", scoped_where,
             {"prefix": SCOPED_AREA[:4] + "%"}, 1, city_client),
        ]  # fmt: skip
        for name, path, where, params, page, who in cases:
            progress.say(f"latency: {name}")
            ours, raw = api(path, who), raw_list(where, params, page)
            body, (total, rows) = json.loads(ours()), raw()
            if [r[0] for r in rows] != [i["id"] for i in body["items"]] or total[0] != body["total"]:
                raise SystemExit(f"{path}: the API and the raw query disagree")
            results.append(
                _latency(
                    name, ours, "raw count(*) + page SELECT with the same joins via psycopg", raw, repeats,
                    {"path": path, "total": body["total"], "statements_per_request": _statements(app_engine, ours)},
                )
            )  # fmt: skip

        x0, y0, x1, y1 = settings.map.extent
        for name, bbox in (("map Xi'an bbox", XIAN_BBOX), ("map whole province", (x0, y0, x1, y1))):
            progress.say(f"latency: {name}")
            path = "/api/map/outfalls?bbox=" + ",".join(str(v) for v in bbox)
            params = dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True)) | {"limit": max_features + 1}

            def raw_map(params: dict[str, Any] = params, sql: str = MAP_BASELINE_SQL) -> Any:
                return conn.execute(sql, params).fetchone()

            body, (text, count) = json.loads(api(path)()), raw_map()
            if len(body["features"]) != min(count, max_features):
                raise SystemExit(f"{path}: the API and the raw query disagree")
            intersects = _timed_pair(lambda: None, lambda: raw_map(sql=MAP_INTERSECTS_SQL), INTERSECTS_REPEATS, 1)[1]
            results.append(
                _latency(
                    name, api(path),
                    "raw SELECT json_agg(...) WHERE geom && ST_MakeEnvelope(...) ORDER BY id LIMIT, as text",
                    raw_map, repeats,
                    {"path": path, "features": len(body["features"]), "truncated": body["truncated"],
                     "bytes": len(text), "statements_per_request": _statements(app_engine, api(path)),
                     "intersects_seconds": round(statistics.median(intersects), 6)},
                )
            )  # fmt: skip
    app_engine.dispose()
    return results


# -- output ------------------------------------------------------------------------------------------------
def _fmt_s(s: float) -> str:
    return f"{s:.1f}" if s >= 10 else f"{s:.3f}" if s >= 0.1 else f"{s * 1000:.1f} ms"


def print_table(n: int, results: list[Result]) -> None:
    print(f"catalogue bench: {n:,} outfalls, {os.cpu_count()} CPUs (ratio = ours / baseline, lower is better)")
    print(f"{'result':<34} {'ours':>10} {'baseline':>10} {'ratio':>7}  notes")
    for r in results:
        x = r.extra
        if "backlog_rows" in x:
            notes = f"{x['backlog_rows']:,} backlog rows into " + ", ".join(
                f"{v:,} {k}" for k, v in x["count_rows"].items()
            ) + " rows"
        elif "derived_rows" in x:
            notes = "COPY of the outfalls and events, and of " + ", ".join(
                f"{v:,} {k}" for k, v in x["derived_rows"].items()
            ) + f" rows ({_fmt_s(x['derived_copy_seconds'])} of it)"
        elif "events" in x:
            notes = (
                f"{x['rows_per_s']:,} outfalls/s + {x['events_per_s']:,} events/s "
                f"(COPY {x['baseline_rows_per_s']:,} + {x['baseline_events_per_s']:,}); {x['events']:,} events"
            )
        elif "rows_agreeing" in x:
            notes = (
                f"{x['rows_per_s']:,} rows/s vs {x['baseline_rows_per_s']:,} (on {x['baseline_sample_rows']:,} rows, "
                f"scaled); {x['rows_agreeing']:,} of them agree"
            )
        else:
            notes = (
                f"p95 {_fmt_s(x['p95_seconds'])} vs {_fmt_s(x['baseline_p95_seconds'])}; "
                f"{x['statements_per_request']} SQL statements"
            )
            if "features" in x:
                notes += f"; {x['features']:,} features{' (truncated)' if x['truncated'] else ''}"
                notes += f"; raw with ST_Intersects: {_fmt_s(x['intersects_seconds'])}"
            else:
                notes += f"; total {x['total']:,}"
        print(f"{r.name:<34} {_fmt_s(r.seconds):>10} {_fmt_s(r.baseline_seconds):>10} {r.ratio:>7.2f}  {notes}")
    load = next((r for r in results if "statement_seconds" in r.extra), None)
    if load is not None:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in load.extra["statement_seconds"].items())
        print(
            f"create_outfalls breakdown: {parts}; outside those statements (Python, raw COPY) "
            f"{load.extra['other_seconds']:.1f} s"
        )
        print(
            f"(generating the {load.extra['rows']:,} outfalls took {load.extra['generate_seconds']:.1f} s, not counted)"
        )


def _code_version() -> str:
    """The git commit of the code measured (``-dirty`` with uncommitted changes), for the record."""
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "(unknown commit)"
    return f"at {out.stdout.strip()}" if out.returncode == 0 else "(unknown commit)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--outfalls", type=int, default=100_000, metavar="N", help="outfalls to create (100000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--keep", action="store_true", help="keep the cluster (its URL is printed) instead of removing it"
    )
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"requests per latency figure ({REPEATS})")
    parser.add_argument("--seed", type=int, default=2023, help="random seed of the generated catalogue")
    parser.add_argument(
        "--load-only",
        action="store_true",
        help="measure create_outfalls against COPY only (no derivation baseline, no latencies)",
    )
    args = parser.parse_args(argv)
    if args.outfalls < 1 or args.repeats < 1:
        parser.error("--outfalls and --repeats must be at least 1")
    progress = Progress()
    progress.say(f"outfalls {_code_version()}, PostgreSQL from {find_bin_dir()}")
    with throwaway_cluster(progress, keep=args.keep) as (_cluster, url, root):
        app = make_app(url, root / "data")
        results = bench_load(url, args.outfalls, args.seed, progress, load_only=args.load_only)
        if not args.load_only:
            results += bench_latency(app, url, args.outfalls, args.repeats, progress)
    if args.json:
        print(json.dumps({"bench": "catalogue", "size": args.outfalls, "results": [r.as_dict() for r in results]}))
    else:
        print_table(args.outfalls, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
