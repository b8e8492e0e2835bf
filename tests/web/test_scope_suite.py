"""Cross-area access: a county user who holds every role but administration must not read, change or even learn
of another area's objects, through any route.

Attacks covered:

- **Id guessing on every route** (``test_another_areas_objects_are_not_found_on_any_route``): every URL rule of
  the app that takes an id (outfall, attachment, job, batch, review item, cell, mark, task, token, OGC feature)
  is called, with every method it accepts, with the id of an object of another city; the answer must be 404,
  must not name the object, and the database must be unchanged. Writes carry a valid CSRF token and a body that
  would be accepted for one's own object, so the only reason left to refuse them is the scope; sent bare (the
  CSRF token only) they may be refused for their input, but exactly as for an id of nothing at all. The same
  calls by a user of that city are not 404, so the ids are real and the URLs right.
- **New routes** (``test_every_route_parameter_is_known``): a route with a parameter this suite cannot fill fails
  the suite, so a new id-taking route is covered the day it appears.
- **Administration by id** (``test_user_routes_are_for_administrators_only``): ``user_id`` routes refuse
  every other role, whoever the user is.
- **Ids in bodies and query strings** (``test_another_areas_ids_in_forms_are_not_found``): one's own object
  with another area's id in the form (merge into it, bulk work on it).
- **Lists, maps, tiles and feeds** (``test_lists_do_not_show_another_areas_objects``): the list endpoints, the
  GeoJSON and OGC feeds and the vector tiles do not carry another area's objects, which the city's own user sees;
  the imagery tiles over another area's orthophoto are empty (``test_imagery_tiles_…``, not yet the case).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from flask import Flask, url_for
from flask.testing import FlaskClient
from geoalchemy2.shape import to_shape
from shapely import Point
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter, Rule
from werkzeug.test import TestResponse

from imagery import candidates, cells, interpretation
from imagery.ingest import ingest_orthophoto
from imagery.interpretation import MarkInput
from imagery.models import MarkKind
from imagery.synthetic import relocate
from outfalls import accounts, jobs
from outfalls.config import Settings
from outfalls.models import Outfall, ReviewItem, User
from outfalls.registers.jobs import JOB_KIND as EXPORT_JOB
from outfalls.scope import Scope
from outfalls.store import FileStore, attach_file
from outfalls.survey.intake import import_table
from outfalls.survey.readers import read_upload
from outfalls.types import JobStatus, Role

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PIX4D = FIXTURES / "imagery" / "riotiler_pix4d_alpha_nodata.tif"
PHOTO = FIXTURES / "photos" / "geoapi_image_no_location_data.jpg"
ALL = Scope.national()

OWN_AREA = "610902"  # 汉滨区 (Ankang): the county user's area
HANBIN = (109.03, 32.69)
FOREIGN_AREA = "610100"  # 西安市: where every foreign object lies
LINTONG = (109.21, 34.37)  # 临潼区, in Xi'an
NON_ADMIN_ROLES = tuple(r.value for r in Role if r is not Role.ADMIN)

# Distinctive text of the foreign objects: none of it may reach the county user.
OUTFALL_NAME = "临潼区越界测试1#排口"
OTHER_OUTFALL_NAME = "临潼区越界测试2#排口"
BATCH_FILE = "西安越界批次.csv"
ROW_NAMES = ("西安越界行甲", "西安越界行乙")
TASK_NAME = "西安越界核查任务"
SORTIE = "XA-SCOPE-1"
FOREIGN_TEXT = (OUTFALL_NAME, OTHER_OUTFALL_NAME, BATCH_FILE, *ROW_NAMES, TASK_NAME, SORTIE)

# Tables whose rows a refused request must leave exactly as they were (sessions and the audit log may change).
WATCHED_TABLES = (
    "outfalls", "events", "observations", "observation_batches", "observation_links", "review_items",
    "attachments", "jobs", "api_tokens", "users", "user_roles", "user_scopes", "interpretation_cells",
    "imagery_marks", "verification_tasks", "verification_stops", "monitoring_visits", "sample_results",
    "trace_records", "trace_parties", "remediation_records", "standardisation_checks", "outfall_milestones",
    "survey_mappings", "progress_targets", "survey_tracks",
)  # fmt: skip


def database_state(session: Session) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the contents of every watched table (so an update counts, not only inserts)."""
    session.flush()
    state = {}
    for table in WATCHED_TABLES:
        row = session.execute(sa.text(
            f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM {table} t"
        )).one()  # fmt: skip
        state[table] = (int(row[0]), str(row[1]))
    return state


def changed_tables(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> list[str]:
    """The watched tables whose contents differ, with their row counts."""
    return [f"{t} {before[t][0]}→{after[t][0]} rows" for t in WATCHED_TABLES if before[t] != after[t]]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The web-mercator tile (x, y) holding a point at zoom ``z``."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@dataclass(frozen=True)
class Foreign:
    """Objects of Xi'an, made through the domain, and the Xi'an user who owns the personal ones (jobs, tokens)."""

    owner: User
    outfall: Outfall
    other_outfall: Outfall
    attachment_id: int
    batch_id: int
    item_id: int
    item_version: int
    cell_id: int
    mark_id: int
    mark_point: dict[str, Any]
    task_id: int
    task_outfall_id: int
    survey_job_id: int
    export_job_id: int
    token_id: int
    report_id: int
    report_photo_id: int


def _survey_csv() -> bytes:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["记录编号", "排污口名称", "经度", "纬度", "排口类型", "排入水体", "调查时间", "照片"])
    # two pipes 5 m apart: reconciliation cannot tell one outfall from two, so both wait for review
    out.writerow(["xa-1", ROW_NAMES[0], 108.990, 34.43, "4.8", "渭河", "2023-05-06 09:00", ""])
    out.writerow(["xa-2", ROW_NAMES[1], 108.99005, 34.43, "4.8", "渭河", "2023-05-06 09:05", ""])
    return buffer.getvalue().encode()


def _wei_point(session: Session) -> tuple[float, float]:
    from tests.db.test_imagery_interpretation import wei_point  # the imagery tests' spot on the 渭河 in Xi'an

    return wei_point(session)


@pytest.fixture
def foreign(session: Session, settings: Settings, tmp_path: Path, make_user, make_outfall) -> Foreign:
    owner = make_user("xian_all", roles=NON_ADMIN_ROLES, areas=(FOREIGN_AREA,))
    outfall = make_outfall(lonlat=LINTONG, name=OUTFALL_NAME)
    other = make_outfall(lonlat=(LINTONG[0] + 0.01, LINTONG[1]), name=OTHER_OUTFALL_NAME)
    store = FileStore(settings.storage.store_dir)
    with PHOTO.open("rb") as fh:
        attachment = attach_file(session, store, fh, name="西安越界照片.jpg", kind="photo", actor=owner.login,
                                 scope=ALL, outfall_id=outfall.id, media_type="image/jpeg")  # fmt: skip
    report = import_table(session, read_upload(_survey_csv(), BATCH_FILE), settings=settings, actor=owner.login,
                          crs="wgs84", file_name=BATCH_FILE)  # fmt: skip
    assert report.batch_id is not None and report.queued_for_review == 2
    item = session.scalars(sa.select(ReviewItem).where(ReviewItem.batch_id == report.batch_id)).first()
    assert item is not None

    # imagery on the Wei in Xi'an: a cell with an accepted mark (now a candidate on a crew's task) and one
    # mark still waiting for review
    center = _wei_point(session)
    ortho = relocate(PIX4D, tmp_path / "wei.tif", crs="EPSG:4547", center_lonlat=center)
    ingest_orthophoto(session, ortho, store_dir=settings.imagery.store_dir, actor="xian_all", sortie=SORTIE)
    s = settings.imagery
    cells.build_cells(session, "HH", landward_m=s.landward_m, waterward_m=s.waterward_m, cell_m=s.cell_m)
    cell = cells.next_cell(session, analyst="xian_ana", scope=ALL)
    assert cell is not None
    shape = to_shape(cell.geom)
    west, _south, east, _north = shape.bounds
    y = shape.representative_point().y
    inside = [p for p in (Point(west + (east - west) * k / 20, y) for k in range(1, 20)) if shape.contains(p)]
    accepted, pending = (
        interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(mapping(p), type_guess="4"),
                                actor="xian_ana", scope=ALL)
        for p in (inside[1], inside[-2])
    )  # fmt: skip
    cells.finish_cell(session, cell.id, actor="xian_ana", scope=ALL)
    interpretation.review_mark(session, accepted.id, "accept", actor="xian_rev", scope=ALL)
    task = candidates.create_task(session, owner.login, actor="xian_rev", scope=ALL, name=TASK_NAME)
    assert accepted.outfall_id is not None

    survey_job = jobs.create_job(session, "survey_import", actor=owner.login, input_name=BATCH_FILE)
    survey_job.status, survey_job.report = JobStatus.DONE, {"batch_id": report.batch_id}
    with PHOTO.open("rb") as fh:
        stored = store.put(fh)
    export_job = jobs.create_job(session, EXPORT_JOB, actor=owner.login, input_name="register-610100.xlsx")
    export_job.status = JobStatus.DONE
    export_job.report = {"sha256": stored.sha256, "format": "xlsx", "file": "register-610100.xlsx"}
    token, _plain = accounts.create_token(session, owner.login, name="西安的令牌", actor=owner.login)
    from outfalls.models import PublicReportPhoto
    from outfalls.public import reports

    sent = reports.submit_report(session, reports.ReportInput("临潼渭河边有一根管子在排黑水", LINTONG[0], LINTONG[1],
                                                              photos=(reports.ReportPhoto(PHOTO.name,
                                                                                          PHOTO.read_bytes()),)),
                                 settings.public, store_dir=settings.storage.store_dir,
                                 bbox=settings.region.bbox)  # fmt: skip
    session.flush()
    report_photo = session.scalar(select(PublicReportPhoto.id).where(PublicReportPhoto.report_id == sent.id))
    assert report_photo is not None
    return Foreign(
        owner=owner, outfall=outfall, other_outfall=other, attachment_id=attachment.id, batch_id=report.batch_id,
        item_id=item.id, item_version=item.version, cell_id=cell.id, mark_id=pending.id,
        mark_point=mapping(inside[len(inside) // 2]), task_id=task.id, task_outfall_id=accepted.outfall_id,
        survey_job_id=survey_job.id, export_job_id=export_job.id, token_id=token.id, report_id=sent.id,
        report_photo_id=report_photo,
    )  # fmt: skip


# Every id a route can take → the foreign object that fills it. A route parameter missing here fails
# test_every_route_parameter_is_known: add the new kind of object to ``foreign`` and to this table.
FOREIGN_IDS: dict[str, Callable[[Foreign, str], int | str]] = {
    "outfall_id": lambda f, endpoint: f.task_outfall_id if endpoint == "imagery.task_reject" else f.outfall.id,
    "attachment_id": lambda f, _e: f.attachment_id,
    "job_id": lambda f, endpoint: f.export_job_id if endpoint.startswith("registers.") else f.survey_job_id,
    "batch_id": lambda f, _e: f.batch_id,
    "item_id": lambda f, _e: f.item_id,
    "cell_id": lambda f, _e: f.cell_id,
    "mark_id": lambda f, _e: f.mark_id,
    "task_id": lambda f, _e: f.task_id,
    "token_id": lambda f, _e: f.token_id,
    "feature_id": lambda f, _e: str(f.outfall.id),  # an OGC feature is an outfall of the outfalls collection
    "report_id": lambda f, _e: f.report_id,  # a citizen's report placed in Xi'an
    "photo_id": lambda f, _e: f.report_photo_id,
}
ADMIN_IDS = {"user_id"}  # administration only: refused to every other role (test_user_routes_…)
TILE_COORDINATES = {"z", "x", "y"}  # not ids: the tiles are checked with the lists
NOT_IDS: dict[str, str] = {
    "fmt": "gpx", "code": "en", "name": "rivers", "filename": "css/app.css", "collection_id": "outfalls",
    "rest": "nothing-here", "client_id": "f-nothing-here", "slot": "near1",
    "ref": "0000000000000000", "receipt": "NOTHING0",  # public references: no scope, nothing private behind them
}  # fmt: skip


def _is_int(rule: Rule, arg: str) -> bool:
    return isinstance(rule._converters[arg], IntegerConverter)


def test_every_route_parameter_is_known(app: Flask):
    unknown = []
    for rule in app.url_map.iter_rules():
        for arg in sorted(rule.arguments):
            known_ints = {*FOREIGN_IDS, *ADMIN_IDS, *TILE_COORDINATES}
            if (_is_int(rule, arg) and arg not in known_ints) or (
                not _is_int(rule, arg) and arg not in NOT_IDS and arg not in FOREIGN_IDS
            ):
                unknown.append(f"{rule.rule} <{arg}>")
    assert unknown == [], "routes with parameters this suite cannot fill: teach FOREIGN_IDS/NOT_IDS about them"


def _url(app: Flask, rule: Rule, values: dict[str, Any]) -> str:
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


MISSING_ID = 2**31 - 1  # the largest id PostgreSQL's integer holds: no such object


def _values(rule: Rule, f: Foreign, *, missing: bool = False) -> dict[str, Any]:
    """The rule's parameters: the foreign objects' ids (``missing``: ids of nothing at all)."""
    return {
        a: (MISSING_ID if missing else FOREIGN_IDS[a](f, rule.endpoint)) if a in FOREIGN_IDS else NOT_IDS[a]
        for a in rule.arguments
    }


def _id_rules(app: Flask) -> list[Rule]:
    rules = [r for r in app.url_map.iter_rules() if set(r.arguments) & set(FOREIGN_IDS)]
    return sorted(rules, key=lambda r: (r.rule, r.endpoint))


def _body(endpoint: str, f: Foreign, csrf: str) -> dict[str, Any]:
    """A request body each write would accept for an object of one's own area: the scope is the only reason left
    to refuse it."""
    version = {"version": str(f.outfall.version)}
    form = {"csrf_token": csrf}
    bodies: dict[str, dict[str, Any]] = {
        "imagery.mark_create": {"json": {"kind": "point", "geometry": f.mark_point, "type_guess": "4"}},
        "imagery.mark_update": {"json": {"geometry": f.mark_point, "confidence": "high"}},
        "imagery.mark_review": {"json": {"decision": "accept"}},
        "imagery.task_reject": {"data": form | {"reason": "是灌溉渠闸门",
                                                "photo": (io.BytesIO(_small_jpeg()), "place.jpg")}},
        "survey.review_decide": {"data": form | {"decision": "new", "version": str(f.item_version)}},
        "survey.merge": {"data": form | version | {"into_id": str(f.other_outfall.id),
                                                   "into_version": str(f.other_outfall.version),
                                                   "reason": "同一个排口"}},
        "cases.api_add_visit": {"json": {"version": f.outfall.version, "visited_at": "2023-06-01T10:00:00+08:00",
                                         "discharge": "dry"}},
        "cases.api_add_trace": {"json": {"version": f.outfall.version, "traced_on": "2023-06-01",
                                         "method": "on_site"}},
    }  # fmt: skip
    return bodies.get(endpoint, {"data": form | version})


def _small_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 120, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def _query(endpoint: str, f: Foreign) -> dict[str, str]:
    if endpoint == "survey.merge_page":
        return {"into_id": str(f.other_outfall.id)}
    return {}


def _call(client: FlaskClient, url: str, method: str, endpoint: str, f: Foreign, *, bare: bool = False
          ) -> TestResponse:  # fmt: skip
    """The answer, read in full and closed (files sent from the store are closed with it); ``bare``: a write
    with nothing but its CSRF token."""
    csrf: str = client.csrf  # type: ignore[attr-defined]
    headers = {"X-CSRF-Token": csrf}
    if method == "GET":
        response = client.get(url, query_string=_query(endpoint, f), headers=headers)
    else:
        body = {"data": {"csrf_token": csrf}} if bare else _body(endpoint, f, csrf)
        response = client.open(url, method=method, headers=headers, **body)
    response.get_data()
    response.close()
    return response


def _leaks(response: TestResponse) -> list[str]:
    body = response.get_data(as_text=True)
    return [t for t in FOREIGN_TEXT if t in body]


def test_another_areas_objects_are_not_found_on_any_route(
    app: Flask, session: Session, make_user, login_as, foreign: Foreign, make_outfall
):
    make_outfall(lonlat=HANBIN, name="汉滨区本区排口")  # the county has its own outfall
    county = login_as(make_user("hanbin_all", roles=NON_ADMIN_ROLES, areas=(OWN_AREA,)))
    rules = _id_rules(app)
    failures: list[str] = []
    checked = 0
    for rule in rules:
        url = _url(app, rule, _values(rule, foreign))
        nothing = _url(app, rule, _values(rule, foreign, missing=True))
        calls = [(m, bare) for m in sorted(rule.methods - {"HEAD", "OPTIONS"}) for bare in (False, True)
                 if not (bare and m == "GET")]  # fmt: skip
        for method, bare in calls:
            what = f"{method} {url}{' (bare)' if bare else ''}"
            before = database_state(session)
            try:
                response = _call(county, url, method, rule.endpoint, foreign, bare=bare)
            except Exception as err:  # noqa: BLE001 - a 500 in testing raises; report it with the others
                failures.append(f"{what}: raised {type(err).__name__}: {err}")
                continue
            checked += 1
            if bare:  # refused for its input, maybe: but exactly as if the object did not exist
                expected = {404, _call(county, nothing, method, rule.endpoint, foreign, bare=True).status_code}
            else:
                expected = {404}
            if response.status_code not in expected or response.status_code < 400:
                failures.append(f"{what}: {response.status_code}, not {' or '.join(map(str, sorted(expected)))}")
            if leaked := _leaks(response):
                failures.append(f"{what}: the answer names {leaked}")
            if changed := changed_tables(before, database_state(session)):
                failures.append(f"{what}: changed {changed}")
    assert checked >= 40
    assert failures == [], "\n".join(failures)


def test_the_foreign_objects_are_real_for_their_own_area(app: Flask, login_as, foreign: Foreign):
    """The control of the test above: the same URLs read by the Xi'an user who owns the objects are found."""
    owner = login_as(foreign.owner)
    missing = []
    for rule in _id_rules(app):
        if "GET" not in rule.methods:
            continue
        url = _url(app, rule, _values(rule, foreign))
        response = _call(owner, url, "GET", rule.endpoint, foreign)
        if response.status_code == 404 or response.status_code >= 500:
            missing.append(f"GET {url}: {response.status_code}")
    assert missing == [], "\n".join(missing)


def test_user_routes_are_for_administrators_only(app: Flask, session: Session, make_user, login_as,
                                                 foreign: Foreign):  # fmt: skip
    county = login_as(make_user("hanbin_all", roles=NON_ADMIN_ROLES, areas=(OWN_AREA,)))
    national = login_as(make_user("national_all", roles=NON_ADMIN_ROLES, national=True))
    before = database_state(session)
    refused = []
    for rule in app.url_map.iter_rules():
        if not set(rule.arguments) & ADMIN_IDS:
            continue
        url = _url(app, rule, {"user_id": foreign.owner.id})
        for client in (county, national):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = client.open(url, method=method, headers={"X-CSRF-Token": client.csrf},  # type: ignore[attr-defined]
                                       data={"csrf_token": client.csrf, "password": "a new password 1234"})  # type: ignore[attr-defined]  # fmt: skip
                refused.append((method, url, response.status_code))
                assert response.status_code in (403, 404), (method, url, response.status_code)
                assert "xian_all" not in response.get_data(as_text=True)
    assert len(refused) >= 6
    assert changed_tables(before, database_state(session)) == []


def test_another_areas_ids_in_forms_are_not_found(session: Session, make_user, login_as, foreign: Foreign,
                                                  make_outfall):  # fmt: skip
    mine = make_outfall(lonlat=HANBIN, name="汉滨区本区排口")
    county = login_as(make_user("hanbin_all", roles=NON_ADMIN_ROLES, areas=(OWN_AREA,)))
    csrf = county.csrf  # type: ignore[attr-defined]
    theirs = foreign.outfall
    before = database_state(session)
    # merging one's own outfall into another area's, on the confirmation page and by the form
    page = county.get(f"/outfalls/{mine.id}/merge", query_string={"into_id": theirs.id})
    assert page.status_code == 404 and OUTFALL_NAME not in page.get_data(as_text=True)
    merged = county.post(f"/outfalls/{mine.id}/merge", data={
        "csrf_token": csrf, "into_id": theirs.id, "into_version": theirs.version, "version": mine.version,
        "reason": "同一个排口",
    })  # fmt: skip
    assert merged.status_code == 404 and OUTFALL_NAME not in merged.get_data(as_text=True)
    # bulk work naming another area's outfall: refused for that outfall, as if it did not exist
    bulk = county.post("/api/outfalls/bulk", headers={"X-CSRF-Token": csrf}, json={
        "action": "deadline", "outfall_ids": [theirs.id], "deadline": "2030-01-01",
        "versions": {str(theirs.id): theirs.version},
    })  # fmt: skip
    assert bulk.status_code in (200, 404, 422), bulk.status_code
    if bulk.status_code == 200:
        body = bulk.get_json()
        assert body["changed"] == 0 and [r["code"] for r in body["results"]] == ["not_found"]
    assert OUTFALL_NAME not in bulk.get_data(as_text=True)
    assert changed_tables(before, database_state(session)) == []


def _listings(f: Foreign) -> dict[str, dict[str, Any]]:
    """Each list endpoint, with how to find the foreign objects in its answer besides their names: ``ids`` reads
    the outfall or cell ids a JSON answer lists, ``count`` how many foreign things it counts (the county's own
    outfall aside), ``markers`` more text only the foreign objects put there (links to them)."""
    lon, lat = to_shape(f.outfall.geom).coords[0]
    x, y = tile_of(lon, lat, 14)
    outfalls = {f.outfall.id, f.other_outfall.id, f.task_outfall_id}
    return {
        "/api/outfalls?page_size=500": {"ids": (lambda j: {i["id"] for i in j["items"]}, outfalls)},
        "/api/map/outfalls": {"ids": (lambda j: {i["id"] for i in j["features"]}, outfalls)},
        "/ogc/collections/outfalls/items?f=json&limit=1000": {
            "ids": (lambda j: {i["id"] for i in j["features"]}, outfalls)},
        "/api/imagery/cells": {"ids": (lambda j: {i.get("id", i["properties"].get("id")) for i in j["features"]},
                                       {f.cell_id})},
        "/api/imagery/footprints": {"count": lambda j: len(j["features"])},
        "/api/imagery/flights": {"count": lambda j: len(j["sorties"])},
        "/api/imagery/yield": {"count": lambda j: sum(r["marks"] for r in j["basins"]) + len(j["sorties"])},
        "/api/summary": {"count": lambda j: j["total"] - 1},
        "/api/facets": {"count": lambda j: sum(1 for a in j["areas"] if a[0].startswith("6101"))},
        "/survey/batches": {},
        "/survey/review": {},
        "/imagery/tasks": {},
        "/imagery/review": {"markers": (f"/imagery/cells/{f.cell_id}",)},
        "/imagery": {},
        "/outfalls": {},
        "/outfalls.csv": {},
        f"/tiles/outfalls/14/{x}/{y}.mvt": {},
    }  # fmt: skip


def test_lists_do_not_show_another_areas_objects(make_user, login_as, foreign: Foreign, make_outfall):
    mine = make_outfall(lonlat=HANBIN, name="汉滨区本区排口")
    county = login_as(make_user("hanbin_all", roles=NON_ADMIN_ROLES, areas=(OWN_AREA,)))
    owner = login_as(foreign.owner)
    failures = []
    for url, find in _listings(foreign).items():
        theirs = owner.get(url)
        theirs.get_data()  # a streamed answer is read before the next request
        ours = county.get(url)
        ours.get_data()
        assert theirs.status_code == 200 and ours.status_code == 200, (url, theirs.status_code, ours.status_code)
        markers = [*FOREIGN_TEXT, *find.get("markers", ())]
        if not find and not [t for t in markers if t.encode() in theirs.data]:
            failures.append(f"{url}: the control fails: Xi'an's own user sees none of its objects there")
        if leaked := [t for t in markers if t.encode() in ours.data]:
            failures.append(f"{url}: shows {leaked}")
        if "ids" in find:
            ids_of, foreign_ids = find["ids"]
            assert ids_of(theirs.get_json()) & foreign_ids, f"{url}: the control fails"
            if leaked_ids := ids_of(ours.get_json()) & foreign_ids:
                failures.append(f"{url}: lists ids {sorted(leaked_ids)}")
        if "count" in find:
            assert find["count"](theirs.get_json()) > 0, f"{url}: the control fails"
            if n := find["count"](ours.get_json()):
                failures.append(f"{url}: counts {n} of another area's")
    assert [i["id"] for i in county.get("/api/outfalls").get_json()["items"]] == [mine.id]
    assert failures == [], "\n".join(failures)


def _opaque_pixels(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGBA")
    return int(np.count_nonzero(np.asarray(image.getchannel("A"))))


def test_imagery_tiles_do_not_show_another_areas_orthophotos(session: Session, make_user, login_as,
                                                            foreign: Foreign):  # fmt: skip
    county = login_as(make_user("hanbin_all", roles=NON_ADMIN_ROLES, areas=(OWN_AREA,)))
    owner = login_as(foreign.owner)
    x, y = tile_of(*_wei_point(session), 16)
    url = f"/imagery/tiles/16/{x}/{y}.png"
    assert _opaque_pixels(owner.get(url).data) > 0  # Xi'an's own user sees its imagery there
    assert _opaque_pixels(county.get(url).data) == 0
