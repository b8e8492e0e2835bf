"""The corridor cells, the analyst's marks and their review, and accepted marks becoming candidate outfalls."""

from __future__ import annotations

from pathlib import Path

import pytest
from geoalchemy2.shape import to_shape
from shapely import Point, box
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from imagery import cells, interpretation
from imagery.ingest import ingest_orthophoto
from imagery.interpretation import MarkInput
from imagery.models import CellStatus, MarkKind, MarkReview
from imagery.synthetic import relocate
from outfalls.config import Settings
from outfalls.errors import Conflict, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from outfalls.models import Outfall
from outfalls.scope import Scope
from outfalls.types import OutfallStatus, SurveyLevel

ALL = Scope.national()
PIX4D = Path(__file__).resolve().parents[1] / "fixtures" / "imagery" / "riotiler_pix4d_alpha_nodata.tif"


def wei_point(session: Session) -> tuple[float, float]:
    """A point on the 渭河 line near Xi'an."""
    row = session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_ClosestPoint(geom, ST_SetSRID(ST_MakePoint(108.94, 34.40), 4490)) p "
        "FROM rivers WHERE name = '渭河' ORDER BY geom <-> ST_SetSRID(ST_MakePoint(108.94, 34.40), 4490) LIMIT 1) q"
    )).one()  # fmt: skip
    return float(row[0]), float(row[1])


@pytest.fixture
def wei_cells(session: Session, settings: Settings, tmp_path: Path) -> tuple[float, float]:
    center = wei_point(session)
    ortho = relocate(PIX4D, tmp_path / "wei.tif", crs="EPSG:4547", center_lonlat=center)
    ingest_orthophoto(session, ortho, store_dir=settings.imagery.store_dir, actor="tester", sortie="WEI-1")
    s = settings.imagery
    layout = cells.build_cells(session, "HH", landward_m=s.landward_m, waterward_m=s.waterward_m, cell_m=s.cell_m)
    assert layout.created >= 1
    return center


def test_cells_cover_the_imagery_in_the_corridor(session: Session, settings: Settings, wei_cells):
    s = settings.imagery
    features = cells.cells_geojson(session, scope=ALL)["features"]
    area = sum(session.execute(text("SELECT sum(area_m2) FROM interpretation_cells")).scalar_one() for _ in [0])
    # the ortho (≈56,600 m² of valid pixels) lies wholly in the corridor, so the cells cover exactly it
    assert area == pytest.approx(56600, rel=0.02)
    assert all(f["properties"]["status"] == "todo" for f in features)
    again = cells.build_cells(session, "HH", landward_m=s.landward_m, waterward_m=s.waterward_m, cell_m=s.cell_m)
    assert again.created == 0 and again.updated == len(features)  # idempotent, status kept
    # a corridor of 10 m around the river line holds far less of the image
    narrow = cells.build_cells(session, "CJ", landward_m=5, waterward_m=5, cell_m=s.cell_m)
    assert narrow.created == 0  # the Wei is not in the Yangtze basin


def _analyst_cell(session: Session, analyst: str = "ana"):
    cell = cells.next_cell(session, analyst=analyst, scope=ALL)
    assert cell is not None and cell.status is CellStatus.IN_PROGRESS and cell.analyst == analyst
    return cell


def _point_in(cell, dx: float = 0.0) -> dict:
    p = to_shape(cell.geom).representative_point()
    return mapping(Point(p.x + dx, p.y))


def test_marks_review_and_candidates(session: Session, wei_cells):
    cell = _analyst_cell(session)
    assert cells.next_cell(session, analyst="ana", scope=ALL).id == cell.id  # the same cell until it is done
    other = cells.next_cell(session, analyst="bob", scope=ALL)
    assert other is None or other.id != cell.id
    one = interpretation.add_mark(session, cell.id, MarkKind.POINT,
                                  MarkInput(_point_in(cell), type_guess="4", confidence="high", note="管口"),
                                  actor="ana", scope=ALL)  # fmt: skip
    two = interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(_point_in(cell, 0.00002)),
                                  actor="ana", scope=ALL)
    c = to_shape(cell.geom).representative_point()
    zone = box(c.x - 0.0001, c.y - 0.0001, c.x + 0.0001, c.y + 0.0001)
    area = interpretation.add_mark(session, cell.id, MarkKind.AREA,
                                   MarkInput(mapping(zone), area_kind="bridge", note="桥下"),
                                   actor="ana", scope=ALL)  # fmt: skip
    assert one.orthophoto_id is not None and area.orthophoto_id == one.orthophoto_id
    with pytest.raises(InvalidInput, match="Point"):
        interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(mapping(zone)), actor="ana", scope=ALL)
    with pytest.raises(InvalidInput, match="outside the cell"):
        interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(mapping(Point(110, 35))),
                                actor="ana", scope=ALL)
    with pytest.raises(PermissionDenied):
        interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(_point_in(cell)), actor="bob", scope=ALL)
    interpretation.update_mark(session, two.id, MarkInput(_point_in(cell, 0.00003), confidence="low"),
                               actor="ana", scope=ALL)
    extra = interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(_point_in(cell)),
                                    actor="ana", scope=ALL)
    interpretation.delete_mark(session, extra.id, actor="ana", scope=ALL)
    with pytest.raises(InvalidTransition):  # review waits for the analyst to finish
        interpretation.review_mark(session, one.id, "accept", actor="rev", scope=ALL)
    cells.finish_cell(session, cell.id, actor="ana", scope=ALL)
    with pytest.raises(PermissionDenied):
        interpretation.review_mark(session, one.id, "accept", actor="ana", scope=ALL)
    with pytest.raises(InvalidInput, match="why"):
        interpretation.review_mark(session, two.id, "reject", actor="rev", scope=ALL)
    accepted = interpretation.review_mark(session, one.id, "accept", actor="rev", scope=ALL)
    interpretation.review_mark(session, two.id, "reject", actor="rev", scope=ALL, reason="阴影，不是管口")
    with pytest.raises(Conflict):
        cells.finish_review(session, cell.id, actor="rev", scope=ALL)
    interpretation.review_mark(session, area.id, "accept", actor="rev", scope=ALL)
    with pytest.raises(Conflict):
        interpretation.review_mark(session, one.id, "reject", actor="rev", scope=ALL, reason="again")
    assert cells.finish_review(session, cell.id, actor="rev", scope=ALL).status is CellStatus.REVIEWED
    outfall = session.get(Outfall, accepted.outfall_id)
    assert outfall is not None
    assert (outfall.status, outfall.found_by, outfall.type_code) == (OutfallStatus.CANDIDATE, SurveyLevel.DRONE, "4")
    assert area.outfall_id is None and area.review is MarkReview.ACCEPTED
    [ana] = [a for a in interpretation.agreement_by_analyst(session, scope=ALL) if a.analyst == "ana"]
    assert (ana.marks, ana.reviewed, ana.accepted, ana.rejected, ana.agreement) == (3, 3, 2, 1, 0.667)


def test_reviewer_edit_keeps_the_analysts_version(session: Session, wei_cells):
    cell = _analyst_cell(session)
    mark = interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(_point_in(cell), type_guess="9"),
                                   actor="ana", scope=ALL)  # fmt: skip
    cells.finish_cell(session, cell.id, actor="ana", scope=ALL)
    change = MarkInput(_point_in(cell, 0.00001), type_guess="2", confidence="high")
    edited = interpretation.review_mark(session, mark.id, "edit", actor="rev", scope=ALL, edit=change)
    assert edited.review is MarkReview.EDITED and edited.original["properties"]["type_guess"] == "9"
    assert session.get(Outfall, edited.outfall_id).type_code == "2"  # type: ignore[union-attr]


def test_cells_and_marks_of_another_area_are_not_found(session: Session, wei_cells):
    """The imagery lies on the Wei near Xi'an: the province and Xi'an see it, a county of Yulin or a basin
    elsewhere does not, whether reading, marking, reviewing or taking the next cell."""
    xian, province = Scope(area_codes=("610100",)), Scope(area_codes=("610000",))
    yulin, yangtze = Scope(area_codes=("610802",)), Scope(area_codes=("610000",), basin_codes=("CJ",))
    total = cells.cell_progress(session, scope=ALL).total
    assert cells.cell_progress(session, scope=xian).total == cells.cell_progress(session, scope=province).total == total
    assert cells.cell_progress(session, scope=yulin).total == cells.cell_progress(session, scope=yangtze).total == 0
    assert cells.cells_geojson(session, scope=yulin)["features"] == []
    assert cells.next_cell(session, analyst="yl", scope=yulin) is None
    cell = cells.next_cell(session, analyst="ana", scope=xian)
    assert cell is not None
    assert cells.cells_geojson(session, scope=Scope(area_codes=("610000",), basin_codes=("HH",)))["features"]
    with pytest.raises(NotFound):
        cells.get_cell(session, cell.id, scope=yulin)
    with pytest.raises(NotFound):
        interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(_point_in(cell)), actor="ana", scope=yulin)
    mark = interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(_point_in(cell)),
                                   actor="ana", scope=xian)
    with pytest.raises(NotFound):
        interpretation.get_mark(session, mark.id, scope=yulin)
    with pytest.raises(NotFound):
        interpretation.update_mark(session, mark.id, MarkInput(_point_in(cell)), actor="ana", scope=yulin)
    with pytest.raises(NotFound):
        interpretation.delete_mark(session, mark.id, actor="ana", scope=yulin)
    with pytest.raises(NotFound):
        interpretation.cell_marks(session, cell.id, scope=yulin)
    with pytest.raises(NotFound):
        cells.finish_cell(session, cell.id, actor="ana", scope=yulin)
    cells.finish_cell(session, cell.id, actor="ana", scope=xian)
    assert interpretation.cells_to_review(session, reviewer="rev", scope=yulin) == []
    assert [c.id for c in interpretation.cells_to_review(session, reviewer="rev", scope=province)] == [cell.id]
    with pytest.raises(NotFound):
        interpretation.review_mark(session, mark.id, "accept", actor="rev", scope=yulin)
    with pytest.raises(NotFound):
        cells.finish_review(session, cell.id, actor="rev", scope=yulin)
    assert interpretation.agreement_by_analyst(session, scope=yulin) == []
    assert [a.marks for a in interpretation.agreement_by_analyst(session, scope=xian)] == [1]
