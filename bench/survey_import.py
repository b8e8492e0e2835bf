"""Survey import benchmark: one generated foot-survey CSV loaded by ``outfalls survey import`` and, in the same
run, by raw ``COPY`` and by ``ogr2ogr -f PostgreSQL``.

Run ``.venv/bin/python bench/survey_import.py --rows 100000 [--json] [--keep] [--profile FILE]``.

A throwaway PostGIS cluster is started with the product's own :class:`outfalls.db.cluster.Cluster` (fsync off),
migrated with Alembic and loaded with the reference data, as in ``bench/catalogue.py``; the database is then
cloned (``CREATE DATABASE ... TEMPLATE``) so that each import starts from the same empty catalogue. The CSV is
what a province-wide consolidation of the crews' phone records looks like: N rows at the outfalls that
``bench/catalogue.py`` generates along the real Shaanxi rivers, in GCJ-02 (the datum of the phone map apps),
with a record id, a Chinese name, a type column mixing HJ 1312 codes, Chinese labels and values no code list
knows (kept raw with a warning), local and national codes, surveyor, survey time, photo names, discharge and
notes. About 1 % of the rows are a second record a metre or two from another row's (one outfall entered twice,
or two pipes at one headwall: both go to the review queue as one cluster) and 0.4 % are defective (empty
longitude, swapped lat/lon, a date that does not exist, a row sent twice), which the import must reject row by row.

``survey import (CLI)``
    ``outfalls survey import FILE --datum gcj02 --json`` as a subprocess on the bench database
    (``OUTFALLS_DATABASE_URL``), the path a user takes: start-up, reading, validation, datum conversion,
    observations, reconciliation, new outfalls with their spatial derivation and events, commit, and the fold of
    the counts' backlog the import left (before the command exits).
``import_table (in process)``
    ``outfalls.survey.read_path`` + ``outfalls.survey.intake.import_table`` + commit + the fold of the counts'
    backlog it left (``outfalls.progress.backlog``), on a second clone, with
    the time of each stage taken from its ``progress`` callback (read, validate, store observations,
    reconcile, create outfalls, rest + commit, fold) and the SQL statements it sends timed by kind.
``re-import (CLI)``
    The same command on the same file again: every row is already received, nothing is written.

Baselines, on the same file in the same run: ``COPY staging FROM STDIN (FORMAT csv, HEADER)`` (psycopg 3,
the file's bytes) into a plain table whose point column is generated in SQL
(``ST_SetSRID(ST_MakePoint(lon, lat), 4326)``), and ``ogr2ogr -f PostgreSQL PG:... FILE -oo
X_POSSIBLE_NAMES=lon -oo Y_POSSIBLE_NAMES=lat -a_srs EPSG:4326`` (system GDAL; it makes a table with a GiST
index and writes with COPY). Neither validates, converts the datum or reconciles. Every ratio is our seconds
divided by the baseline's seconds (lower is better); the goal of the survey intake is a ratio of at most 2
against COPY (half its throughput). The bench checks that the rows written match what each report says and
stops on a difference. Progress goes to stderr; a table (or, with ``--json``, one JSON object) to stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import hashlib
import json
import os
import pstats
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import sqlalchemy as sa
from catalogue import (
    DB_NAME,
    Progress,
    Result,
    _code_version,
    _fmt_s,
    copy_every_row,
    generate,
    libpq_url,
    throwaway_cluster,
)
from sqlalchemy import event
from sqlalchemy.orm import Session

from outfalls.config import load_settings
from outfalls.db.cluster import SUPERUSER, Cluster, find_bin_dir
from outfalls.db.engine import make_engine
from outfalls.offsets import _wgs_to_gcj  # the vectorised wgs84_to_gcj02
from outfalls.progress import backlog
from outfalls.survey.intake import import_table
from outfalls.survey.readers import read_path

ACTOR = "bench"
CREW = "bench"
DATUM = "gcj02"  # the CLI's --datum; the CSV's coordinates are GCJ-02, as phone map apps record them
CRS = "GCJ-02"  # the same for import_table
CLI_DB = "survey_cli"
LIB_DB = "survey_lib"
HEADER = [
    "记录编号", "排污口名称", "排污口编码", "排口编号", "lon", "lat", "排口类型", "排入水体", "调查人员", "调查时间",
    "照片", "排放状态", "备注",
]  # fmt: skip
# Type cells that name no code list entry: kept raw, recorded as 暂无法确定, with a warning.
UNKNOWN_TYPES = ("水泥管", "不明", "暗管", "涵洞", "看不清", "待定")
UNKNOWN_SHARE = 0.03
CODE_SHARE = 0.45  # the HJ 1312 code ("4.8") is written; otherwise its Chinese label
NEAR_SHARE = 0.01  # a second record within [reconcile] same_batch_m of another row's
DEFECT_SHARE = 0.004  # each kind of defect gets a quarter of these rows
NATIONAL_SHARE = 0.2
CREWS = ("西安市第一排查组", "咸阳市排查组", "宝鸡市排查组", "渭南市排查组", "汉中市排查组", "安康市排查组",
         "商洛市排查组", "延安市排查组", "榆林市排查组", "铜川市排查组")  # fmt: skip
SURVEYORS = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴霞")
NOTES = ("", "", "", "有水流出", "干涸", "管口破损", "周边有异味", "雨后复查")
STAGES = ("read", "validate", "store observations", "reconcile", "create outfalls", "rest + commit")


# -- the survey file ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SurveyFile:
    """The generated CSV and what a correct import of it must report."""

    path: Path
    rows: int
    bytes: int
    rejected_rows: int  # rows with a defect
    unknown_types: int  # rows with an unknown type (warnings; the duplicated rows' copies are rejected)
    near_pairs: int


def write_survey_csv(session: Session, path: Path, n: int, seed: int) -> SurveyFile:
    """N survey rows at generated outfalls along the Shaanxi rivers (``bench/catalogue.py``), written as CSV."""
    items = generate(session, n, seed)
    rng = np.random.default_rng(seed + 7)
    lonlat = np.array([item.lonlat for item in items])
    # A second record 0.5-4 m from the previous row's (east or north): both rows go to the review queue.
    near = np.flatnonzero(rng.random(n) < NEAR_SHARE)
    near = near[near > 0]
    near = near[np.r_[True, np.diff(near) > 1]]  # never a pair of pairs
    metres = rng.uniform(0.5, 4, len(near))
    east = rng.random(len(near)) < 0.5
    coslat = np.cos(np.radians(lonlat[near - 1, 1]))
    lonlat[near, 0] = lonlat[near - 1, 0] + np.where(east, metres / (111_320 * coslat), 0)
    lonlat[near, 1] = lonlat[near - 1, 1] + np.where(east, 0, metres / 110_540)

    kinds = rng.random(n)
    defect = np.full(n, "", dtype=object)
    pick = np.flatnonzero(rng.random(n) < DEFECT_SHARE)
    pick = pick[pick > 0]
    pick = pick[~np.isin(pick, np.r_[near, near - 1])]  # defects stay off the pairs, so the counts are exact
    pick = pick[np.r_[True, np.diff(pick) > 1]]  # never two defective rows in a row (a copy of a bad row)
    defect[pick] = np.array(["no_lon", "swapped", "bad_date", "twice"], dtype=object)[rng.integers(0, 4, len(pick))]
    minutes = rng.integers(8 * 60, 18 * 60, n)
    crew = rng.integers(0, len(CREWS), n)
    who = rng.integers(0, len(SURVEYORS), n)
    note = rng.integers(0, len(NOTES), n)
    flowing = rng.random(n) < 0.6
    national = rng.random(n) < NATIONAL_SHARE
    uuids = rng.integers(0, 2**63, (n, 2), dtype=np.int64)
    gcj_lon, gcj_lat = _wgs_to_gcj(lonlat[:, 0], lonlat[:, 1])

    unknown = 0
    near_rows = set(near.tolist())
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        previous: list[Any] = []
        for i, item in enumerate(items):
            if kinds[i] < UNKNOWN_SHARE:
                type_cell = UNKNOWN_TYPES[i % len(UNKNOWN_TYPES)]
            elif kinds[i] < UNKNOWN_SHARE + CODE_SHARE:
                type_cell = item.type_code
            else:
                type_cell = item.type_raw or item.type_code
            if i in near_rows:  # the same outfall entered twice: the same type (an incompatible one is not queued)
                type_cell = previous[6]
            when = datetime.combine(item.found_on, datetime.min.time()) + timedelta(minutes=int(minutes[i]))
            row: list[Any] = [
                f"uuid:{uuids[i, 0] & 0xFFFFFFFFFFFF:012x}-{uuids[i, 1] & 0xFFFFFFFF:08x}",
                item.name,
                f"SN{item.national_code[5:]}" if item.national_code and national[i] else "",
                item.local_code or "",
                f"{gcj_lon[i]:.7f}",
                f"{gcj_lat[i]:.7f}",
                type_cell,
                item.receiving_water or "",
                f"{CREWS[crew[i]]}-{SURVEYORS[who[i]]}",
                when.strftime("%Y-%m-%d %H:%M"),
                f"IMG_{when:%Y%m%d_%H%M}{i % 60:02d}.jpg",
                "有水" if flowing[i] else "无水",
                NOTES[note[i]],
            ]
            if defect[i] == "no_lon":
                row[4] = ""
            elif defect[i] == "swapped":
                row[4], row[5] = row[5], row[4]
            elif defect[i] == "bad_date":
                row[9] = f"{item.found_on.year}-02-30 10:00"
            elif defect[i] == "twice":
                row = previous  # the row before, sent again: rejected as a duplicate
            elif type_cell in UNKNOWN_TYPES:
                unknown += 1
            out.writerow(row)
            previous = row
    return SurveyFile(path, n, path.stat().st_size, int(len(pick)), unknown, int(len(near)))


# -- baselines ---------------------------------------------------------------------------------------------
STAGING_SQL = """
DROP TABLE IF EXISTS staging;
CREATE TABLE staging (
  client_id text, name text, national_code text, local_code text, lon double precision, lat double precision,
  type text, receiving_water text, surveyor text, surveyed_at text, photos text, discharge text, notes text,
  geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
)
"""
COPY_BLOCK = 1 << 20


def bench_copy(url: str, survey: SurveyFile, progress: Progress) -> float:
    """COPY the CSV's bytes into a plain staging table whose point column is built in SQL; returns seconds."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(STAGING_SQL)
        conn.execute("CHECKPOINT")
    progress.say("baseline: COPY ... FROM STDIN (FORMAT csv, HEADER) into a staging table")
    with psycopg.connect(libpq_url(url)) as conn:
        t0 = time.perf_counter()
        with conn.cursor() as cur, survey.path.open("rb") as f:
            columns = "client_id, name, national_code, local_code, lon, lat, type, receiving_water, surveyor, " \
                "surveyed_at, photos, discharge, notes"  # fmt: skip
            with cur.copy(f"COPY staging ({columns}) FROM STDIN (FORMAT csv, HEADER true)") as copy:
                while block := f.read(COPY_BLOCK):
                    copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - t0
        row = conn.execute("SELECT count(*), count(geom) FROM staging").fetchone()
    assert row is not None
    if row[0] != survey.rows:
        raise SystemExit(f"COPY wrote {row[0]} rows, the file has {survey.rows}")
    progress.say(f"baseline: COPY of {row[0]:,} rows ({row[1]:,} with a point) in {seconds:.2f} s")
    return seconds


def bench_ogr2ogr(cluster: Cluster, dbname: str, survey: SurveyFile, progress: Progress) -> float:
    """``ogr2ogr -f PostgreSQL`` of the CSV (a new table, points from lon/lat); returns seconds."""
    pg = f"PG:host={cluster.socket_dir} dbname={dbname} user={SUPERUSER}"
    cmd = ["ogr2ogr", "-f", "PostgreSQL", pg, str(survey.path), "-oo", "X_POSSIBLE_NAMES=lon",
           "-oo", "Y_POSSIBLE_NAMES=lat", "-a_srs", "EPSG:4326", "-nln", "ogr_survey"]  # fmt: skip
    with psycopg.connect(libpq_url(cluster.url(dbname)), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    progress.say("baseline: " + " ".join(cmd[:3]) + " PG:... " + " ".join(cmd[4:]))
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"ogr2ogr failed ({out.returncode}): {out.stderr.strip()[:2000]}")
    with psycopg.connect(libpq_url(cluster.url(dbname))) as conn:
        row = conn.execute("SELECT count(*), count(wkb_geometry) FROM ogr_survey").fetchone()
    assert row is not None
    if row[0] != survey.rows:
        raise SystemExit(f"ogr2ogr wrote {row[0]} rows, the file has {survey.rows}")
    progress.say(f"baseline: ogr2ogr of {row[0]:,} rows ({row[1]:,} with a point) in {seconds:.2f} s")
    return seconds


# -- ours --------------------------------------------------------------------------------------------------
def _counts(url: str) -> dict[str, int]:
    tables = ("observation_batches", "observations", "outfalls", "observation_links", "review_items", "events")
    with psycopg.connect(libpq_url(url)) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]


def _row_counts(url: str) -> dict[str, int]:
    """Rows of every table of the database."""
    with psycopg.connect(libpq_url(url)) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname"
        )]  # fmt: skip
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # type: ignore[index]


def check_report(report: dict[str, Any], survey: SurveyFile, before: dict[str, int], after: dict[str, int],
                 *, first: bool) -> None:  # fmt: skip
    """Stop unless the report says what the generated file holds and the rows written match the report."""
    rejected_rows = len({p["row"] for p in report["rejected"]})
    added = {t: after[t] - before[t] for t in after}
    expected_accepted = survey.rows - survey.rejected_rows
    problems = []
    if report["rows"] != survey.rows or rejected_rows != survey.rejected_rows:
        problems.append(f"{report['rows']} rows, {rejected_rows} rejected; the file has {survey.rows} rows, "
                        f"{survey.rejected_rows} defective")  # fmt: skip
    if first:
        if report["accepted"] != expected_accepted or report["already_received"] != 0:
            problems.append(f"{report['accepted']} accepted, {report['already_received']} already received; "
                            f"{expected_accepted} new rows expected")  # fmt: skip
        if report["new_outfalls"] + report["linked"] + report["queued_for_review"] != report["accepted"]:
            problems.append("new + linked + queued is not the number of accepted rows")
        if report["queued_for_review"] < 2 * survey.near_pairs:
            problems.append(f"{report['queued_for_review']} queued, but {survey.near_pairs} near pairs were made")
        if len(report["warnings"]) != survey.unknown_types:
            problems.append(f"{len(report['warnings'])} warnings, {survey.unknown_types} unknown types in the file")
    elif report["accepted"] != 0 or report["already_received"] != expected_accepted:
        problems.append(f"re-import: {report['accepted']} accepted, {report['already_received']} already received")
    want = {
        "observation_batches": 1 if report["accepted"] else 0,
        "observations": report["accepted"],
        "outfalls": report["new_outfalls"],
        "observation_links": report["new_outfalls"] + report["linked"],
        "review_items": report["queued_for_review"],
        "events": report["new_outfalls"] * 2 + report["linked"],  # created + observation_linked
    }
    for table, n in want.items():
        if added[table] != n:
            problems.append(f"{table}: {added[table]:,} rows written, the report implies {n:,}")
    if problems:
        raise SystemExit("the import and the database disagree: " + "; ".join(problems))


# The derivation rules as the product first wrote them (one lookup per outfall and column, on whole river
# lines): the outfalls the import created must carry the same four ids.
RULES_SQL = """
SELECT count(*) FILTER (WHERE (o.sub_basin_id, o.basin_id, o.admin_area_id, o.river_id) IS NOT DISTINCT FROM (
  (SELECT p.ref_id FROM area_parts p WHERE p.kind = 'sub_basin' AND ST_Intersects(p.geom, o.geom)
   ORDER BY p.ref_id LIMIT 1),
  (SELECT p.ref_id FROM area_parts p WHERE p.kind = 'basin' AND ST_Intersects(p.geom, o.geom)
   ORDER BY p.ref_id LIMIT 1),
  (SELECT p.ref_id FROM area_parts p WHERE p.kind = 'admin' AND ST_Intersects(p.geom, o.geom) ORDER BY p.rank LIMIT 1),
  (SELECT r.id FROM rivers r WHERE ST_DWithin(r.geom, o.geom, 0.05) ORDER BY r.geom <-> o.geom LIMIT 1))),
  count(*), count(o.river_id), count(o.admin_area_id)
FROM (SELECT * FROM outfalls ORDER BY id LIMIT %s) o
"""


def check_locations(url: str, sample: int, progress: Progress) -> dict[str, int]:
    """Stop unless the first ``sample`` outfalls carry the locations the rules give."""
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(RULES_SQL, (sample,)).fetchone()
    assert row is not None
    agree, checked, with_river, with_area = row
    if agree != checked:
        raise SystemExit(f"{checked - agree} of {checked} outfalls have other locations than the rules give")
    progress.say(f"locations: all {checked:,} outfalls checked agree with the rules ({with_river:,} near a river)")
    return {"locations_checked": checked, "locations_agreeing": agree, "with_river": with_river, "with_area": with_area}


def _upload_limits(survey: SurveyFile) -> dict[str, int]:
    """Upload limits that take the generated file (10⁶ rows make 205 MB, over the default 200 MB); none when the
    defaults do.
    """
    defaults = load_settings(env={}).upload
    if survey.bytes <= defaults.max_bytes and survey.rows < defaults.max_rows:
        return {}
    return {"upload.max_bytes": max(defaults.max_bytes, 2 * survey.bytes),
            "upload.max_rows": max(defaults.max_rows, 2 * survey.rows)}  # fmt: skip


def run_cli(
    url: str, data_dir: Path, survey: SurveyFile, progress: Progress, label: str
) -> tuple[float, dict[str, Any]]:
    """``outfalls survey import FILE --datum gcj02 --crew bench --json`` as a subprocess; returns seconds, report."""
    env = {**os.environ, "OUTFALLS_DATABASE_URL": url, "OUTFALLS_DATA_DIR": str(data_dir)}
    env |= {f"OUTFALLS_{k.replace('.', '_').upper()}": str(v) for k, v in _upload_limits(survey).items()}
    cmd = [sys.executable, "-m", "outfalls", "survey", "import", str(survey.path), "--datum", DATUM,
           "--crew", CREW, "--json"]  # fmt: skip
    progress.say(f"ours: {label}: outfalls survey import {survey.path.name} --datum {DATUM} --crew {CREW} --json")
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if out.returncode not in (0, 2):
        raise SystemExit(f"outfalls survey import failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    report: dict[str, Any] = json.loads(out.stdout)
    if out.returncode != (2 if report["rejected"] else 0):
        raise SystemExit(f"outfalls survey import exited {out.returncode} for a report with "
                         f"{len(report['rejected'])} rejections")  # fmt: skip
    progress.say(f"ours: {label} in {seconds:.1f} s: {_summary(report)}")
    return seconds, report


def _summary(report: dict[str, Any]) -> str:
    return (
        f"{report['accepted']:,} accepted, {len({p['row'] for p in report['rejected']}):,} rejected, "
        f"{report['already_received']:,} already received; {report['new_outfalls']:,} new outfalls, "
        f"{report['linked']:,} linked, {report['queued_for_review']:,} for review; {len(report['warnings']):,} warnings"
    )


class StatementTimer:
    """Seconds of the SQL statements an engine sends, by kind (COPY on the raw connection is not seen)."""

    KINDS = (
        ("UPDATE OUTFALLS", "update locations"),
        ("INSERT INTO OUTFALLS", "insert outfalls"),
        ("INSERT INTO OBSERVATIONS", "insert observations"),
        ("NEXTVAL", "next ids"),
        ("JOIN OUTFALLS F ON ST_DWITHIN", "candidates"),
        ("FROM OBSERVATIONS A JOIN OBSERVATIONS B", "near in batch"),
        ("FROM OBSERVATIONS", "already received"),
    )

    def __init__(self, engine: sa.Engine) -> None:
        self.seconds: dict[str, float] = {}
        self._t0 = 0.0
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._t0 = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        elapsed = time.perf_counter() - self._t0
        flat = " ".join(statement.split()).upper()
        kind = next((k for key, k in self.KINDS if key in flat), "other")
        self.seconds[kind] = self.seconds.get(kind, 0.0) + elapsed

    def close(self) -> None:
        """Stop listening."""
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)


def run_in_process(
    url: str, data_dir: Path, survey: SurveyFile, progress: Progress, profile: Path | None
) -> tuple[float, dict[str, Any], dict[str, float], dict[str, float]]:
    """``read_path`` + ``import_table`` + commit; returns seconds, report, seconds by stage and by statement."""
    settings = load_settings(env={}, overrides={"database.url": url, "storage.data_dir": str(data_dir),
                                                **_upload_limits(survey)})  # fmt: skip
    engine = make_engine(url)
    timer = StatementTimer(engine)
    marks: list[tuple[str, float]] = []

    def step(stage: str, _done: int, _total: int) -> None:
        if stage not in dict(marks):
            marks.append((stage, time.perf_counter()))

    profiler = cProfile.Profile() if profile else None
    progress.say("ours: import_table in process (stages from its progress callback)")
    try:
        with Session(engine) as session:
            session.execute(sa.text("SELECT 1"))  # connect before timing, as the CLI's start-up does
            timer.seconds.clear()
            if profiler:
                profiler.enable()
            t0 = time.perf_counter()
            table = read_path(survey.path, survey.path.name, limits=settings.upload)
            marks.append(("read", time.perf_counter()))
            sha = hashlib.sha256(survey.path.read_bytes()).hexdigest()
            report = import_table(session, table, settings=settings, actor=ACTOR, crew=CREW, crs=CRS,
                                  file_name=survey.path.name, file_sha256=sha, progress=step)  # fmt: skip
            session.commit()
            marks.append(("committed", time.perf_counter()))
            # what a bulk import leaves in the counts' backlog is folded after its commit (as the CLI does): part of
            # the import's work, so it is timed with it
            backlog.wait(engine)
            backlog.fold(session)
            end = time.perf_counter()
            if profiler:
                profiler.disable()
    finally:
        timer.close()
        engine.dispose()
    if profiler and profile:
        profiler.dump_stats(profile)
        stats = pstats.Stats(str(profile), stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(40)
        progress.say(f"profile written to {profile} (python -m pstats {profile})")
    names = {"read": "read", "validated": "validate", "stored": "store observations", "reconciled": "reconcile",
             "created": "create outfalls", "committed": "rest + commit"}  # fmt: skip
    stages: dict[str, float] = {}
    last = t0
    for stage, at in marks:
        stages[names.get(stage, stage)] = at - last
        last = at
    stages["fold the counts' backlog"] = end - last
    data = report.as_dict()
    progress.say(f"ours: import_table in {end - t0:.1f} s: {_summary(data)}")
    return end - t0, data, stages, dict(timer.seconds)


# -- output ------------------------------------------------------------------------------------------------
def _rows_result(name: str, seconds: float, baseline: str, baseline_s: float, rows: int, **extra: Any) -> Result:
    return Result(name, seconds, baseline, baseline_s,
                  {"rows": rows, "rows_per_s": round(rows / seconds), "baseline_rows_per_s": round(rows / baseline_s),
                   **extra})  # fmt: skip


def print_table(survey: SurveyFile, results: list[Result], commit: str) -> None:
    print(
        f"survey import bench: {survey.rows:,} rows ({survey.bytes / 1e6:.1f} MB CSV), {os.cpu_count()} CPUs, "
        f"outfalls {commit} (ratio = ours / baseline, lower is better; goal vs COPY: 2.0)"
    )
    print(f"{'result':<58} {'ours':>9} {'rows/s':>8} {'baseline':>9} {'rows/s':>8} {'ratio':>6}  baseline")
    for r in results:
        x = r.extra
        print(
            f"{r.name:<58} {_fmt_s(r.seconds):>9} {x['rows_per_s']:>8,} {_fmt_s(r.baseline_seconds):>9} "
            f"{x['baseline_rows_per_s']:>8,} {r.ratio:>6.2f}  {r.baseline.split(' (')[0]}"
        )
    lib = next(r for r in results if "stage_seconds" in r.extra)
    print("import_table stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in lib.extra["stage_seconds"].items()))
    print("import_table SQL by statement: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in lib.extra["statement_seconds"].items()))  # fmt: skip
    first = next(r for r in results if "report" in r.extra)
    print(f"first import: {first.extra['report']}")
    every = next(r for r in results if "written_rows" in r.extra)
    print("rows the import wrote: " + ", ".join(f"{k} {v:,}" for k, v in every.extra["written_rows"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, metavar="N", help="rows of the survey CSV (100000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--keep", action="store_true", help="keep the cluster (its URL is printed) instead of removing it"
    )
    parser.add_argument("--profile", type=Path, metavar="FILE", help="cProfile the in-process import into FILE")
    parser.add_argument("--seed", type=int, default=2023, help="random seed of the generated survey")
    parser.add_argument("--check-locations", type=int, default=5000, metavar="M",
                        help="outfalls whose derived locations are checked against the rules (5000)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    progress = Progress()
    commit = _code_version()
    progress.say(f"outfalls {commit}, PostgreSQL from {find_bin_dir()}")
    with throwaway_cluster(progress, keep=args.keep) as (cluster, url, root):
        progress.say(f"generating a survey CSV of {args.rows:,} rows along the Shaanxi rivers")
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                t0 = time.perf_counter()
                survey = write_survey_csv(session, root / "survey.csv", args.rows, args.seed)
        finally:
            engine.dispose()
        progress.say(
            f"written in {time.perf_counter() - t0:.1f} s: {survey.bytes / 1e6:.1f} MB, {survey.rejected_rows} "
            f"defective rows, {survey.near_pairs} near pairs, {survey.unknown_types} unknown types"
        )
        cli_url = cluster.create_database(CLI_DB, template=DB_NAME)
        lib_url = cluster.create_database(LIB_DB, template=DB_NAME)

        copy_s = bench_copy(url, survey, progress)
        ogr_s = bench_ogr2ogr(cluster, DB_NAME, survey, progress)

        before = _counts(cli_url)
        cli_s, cli_report = run_cli(cli_url, root / "data", survey, progress, "first import")
        after = _counts(cli_url)
        check_report(cli_report, survey, before, after, first=True)
        again_s, again_report = run_cli(cli_url, root / "data", survey, progress, "re-import")
        check_report(again_report, survey, after, _counts(cli_url), first=False)

        before = _counts(lib_url)
        tables_before = _row_counts(lib_url)
        lib_s, lib_report, stages, statements = run_in_process(lib_url, root / "data", survey, progress, args.profile)
        check_report(lib_report, survey, before, _counts(lib_url), first=True)
        # the tables the import wrote (all of them empty before it): what the second baseline copies
        tables_after = _row_counts(lib_url)
        written = [t for t, n in tables_after.items() if n and not tables_before.get(t)]
        grown = [t for t, n in tables_after.items() if tables_before.get(t) and n != tables_before[t]]
        progress.say(f"baseline: COPY of every row the import wrote ({', '.join(written)})")
        with psycopg.connect(libpq_url(lib_url)) as conn:
            every_s, every_rows = copy_every_row(conn, written, progress)
        progress.say(f"baseline: COPY of {sum(every_rows.values()):,} rows in {every_s:.2f} s")
        locations = check_locations(lib_url, args.check_locations, progress)
        if {k: lib_report[k] for k in ("accepted", "new_outfalls", "queued_for_review")} != {
            k: cli_report[k] for k in ("accepted", "new_outfalls", "queued_for_review")
        }:
            raise SystemExit("the CLI and import_table reported different outcomes for the same file")

    n = survey.rows
    copy_name = "COPY (FORMAT csv) into a plain staging table, point generated in SQL"
    ogr_name = "ogr2ogr -f PostgreSQL (system GDAL; new table with GiST index)"
    summary = {k: v for k, v in cli_report.items() if k in ("accepted", "already_received", "new_outfalls", "linked",
                                                             "queued_for_review")}  # fmt: skip
    summary |= {
        "rejected_rows": len({p["row"] for p in cli_report["rejected"]}),
        "warnings": len(cli_report["warnings"]),
    }
    results = [
        _rows_result("survey import (CLI) vs COPY", cli_s, copy_name, copy_s, n, report=summary),
        _rows_result("survey import (CLI) vs ogr2ogr", cli_s, ogr_name, ogr_s, n),
        _rows_result("import_table (in process) vs COPY", lib_s, copy_name, copy_s, n,
                     stage_seconds={k: round(v, 3) for k, v in stages.items()}, **locations,
                     statement_seconds={k: round(v, 3) for k, v in sorted(statements.items())}),
        _rows_result("import_table (in process) vs COPY of every row it writes", lib_s,
                     "COPY (text) of every row the import left, table by table, into LIKE ... INCLUDING ALL twins "
                     "(the same indexes; no foreign keys, no triggers)", every_s, n,
                     written_rows=every_rows, tables_grown_not_copied=grown),
        _rows_result("re-import (CLI) vs COPY", again_s, copy_name, copy_s, n,
                     already_received=again_report["already_received"]),
        _rows_result("ogr2ogr vs COPY", ogr_s, copy_name, copy_s, n),
    ]  # fmt: skip
    if args.json:
        print(json.dumps({"bench": "survey_import", "size": n, "commit": commit,
                          "results": [r.as_dict() for r in results]}, ensure_ascii=False))  # fmt: skip
    else:
        print_table(survey, results, commit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
