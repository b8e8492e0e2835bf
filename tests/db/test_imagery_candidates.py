"""Accepted marks to crews: walking routes, GPX/KML/CSV/XLSX downloads the survey intake reads back unchanged,
confirmation through the intake's review queue, "not an outfall" with a photo, and the yield report."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
from geoalchemy2.shape import to_shape
from shapely import Point, box
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from imagery import candidates, cells, interpretation
from imagery.ingest import ingest_orthophoto
from imagery.interpretation import MarkInput
from imagery.models import MarkKind
from imagery.synthetic import relocate
from outfalls.config import Settings
from outfalls.errors import InvalidInput, InvalidTransition, NotFound
from outfalls.models import Attachment, Outfall, ReviewItem
from outfalls.scope import Scope
from outfalls.store import FileStore
from outfalls.survey.intake import import_table
from outfalls.survey.readers import read_upload
from outfalls.types import OutfallStatus, Role, SurveyLevel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ALL = Scope.national()
PIX4D = FIXTURES / "imagery" / "riotiler_pix4d_alpha_nodata.tif"
PHOTO = FIXTURES / "photos" / "geoapi_image_no_location_data.jpg"


@pytest.fixture
def reviewed(session: Session, settings: Settings, tmp_path: Path, make_user):
    """A reviewed cell on the 渭河 near Xi'an: three accepted points, one rejected point, one sensitive area."""
    from tests.db.test_imagery_interpretation import wei_point  # the same spot as the interpretation tests

    center = wei_point(session)
    ortho = relocate(PIX4D, tmp_path / "wei.tif", crs="EPSG:4547", center_lonlat=center)
    ingest_orthophoto(session, ortho, store_dir=settings.imagery.store_dir, actor="t", sortie="WEI-1")
    s = settings.imagery
    cells.build_cells(session, "HH", landward_m=s.landward_m, waterward_m=s.waterward_m, cell_m=s.cell_m)
    cell = cells.next_cell(session, analyst="ana", scope=ALL)
    assert cell is not None
    shape = to_shape(cell.geom)
    c = shape.representative_point()
    west, _s, east, _n = shape.bounds
    inside = [p for p in (Point(west + (east - west) * k / 40, c.y) for k in range(1, 40)) if shape.contains(p)]
    assert len(inside) >= 8
    # drawn out of order along the river: east, west, middle, and one more that is rejected
    points = [inside[-2], inside[1], inside[len(inside) // 2], inside[len(inside) // 2 + 2]]
    marks = [interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(mapping(p), type_guess="4"),
                                     actor="ana", scope=ALL) for p in points]  # fmt: skip
    zone = box(c.x - 0.00003, c.y - 0.00003, c.x + 0.00003, c.y + 0.00003)
    area = interpretation.add_mark(session, cell.id, MarkKind.AREA, MarkInput(mapping(zone), area_kind="bridge"),
                                   actor="ana", scope=ALL)  # fmt: skip
    cells.finish_cell(session, cell.id, actor="ana", scope=ALL)
    for m in marks[:3]:
        interpretation.review_mark(session, m.id, "accept", actor="rev", scope=ALL)
    interpretation.review_mark(session, marks[3].id, "reject", actor="rev", scope=ALL, reason="阴影")
    interpretation.review_mark(session, area.id, "accept", actor="rev", scope=ALL)
    make_user("crew1", roles=("crew",), areas=("610100",))
    return {"marks": marks, "area": area, "points": points}


def test_route_order_and_downloads_read_back_by_the_survey_intake(
    session: Session, settings: Settings, reviewed, make_user
):
    make_user("plainleader", roles=("leader",))
    with pytest.raises(InvalidInput, match="not a survey crew"):
        candidates.create_task(session, "plainleader", actor="rev", scope=ALL)
    task = candidates.create_task(session, "crew1", actor="rev", scope=ALL)
    stops = candidates.task_stops(session, task.id)
    assert [s.kind for s in stops].count("area") == 1 and len(stops) == 4
    xs = [s.lon for s in stops if s.kind == "point"]
    assert xs == sorted(xs) or xs == sorted(xs, reverse=True)  # along the river, not in drawing order
    assert candidates.open_stops(session, scope=ALL) == []  # everything was given out
    with pytest.raises(InvalidInput):
        candidates.create_task(session, "crew1", actor="rev", scope=ALL)
    yulin = Scope(area_codes=("610802",))
    with pytest.raises(NotFound):
        candidates.get_task(session, task.id, viewer="crew1", roles=frozenset({Role.CREW}), scope=yulin)
    assert candidates.list_tasks(session, scope=yulin) == []
    assert [t.id for t, _, _ in candidates.list_tasks(session, scope=Scope(area_codes=("610100",)))] == [task.id]

    gpx = ET.fromstring(candidates.task_gpx(task, stops))
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert len(gpx.findall("g:wpt", ns)) == 3 and len(gpx.findall("g:rte/g:rtept", ns)) == 4
    kml = ET.fromstring(candidates.task_kml(task, stops))
    k = {"k": "http://www.opengis.net/kml/2.2"}
    assert len(kml.findall(".//k:Point", k)) == 3 and len(kml.findall(".//k:Polygon", k)) == 1

    csv_table = read_upload(candidates.task_csv(stops, "crew1"), "route.csv")
    xlsx_table = read_upload(candidates.task_xlsx(stops, "crew1"), "route.xlsx")
    assert len(csv_table.rows) == len(xlsx_table.rows) == 3
    report = import_table(session, csv_table, settings=settings, actor="crew1", crew="crew1",
                          scope=Scope(area_codes=("610100",)))  # fmt: skip
    # each row of the task sits on its own candidate: the crew's visit confirms it (found by drone, confirmed on foot)
    assert (report.accepted, report.rejected, report.linked, report.queued_for_review, report.new_outfalls) == (
        3, [], 3, 0, 0,
    )  # fmt: skip
    assert not list(session.scalars(select(ReviewItem).where(ReviewItem.batch_id == report.batch_id)))
    again = import_table(session, xlsx_table, settings=settings, actor="crew1", crew="crew1")
    assert again.already_received == 3 and again.accepted == 0  # the same record ids: nothing twice

    outfall_id = report.outfall_ids[0]
    outfall = session.get(Outfall, outfall_id)
    assert outfall is not None
    assert (outfall.found_by, outfall.status) == (SurveyLevel.DRONE, OutfallStatus.SURVEYED)


def test_not_an_outfall_with_a_photo_and_the_yield(session: Session, settings: Settings, reviewed):
    store = FileStore(settings.storage.store_dir)
    first, second = reviewed["marks"][0], reviewed["marks"][1]
    with pytest.raises(InvalidInput, match="what is there"):
        candidates.reject_candidate(session, store, first.outfall_id, io.BytesIO(PHOTO.read_bytes()), PHOTO.name,
                                    reason=" ", actor="crew1", scope=Scope.national())  # fmt: skip
    attachment = candidates.reject_candidate(session, store, first.outfall_id, io.BytesIO(PHOTO.read_bytes()),
                                             PHOTO.name, reason="是灌溉渠闸门", actor="crew1",
                                             scope=Scope.national())  # fmt: skip
    assert session.get(Outfall, first.outfall_id).status is OutfallStatus.REJECTED  # type: ignore[union-attr]
    assert session.get(Attachment, attachment.id).outfall_id == first.outfall_id  # type: ignore[union-attr]
    with pytest.raises(InvalidTransition):
        candidates.reject_candidate(session, store, first.outfall_id, io.BytesIO(PHOTO.read_bytes()), PHOTO.name,
                                    reason="again", actor="crew1", scope=Scope.national())  # fmt: skip
    from outfalls.catalogue.lifecycle import record_event
    from outfalls.types import EventKind

    o = session.get(Outfall, second.outfall_id)
    record_event(session, o.id, EventKind.SURVEYED, actor="crew1", scope=Scope.national(),  # type: ignore[union-attr]
                 expected_version=o.version)  # type: ignore[union-attr]  # fmt: skip
    report = candidates.yield_report(session, scope=Scope.national())
    [wei] = [r for r in report["basins"] if r.marks]
    assert (wei.marks, wei.rejected_in_review, wei.sensitive_areas) == (4, 1, 1)
    assert (wei.candidates, wei.confirmed, wei.rejected, wei.pending) == (3, 1, 1, 1)
    [sortie] = report["sorties"]
    assert (sortie.name, sortie.candidates, sortie.confirmed, sortie.rejected, sortie.pending) == ("WEI-1", 3, 1, 1, 1)
    assert wei.confirmed_share == 0.5
    regional = candidates.yield_report(session, scope=Scope(area_codes=("610900",)))  # Ankang: none of these
    assert all(r.candidates == 0 for r in regional["basins"])


def test_marks_go_only_to_a_crew_of_their_area(session: Session, reviewed, make_user):
    make_user("ylcrew", roles=("crew",), areas=("610802",))
    with pytest.raises(InvalidInput, match="area of ylcrew"):
        candidates.create_task(session, "ylcrew", actor="rev", scope=ALL)
    mark_id = reviewed["area"].id
    with pytest.raises(InvalidInput, match="outside the area"):
        candidates.create_task(session, "ylcrew", [mark_id], actor="rev", scope=ALL)
    yulin = Scope(area_codes=("610802",))
    assert candidates.open_stops(session, scope=yulin) == []
    with pytest.raises(InvalidInput, match="not an accepted mark"):
        candidates.create_task(session, "crew1", [mark_id], actor="yl", scope=yulin)
    assert candidates.crews_for(session, yulin) == ["ylcrew"]
    assert candidates.crews_for(session, Scope(area_codes=("610100",))) == ["crew1"]
    assert candidates.create_task(session, "crew1", [mark_id], actor="rev", scope=Scope(area_codes=("610100",)))


def test_route_tables_never_hold_a_formula() -> None:
    """A candidate renamed by a crew's file to something a spreadsheet would run: neutralised in the CSV (a single
    quote in front), text in the XLSX; coordinates stay numbers."""
    import csv
    import io

    import openpyxl

    names = ("=HYPERLINK(\"http://x.example\",\"点我\")", "=cmd|' /C calc'!A0", "+1+2", "@SUM(1,1)", "-2+3")
    stops = [candidates.Stop(seq=i, mark_id=i, kind="point", outfall_id=i, name=name, status="candidate",
                             type_code="4", lon=-108.5, lat=34.4, river="=渭河", note="-1", area_kind=None,
                             area_wkt=None) for i, name in enumerate(names, start=1)]  # fmt: skip
    rows = list(csv.reader(io.StringIO(candidates.task_csv(stops, "@crew").decode("utf-8-sig"), newline="")))[1:]
    assert [r[3] for r in rows] == ["'" + n for n in names]
    assert {(r[1], r[5], r[6], r[12]) for r in rows} == {("-108.5", "'=渭河", "'@crew", "'-1")}
    ws = openpyxl.load_workbook(io.BytesIO(candidates.task_xlsx(stops, "@crew"))).active
    assert not [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert [r[3].value for r in ws.iter_rows(min_row=2)] == list(names)
    assert {r[1].value for r in ws.iter_rows(min_row=2)} == {-108.5}


def test_public_reports_count_in_the_yield_as_their_own_provenance(session: Session, make_outfall):
    from outfalls.catalogue.lifecycle import HistoryItem
    from outfalls.types import EventKind

    make_outfall(found_by=SurveyLevel.PUBLIC)  # a citizen's report still waiting for a crew
    make_outfall(found_by=SurveyLevel.PUBLIC, history=(HistoryItem(EventKind.SURVEYED, date(2022, 5, 3)),))
    make_outfall(found_by=SurveyLevel.FOOT)
    report = candidates.yield_report(session, scope=Scope.national())
    [row] = [r for r in report["basins"] if r.public_reports]
    assert (row.public_reports, row.public_confirmed, row.foot_only, row.candidates) == (2, 1, 1, 0)
    assert row.as_dict()["public_reports"] == 2
    assert all(r.public_reports == 0 for r in report["sorties"])
