"""Demo imagery (演示), so that every demo role has work: generated orthophotos (small real GeoTIFFs) along a stretch
of a real Shaanxi river taken from the reference data, two sorties with their flight records, the interpretation
cells laid over them, some cells interpreted and reviewed (their accepted marks are candidate outfalls, flagged as
demo data), one cell interpreted and waiting for the reviewer, the rest waiting for the analyst, and a verification
task that walks the candidates for the Xi'an demo crew.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import shapely
from pyproj import CRS, Transformer
from shapely.geometry import LineString, Point
from shapely.ops import substring
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from imagery.candidates import create_task
from imagery.cells import build_cells, cell_outline, finish_cell, finish_review, next_cell
from imagery.flights import SortieInput, record_sortie
from imagery.ingest import ingest_orthophoto
from imagery.interpretation import MarkInput, add_mark, review_mark
from imagery.models import ImageryMark, InterpretationCell, MarkKind, Orthophoto, VerificationStop
from imagery.synthetic import write_ortho
from outfalls.demo import DEMO_ACTOR, seed_demo_users
from outfalls.errors import NotFound
from outfalls.models import AdminArea, Basin, Outfall, River
from outfalls.scope import Scope

DEMO_PREFIX = "演示"  # every demo orthophoto's file name and sortie code starts with it
RIVER, AREA = "渭河", "610100"  # the Wei where it crosses Xi'an: the demo crew's own area
ANALYST, REVIEWER, CREW = "analyst", "reviewer", "crew_xian"
SIZE_PX, RESOLUTION_M = 800, 0.6  # 480 m squares: a few cells each, a few hundred kB each as a COG
REVIEWED_CELLS, WAITING_CELLS = 2, 1


@dataclass(frozen=True, slots=True)
class DemoImagery:
    """What ``seed_demo_imagery`` made (all zero but ``existing`` when demo imagery was there already)."""

    orthophotos: int
    sorties: int
    cells: int
    marks: int
    candidates: int
    task_stops: int
    existing: int = 0


def seed_demo_imagery(
    session: Session,
    *,
    store_dir: Path,
    landward_m: float,
    waterward_m: float,
    cell_m: float,
    count: int = 6,
    seed: int = 2023,
) -> DemoImagery:
    """Make the demo imagery and the interpretation work around it (skipped when demo imagery exists); the
    demo accounts are created first if missing. The caller commits.

    Raises:
        NotFound: the reference data has no Wei river line across Xi'an (load the reference data first).
    """
    existing = session.scalar(select(func.count()).select_from(Orthophoto)
                              .where(Orthophoto.file_name.startswith(DEMO_PREFIX))) or 0  # fmt: skip
    if existing:
        return DemoImagery(0, 0, 0, 0, 0, 0, existing=existing)
    seed_demo_users(session)
    river, basin_code, line = _stretch(session, count * SIZE_PX * RESOLUTION_M * 0.9)
    centres = _spaced(line, count)
    flown = [date(2024, 4, 16), date(2024, 4, 17)]
    national = Scope.national()
    for n, day in enumerate(flown, start=1):
        record_sortie(session, f"{DEMO_PREFIX}-WEI-{n:02d}", SortieInput(
            flown_on=day, aircraft_type="multirotor", altitude_m=120.0, area_km2=round(count / 2 * 0.23, 2),
            length_km=round(count / 2 * 0.48, 2), photo_count=180 + 20 * n, operator=f"{DEMO_PREFIX}航测队",
            basin_code=basin_code, river_code=river.code, notes="演示数据：生成的影像，并非实拍",
        ), actor=DEMO_ACTOR)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ofdemo") as tmp:
        for i, (lon, lat) in enumerate(centres):
            half = i * len(flown) // count
            path = write_ortho(Path(tmp) / f"{DEMO_PREFIX}正射影像-{i + 1:02d}.tif", crs=_utm(lon),
                               center_lonlat=(lon, lat), size_px=(SIZE_PX, SIZE_PX), resolution_m=RESOLUTION_M,
                               seed=seed + i)  # fmt: skip
            ingest_orthophoto(session, path, store_dir=store_dir, actor=DEMO_ACTOR, name=path.name,
                              sortie=f"{DEMO_PREFIX}-WEI-{half + 1:02d}", captured_on=flown[half])  # fmt: skip
    layout = build_cells(session, basin_code, landward_m=landward_m, waterward_m=waterward_m, cell_m=cell_m)
    marks = 0
    for n in range(REVIEWED_CELLS + WAITING_CELLS):
        cell = next_cell(session, analyst=ANALYST, scope=national)
        if cell is None:
            break
        made = _interpret(session, cell, line, n)
        marks += len(made)
        finish_cell(session, cell.id, actor=ANALYST, scope=national)
        if n < REVIEWED_CELLS:
            for mark in made:
                decision = "reject" if mark.confidence == "low" else "accept"
                review_mark(session, mark.id, decision, actor=REVIEWER, scope=national,
                            reason="桥梁阴影，并非排污口" if decision == "reject" else None)  # fmt: skip
            finish_review(session, cell.id, actor=REVIEWER, scope=national)
    found = [i for i in session.scalars(select(ImageryMark.outfall_id)) if i is not None]
    session.execute(update(Outfall).where(Outfall.id.in_(found)).values(is_demo=True))
    candidates = len(found)
    task = create_task(session, CREW, actor=DEMO_ACTOR, scope=national, name=f"{DEMO_PREFIX}核查任务：渭河西安段",
                       basin_code=None)  # fmt: skip
    stops = session.scalar(select(func.count()).select_from(VerificationStop)
                           .where(VerificationStop.task_id == task.id)) or 0  # fmt: skip
    return DemoImagery(count, len(flown), layout.created, marks, candidates, stops)


def _interpret(session: Session, cell: InterpretationCell, line: LineString, n: int) -> list[ImageryMark]:
    """Two suspected outfalls on the bank inside the cell (one sure, one doubtful) and, in the first cell, a
    sensitive area; the analyst's work as it would be drawn.
    """
    from geoalchemy2.shape import to_shape

    shape = to_shape(cell.geom)
    anchor = Point(cell_outline(cell).anchor)
    on_bank = line.interpolate(line.project(anchor))
    spots = [p for p in (on_bank, anchor) if shape.contains(p)] or [anchor]
    national = Scope.national()
    made = []
    for k, spot in enumerate(spots[:2]):
        values = MarkInput(geometry={"type": "Point", "coordinates": [spot.x, spot.y]},
                           type_guess="4.8" if k == 0 else None, confidence="high" if k == 0 else "low",
                           note="岸边有管口和水流痕迹" if k == 0 else "疑似管口，可能是阴影")  # fmt: skip
        made.append(add_mark(session, cell.id, MarkKind.POINT, values, actor=ANALYST, scope=national))
    if n == 0:
        area = shapely.buffer(anchor, 0.0004).intersection(shape)
        if not area.is_empty and area.geom_type == "Polygon":
            made.append(add_mark(session, cell.id, MarkKind.AREA, MarkInput(
                geometry=shapely.geometry.mapping(area), area_kind="industrial", note="沿河工业园区，排口密集",
            ), actor=ANALYST, scope=national))  # fmt: skip
    return made


def _stretch(session: Session, length_m: float) -> tuple[River, str, LineString]:
    """The demo river, its basin code and a stretch of ``length_m`` around the middle of its course in Xi'an."""
    row = session.execute(
        select(River, func.ST_AsText(func.ST_LineMerge(func.ST_Intersection(River.geom, AdminArea.geom))))
        .join(AdminArea, func.ST_Intersects(River.geom, AdminArea.geom))
        .where(River.name == RIVER, AdminArea.code == AREA)
        .order_by(func.ST_Length(River.geom).desc()).limit(1)
    ).first()  # fmt: skip
    if row is None or row[1] is None:
        raise NotFound(f"no {RIVER} line across area {AREA}: load the reference data first", entity="river", id=RIVER)
    river, wkt = row
    merged = shapely.from_wkt(wkt)
    course = max(getattr(merged, "geoms", [merged]), key=lambda g: g.length)
    to_m = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(_utm(course.centroid.x)), always_xy=True)
    metric = shapely.transform(course, to_m.transform, interleaved=False)
    middle = metric.length / 2
    part = substring(metric, max(0.0, middle - length_m / 2), min(metric.length, middle + length_m / 2))
    back = Transformer.from_crs(to_m.target_crs, CRS.from_epsg(4326), always_xy=True)
    basin = session.get(Basin, river.basin_id) if river.basin_id else None
    return river, basin.code if basin else "HH", shapely.transform(part, back.transform, interleaved=False)


def _spaced(line: LineString, count: int) -> list[tuple[float, float]]:
    """``count`` points evenly along the line, ends excluded."""
    return [(p.x, p.y) for p in (line.interpolate((i + 0.5) / count, normalized=True) for i in range(count))]


def _utm(lon: float) -> str:
    """The UTM zone (north) of a longitude, as the CRS a drone survey of China is usually delivered in."""
    return f"EPSG:{32600 + int((lon + 180) // 6) + 1}"

