"""The imagery pages and JSON through the Flask test client: tiles, the analyst's marks API, review, tasks and
their downloads, the yield report; errors as JSON, never a 500."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from geoalchemy2.shape import to_shape
from PIL import Image
from shapely import box
from shapely.geometry import mapping
from sqlalchemy.orm import Session

from imagery import cells
from imagery.ingest import ingest_orthophoto
from imagery.synthetic import relocate
from imagery.tiles import TRANSPARENT_PNG
from outfalls.config import Settings
from outfalls.models import Outfall
from outfalls.scope import Scope
from outfalls.types import OutfallStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ALL = Scope.national()
PIX4D = FIXTURES / "imagery" / "riotiler_pix4d_alpha_nodata.tif"


@pytest.fixture
def cell_id(session: Session, settings: Settings, tmp_path: Path) -> int:
    from tests.db.test_imagery_interpretation import wei_point

    ortho = relocate(PIX4D, tmp_path / "wei.tif", crs="EPSG:4547", center_lonlat=wei_point(session))
    ingest_orthophoto(session, ortho, store_dir=settings.imagery.store_dir, actor="t", sortie="WEI-1")
    s = settings.imagery
    cells.build_cells(session, "HH", landward_m=s.landward_m, waterward_m=s.waterward_m, cell_m=s.cell_m)
    features = cells.cells_geojson(session, scope=ALL)["features"]
    return int(max(features, key=lambda f: to_shape_area(f))["id"])


def to_shape_area(feature: dict) -> float:
    from shapely.geometry import shape

    return float(shape(feature["geometry"]).area)


def post_json(client: FlaskClient, url: str, body: dict, method: str = "post"):
    return getattr(client, method)(url, json=body, headers={"X-CSRF-Token": client.csrf, "Accept": "application/json"})  # type: ignore[attr-defined]


def test_tiles_over_and_outside_the_imagery(session: Session, cell_id: int, client: FlaskClient, anon_client):
    import morecantile

    feature = cells.cells_geojson(session, scope=ALL, cell_id=cell_id)["features"][0]
    from shapely.geometry import shape

    p = shape(feature["geometry"]).representative_point()
    t = morecantile.tms.get("WebMercatorQuad").tile(p.x, p.y, 20)
    over = client.get(f"/imagery/tiles/{t.z}/{t.x}/{t.y}.png")
    assert over.status_code == 200 and over.mimetype == "image/png"
    assert Image.open(io.BytesIO(over.data)).convert("RGBA").getextrema()[3][1] == 255
    empty = client.get("/imagery/tiles/10/100/100.png")
    assert empty.status_code == 200 and empty.data == TRANSPARENT_PNG
    assert client.get("/imagery/tiles/2/9/9.png").data == TRANSPARENT_PNG
    assert anon_client.get(f"/imagery/tiles/{t.z}/{t.x}/{t.y}.png").status_code in (302, 401)


def test_analyst_marks_reviewer_decides_crew_downloads(session: Session, cell_id: int, make_user, login_as):
    analyst = login_as(make_user("ana", roles=("analyst",), areas=("610000",)))
    reviewer = login_as(make_user("rev", roles=("reviewer", "analyst"), areas=("610000",)))
    crew = login_as(make_user("crew1", roles=("crew",), areas=("610100",)))
    page = analyst.post("/imagery/next", data={"csrf_token": analyst.csrf})  # type: ignore[attr-defined]
    assert page.status_code == 302 and "/imagery/cells/" in page.location
    assert analyst.get("/imagery/next").location == page.location  # the cell in progress, reopened
    opened = int(page.location.rsplit("/", 1)[1])
    html = analyst.get(f"/imagery/cells/{opened}").get_data(as_text=True)
    assert 'data-mode="edit"' in html and "imagery-cell.js" in html
    shape = to_shape(cells.get_cell(session, opened, scope=ALL).geom)
    c = shape.representative_point()
    url = f"/api/imagery/cells/{opened}/marks"
    bad = post_json(analyst, url, {"kind": "point", "geometry": {"type": "Point", "coordinates": [10, 10]}})
    assert bad.status_code == 422 and bad.json["error"] == "invalid_input" and "outside" in bad.json["message"]
    assert post_json(analyst, url, {"kind": "blob"}).status_code == 422
    one = post_json(analyst, url, {"kind": "point", "geometry": mapping(c), "type_guess": "4", "confidence": "high"})
    assert one.status_code == 201
    two = post_json(analyst, url, {"kind": "point", "geometry": mapping(c), "note": "阴影?"})
    zone = box(c.x - 0.00002, c.y - 0.00002, c.x + 0.00002, c.y + 0.00002)
    area = post_json(analyst, url, {"kind": "area", "geometry": mapping(zone), "area_kind": "bridge"})
    assert area.status_code == 201
    moved = post_json(analyst, f"/api/imagery/marks/{two.json['id']}", {"geometry": mapping(c), "confidence": "low"},
                      method="put")  # fmt: skip
    assert moved.status_code == 200 and moved.json["properties"]["confidence"] == "low"
    assert post_json(reviewer, f"/api/imagery/marks/{one.json['id']}/review", {"decision": "accept"}).status_code == 409
    assert analyst.post(f"/imagery/cells/{opened}/done", data={"csrf_token": analyst.csrf}).status_code == 302  # type: ignore[attr-defined]
    assert f"/imagery/cells/{opened}" in reviewer.get("/imagery/review").get_data(as_text=True)
    own = post_json(analyst, f"/api/imagery/marks/{one.json['id']}/review", {"decision": "accept"})
    assert own.status_code == 403  # an analyst without the reviewer role
    ok = post_json(reviewer, f"/api/imagery/marks/{one.json['id']}/review", {"decision": "accept"})
    assert ok.status_code == 200 and ok.json["properties"]["outfall_id"]
    no_reason = post_json(reviewer, f"/api/imagery/marks/{two.json['id']}/review", {"decision": "reject"})
    assert no_reason.status_code == 422
    post_json(reviewer, f"/api/imagery/marks/{two.json['id']}/review", {"decision": "reject", "reason": "阴影"})
    post_json(reviewer, f"/api/imagery/marks/{area.json['id']}/review", {"decision": "accept"})
    assert reviewer.post(f"/imagery/cells/{opened}/reviewed", data={"csrf_token": reviewer.csrf}).status_code == 302  # type: ignore[attr-defined]
    agreement = reviewer.get("/api/imagery/agreement").json
    assert [a for a in agreement if a["analyst"] == "ana"][0]["agreement"] == pytest.approx(0.667, abs=0.001)

    made = reviewer.post("/imagery/tasks", data={"csrf_token": reviewer.csrf, "crew": "crew1", "name": "渭河 1"})  # type: ignore[attr-defined]
    assert made.status_code == 302
    task_url = made.location
    assert "渭河 1" in crew.get("/imagery/tasks").get_data(as_text=True)
    for fmt, kind in (("gpx", "gpx"), ("kml", "kml"), ("csv", "csv"), ("xlsx", "spreadsheetml")):
        got = crew.get(f"{task_url}.{fmt}")
        assert got.status_code == 200 and kind in got.mimetype and got.data
    assert crew.get(f"{task_url}.pdf").status_code == 422
    outfall_id = ok.json["properties"]["outfall_id"]
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 110, 90)).save(small, "JPEG")  # small: the test client keeps it in memory
    small.seek(0)
    form = {"csrf_token": crew.csrf, "reason": "是闸门", "photo": (small, "gate.jpg")}  # type: ignore[attr-defined]
    rejected = crew.post(f"{task_url}/reject/{outfall_id}", data=form, content_type="multipart/form-data")
    assert rejected.status_code == 302
    assert session.get(Outfall, outfall_id).status is OutfallStatus.REJECTED  # type: ignore[union-attr]
    report = crew.get("/api/imagery/yield").json
    assert [r for r in report["sorties"] if r["name"] == "WEI-1"][0]["rejected"] == 1
    for page_url in ("/imagery", "/imagery/yield", task_url, "/imagery/review"):
        assert reviewer.get(page_url).status_code == 200


def test_claiming_a_cell_is_a_post_and_get_changes_nothing(session: Session, cell_id: int, make_user, login_as):
    analyst = login_as(make_user("ana", roles=("analyst",), areas=("610000",)))
    before = cells.cell_progress(session, scope=ALL)
    assert before.todo >= 1
    for _ in range(2):
        got = analyst.get("/imagery/next")
        assert got.status_code == 302 and got.location.endswith("/imagery")  # nothing of theirs: the overview
    assert cells.cell_progress(session, scope=ALL) == before
    assert cells.current_cell(session, analyst="ana", scope=ALL) is None
    assert 'method="post" action="/imagery/next"' in analyst.get("/imagery").get_data(as_text=True)
    assert analyst.post("/imagery/next").status_code == 403  # no CSRF token, no cell
    assert cells.cell_progress(session, scope=ALL) == before
    claimed = analyst.post("/imagery/next", data={"csrf_token": analyst.csrf})  # type: ignore[attr-defined]
    assert claimed.status_code == 302 and "/imagery/cells/" in claimed.location
    assert cells.cell_progress(session, scope=ALL).in_progress == before.in_progress + 1


def test_another_citys_cells_marks_tasks_and_footprints_are_not_found(
    session: Session, cell_id: int, make_user, login_as
):
    """Everything lies on the Wei in Xi'an; a county of Yulin sees none of it, a county user of Xi'an's own
    province-wide colleagues do."""
    analyst = login_as(make_user("ana", roles=("analyst",), areas=("610000",)))
    reviewer = login_as(make_user("rev", roles=("reviewer",), areas=("610000",)))
    make_user("crew1", roles=("crew",), areas=("610100",))
    opened = int(analyst.post("/imagery/next", data={"csrf_token": analyst.csrf}).location.rsplit("/", 1)[1])  # type: ignore[attr-defined]
    c = to_shape(cells.get_cell(session, opened, scope=ALL).geom).representative_point()
    mark = post_json(analyst, f"/api/imagery/cells/{opened}/marks", {"kind": "point", "geometry": mapping(c)})
    assert mark.status_code == 201
    assert analyst.post(f"/imagery/cells/{opened}/done", data={"csrf_token": analyst.csrf}).status_code == 302  # type: ignore[attr-defined]
    accepted = post_json(reviewer, f"/api/imagery/marks/{mark.json['id']}/review", {"decision": "accept"})
    assert accepted.status_code == 200
    task_url = reviewer.post("/imagery/tasks", data={"csrf_token": reviewer.csrf, "crew": "crew1"}).location  # type: ignore[attr-defined]
    task_id = int(task_url.rsplit("/", 1)[1])

    yulin = login_as(make_user("yl", roles=("analyst", "reviewer", "crew", "leader"), areas=("610802",)))
    for url in (f"/imagery/cells/{opened}", f"/imagery/cells/{cell_id}", f"/api/imagery/cells/{opened}/marks",
                f"/imagery/tasks/{task_id}", f"/api/imagery/tasks/{task_id}", f"/imagery/tasks/{task_id}.csv"):
        assert yulin.get(url, headers={"Accept": "application/json"}).status_code == 404, url
    for method, url, body in (("put", f"/api/imagery/marks/{mark.json['id']}", {"geometry": mapping(c)}),
                              ("post", f"/api/imagery/marks/{mark.json['id']}/review", {"decision": "reject",
                                                                                           "reason": "x"}),
                              ("post", f"/api/imagery/cells/{opened}/marks", {"kind": "point",
                                                                              "geometry": mapping(c)}),
                              ("delete", f"/api/imagery/marks/{mark.json['id']}", {})):  # fmt: skip
        assert post_json(yulin, url, body, method=method).status_code == 404, url
    assert yulin.post(f"/imagery/cells/{opened}/reviewed", data={"csrf_token": yulin.csrf},  # type: ignore[attr-defined]
                      headers={"Accept": "application/json"}).status_code == 404
    assert yulin.get("/api/imagery/footprints").json["features"] == []
    assert yulin.get("/api/imagery/cells").json["features"] == []
    assert yulin.get("/api/imagery/flights").json["sorties"] == []
    assert yulin.get("/api/imagery/agreement").json == []
    assert f"/imagery/tasks/{task_id}" not in yulin.get("/imagery/tasks").get_data(as_text=True)
    assert "/imagery/cells/" not in yulin.get("/imagery/review").get_data(as_text=True)
    assert "crew1" not in yulin.get("/imagery/tasks").get_data(as_text=True)  # not offered another city's crew
    claimed = yulin.post("/imagery/next", data={"csrf_token": yulin.csrf})  # type: ignore[attr-defined]
    assert claimed.status_code == 302 and "none_left" in claimed.location  # no cell of Xi'an is handed out

    xian = login_as(make_user("xa", roles=("analyst", "leader"), areas=("610100",)))
    assert xian.get(f"/imagery/cells/{opened}").status_code == 200
    assert len(xian.get("/api/imagery/footprints").json["features"]) == 1
    assert xian.get(f"/imagery/tasks/{task_id}").status_code == 200


def test_with_no_imagery_the_analyst_is_told_how_to_load_it(make_user, login_as):
    analyst = login_as(make_user("ana0", roles=("analyst",), areas=("610000",)))
    claimed = analyst.post("/imagery/next", data={"csrf_token": analyst.csrf})  # type: ignore[attr-defined]
    assert claimed.status_code == 302 and "none_left" in claimed.location
    page = analyst.get(claimed.location).get_data(as_text=True)
    assert 'id="no-imagery"' in page and "outfalls imagery ingest" in page and "outfalls imagery cells" in page
    assert "没有可判读的无人机影像" in page or "no drone imagery" in page
    assert 'id="imagery-message"' not in page  # not "every cell is taken": there is none
