"""Registers benchmark: the whole catalogue's register exported as GeoPackage, CSV and XLSX by
``outfalls.registers.export_register`` (what ``outfalls register export`` and the exporters' page run), against
``ogr2ogr`` exporting the very same rows from the same PostGIS in the same run.

Run ``.venv/bin/python bench/registers.py --outfalls 100000 [--repeats 3] [--as-of 2025-12-31] [--json] [--keep]``.

A throwaway PostGIS cluster is started with the product's :class:`outfalls.db.cluster.Cluster` (fsync off),
migrated and loaded with the reference data; N outfalls with their lifecycle histories are generated exactly as
``bench/catalogue.py`` does (points on the banks of the real Shaanxi rivers, HJ 1312 types, 3.7 history events
an outfall) and written with ``create_outfalls`` (setup, not timed), then ``VACUUM ANALYZE``.

Each export is timed from the call to the closed file, as of ``--as-of`` for the whole (national) scope:

``gpkg``
    Ours: ``export_register(fmt="gpkg")``: the register query (the state as of the day from the events, latest
    monitoring, remediation and field records, labels), read through a server-side cursor, written with pyogrio
    (GDAL) in chunks. Baseline: ``ogr2ogr -f GPKG`` with ``-sql`` = the same register query plus a point geometry
    made from its lon/lat in PostGIS.
``csv``
    Ours: ``export_register(fmt="csv")``: ``COPY (register query) TO STDOUT`` behind a BOM. Baseline:
    ``ogr2ogr -f CSV`` with the same query.
``xlsx``
    Ours: ``export_register(fmt="xlsx")``: openpyxl in write-only mode, one sheet per basin, summary and column
    sheets, fixed zip dates. Baseline: ``ogr2ogr -f XLSX`` with the same query (one plain sheet).
``query``
    The register query alone, every row fetched by psycopg (no file): the floor under every format.

Each figure is the median of ``--repeats`` runs, ours and the baseline alternating; the ratio is ours ÷ baseline
(lower is better). Progress on stderr; a table (or one JSON object with ``--json``) on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from catalogue import Progress, generate, libpq_url, throwaway_cluster
from sqlalchemy.orm import Session

from outfalls import registers
from outfalls.catalogue.lifecycle import create_outfalls
from outfalls.db.engine import make_engine
from outfalls.scope import Scope

OGR_DRIVERS = {"gpkg": "GPKG", "csv": "CSV", "xlsx": "XLSX"}


@dataclass(slots=True)
class Result:
    """One export: ours against ogr2ogr doing the same rows."""

    name: str
    seconds: float
    baseline: str
    baseline_seconds: float
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Ours ÷ baseline."""
        return self.seconds / self.baseline_seconds if self.baseline_seconds else float("nan")


def pg_conninfo(url: str) -> str:
    """GDAL's ``PG:`` connection string for a SQLAlchemy URL (unix socket), JIT off as ours runs it."""
    info = psycopg.conninfo.conninfo_to_dict(libpq_url(url))
    parts = [f"{k}={v}" for k, v in info.items() if v]
    return "PG:" + " ".join(parts) + " options='-c jit=off'"


def ours(url: str, fmt: str, out: Path, as_of: date) -> tuple[float, int]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            t0 = time.perf_counter()
            result = registers.export_register(session, out, fmt=fmt, scope=Scope.national(), as_of=as_of)
            seconds = time.perf_counter() - t0
            session.rollback()
    finally:
        engine.dispose()
    return seconds, result.rows


def baseline(url: str, sql: str, fmt: str, out: Path) -> float:
    if out.exists():
        out.unlink()
    query = sql
    options: list[str] = []
    if fmt == "gpkg":
        query = f"SELECT r.*, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4490) AS geom FROM ({sql}) r"
        options = ["-nln", "outfall_register", "-a_srs", "EPSG:4490"]
    args = ["ogr2ogr", "-f", OGR_DRIVERS[fmt], str(out), pg_conninfo(url), "-sql", query, *options]
    t0 = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"ogr2ogr failed: {done.stderr[-2000:]}")
    return seconds


def query_only(url: str, sql: str) -> tuple[float, int]:
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET jit = off")
        t0 = time.perf_counter()
        rows = conn.execute(sql).fetchall()
        return time.perf_counter() - t0, len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outfalls", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--as-of", default="2025-12-31", help="the register's day (default 2025-12-31)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args(argv)
    as_of = date.fromisoformat(args.as_of)
    progress = Progress()
    results: list[Result] = []
    with throwaway_cluster(progress, keep=args.keep) as (_cluster, url, root):
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                progress.say(f"generating {args.outfalls:,} outfalls with their histories")
                items = generate(session, args.outfalls, args.seed)
                create_outfalls(session, items, actor="bench", progress=progress.counter("create_outfalls",
                                                                                        len(items)))  # fmt: skip
                session.commit()
                del items
                sql = registers.register_query(session, scope=Scope.national(), as_of=as_of).sql
        finally:
            engine.dispose()
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            n_events = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
        progress.say(f"{args.outfalls:,} outfalls, {n_events:,} events; exporting as of {as_of}")
        out_dir = Path(tempfile.mkdtemp(prefix="ofbr", dir=root))
        query_s = []
        for _ in range(args.repeats):
            s, rows = query_only(url, sql)
            query_s.append(s)
        results.append(Result("query", statistics.median(query_s), "(none)", statistics.median(query_s), rows,
                              {"what": "the register query alone, fetched by psycopg"}))  # fmt: skip
        for fmt in ("gpkg", "csv", "xlsx"):
            mine: list[float] = []
            theirs: list[float] = []
            rows = 0
            for i in range(args.repeats):
                progress.say(f"{fmt}: run {i + 1}/{args.repeats}")
                s, rows = ours(url, fmt, out_dir / f"ours.{fmt}", as_of)
                mine.append(s)
                theirs.append(baseline(url, sql, fmt, out_dir / f"ogr2ogr.{fmt}"))
            sizes = {"bytes": (out_dir / f"ours.{fmt}").stat().st_size,
                     "baseline_bytes": (out_dir / f"ogr2ogr.{fmt}").stat().st_size}  # fmt: skip
            extra = sizes | {"runs": mine, "baseline_runs": theirs}
            results.append(Result(fmt, statistics.median(mine), f"ogr2ogr -f {OGR_DRIVERS[fmt]} -sql <same query>",
                                  statistics.median(theirs), rows, extra))  # fmt: skip
            progress.say(f"{fmt}: ours {statistics.median(mine):.2f} s, ogr2ogr {statistics.median(theirs):.2f} s")
    if args.json:
        print(json.dumps({"bench": "registers", "size": args.outfalls, "events": n_events, "as_of": as_of.isoformat(),
                          "results": [asdict(r) | {"ratio": r.ratio} for r in results]}, indent=2))  # fmt: skip
    else:
        print(f"registers: {args.outfalls:,} outfalls, {n_events:,} events, as of {as_of}, median of {args.repeats}")
        print(f"{'export':<8} {'rows':>9} {'ours s':>8} {'ogr2ogr s':>10} {'ratio':>6}  {'MB ours/ogr2ogr':>16}")
        for r in results:
            mb = (f"{r.extra['bytes'] / 1e6:.1f}/{r.extra['baseline_bytes'] / 1e6:.1f}" if "bytes" in r.extra else "")
            print(f"{r.name:<8} {r.rows:>9,} {r.seconds:>8.2f} {r.baseline_seconds:>10.2f} {r.ratio:>6.2f}  {mb:>16}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
