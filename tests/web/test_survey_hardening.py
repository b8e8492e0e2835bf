"""The survey intake and review queue against an attacker and a careless user: another area's review items,
uploads, jobs and tracks are "not found" exactly like an outfall outside one's scope; a link far from the row needs
an explicit, recorded override; an oversized request is refused before it is read; malformed files get a clear
answer, never a 500."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from outfalls.config import Settings
from outfalls.models import Event, Job, Observation, ObservationLink, Outfall, ReviewItem
from outfalls.survey.intake import import_table
from outfalls.survey.readers import read_upload
from outfalls.types import EventKind, JobStatus, ReviewStatus

HEADER = ["记录编号", "排污口名称", "经度", "纬度", "排口类型", "调查时间", "照片"]
ANKANG = (109.03, 32.69)  # Hanbin district, Ankang city (610902): about 190 km south of Xi'an
LINTONG = (109.21, 34.37)  # Lintong district, Xi'an city (610115)


def _csv(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue().encode()


def _queued(session: Session, settings: Settings, make_outfall, at: tuple[float, float], key: str) -> ReviewItem:
    """A review item of a row near two outfalls at ``at``, uploaded by that area's crew."""
    make_outfall(lonlat=(at[0] + 0.0001, at[1]))
    make_outfall(lonlat=(at[0] - 0.0001, at[1]))
    table = read_upload(_csv([[key, f"{key}的口", at[0], at[1], "4.8", "", ""]]), f"{key}.csv")
    report = import_table(session, table, settings=settings, actor=f"crew_{key}", crew="安康一组", crs="wgs84")
    assert report.queued_for_review == 1
    return session.scalars(select(ReviewItem).where(ReviewItem.batch_id == report.batch_id)).one()


def _same_but_ids(a: str, b: str) -> bool:
    return re.sub(r"\d+", "N", a) == re.sub(r"\d+", "N", b)


def _decide(client, item_id: int, **form: object):
    return client.post(f"/survey/review/{item_id}", data={"csrf_token": client.csrf, **form})


def test_a_review_item_of_another_area_cannot_be_decided(
    session: Session, settings: Settings, make_outfall, make_user, login_as
) -> None:
    item = _queued(session, settings, make_outfall, ANKANG, "ak1")
    own = make_outfall(lonlat=LINTONG)
    county = login_as(make_user("lintong", roles=("analyst",), areas=("610115",)))
    missing = _decide(county, 10**8, decision=f"link-{own.id}")
    assert missing.status_code == 404
    for decision in (f"link-{own.id}", f"link-{item.candidate_ids[0]}", "new"):
        refused = _decide(
            county, item.id, decision=decision, version=item.version, override_distance="1", override_reason="mine"
        )
        assert refused.status_code == 404, decision
        assert _same_but_ids(refused.get_data(as_text=True), missing.get_data(as_text=True))
    session.refresh(item)
    assert item.status is ReviewStatus.OPEN and item.outfall_id is None
    linked = (
        select(func.count()).select_from(ObservationLink).where(ObservationLink.observation_id == item.observation_id)
    )
    assert session.scalar(linked) == 0
    assert (
        session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.outfall_id == own.id, Event.kind == EventKind.OBSERVATION_LINKED)
        )
        == 0
    )
    dossier = county.get(f"/outfalls/{own.id}").get_data(as_text=True)
    assert "ak1" not in dossier and "安康一组" not in dossier


def test_the_review_queue_lists_only_the_items_of_ones_area(
    session: Session, settings: Settings, make_outfall, make_user, login_as
) -> None:
    item = _queued(session, settings, make_outfall, ANKANG, "ak2")
    county = login_as(make_user("lintong", roles=("analyst",), areas=("610115",)))
    for query in ("", f"?batch={item.batch_id}"):
        page = county.get(f"/survey/review{query}").get_data(as_text=True)
        assert f'id="review-{item.id}"' not in page and "ak2" not in page and 'id="review-empty"' in page
    ankang = login_as(make_user("ankang", roles=("analyst",), areas=("610900",)))
    assert f'id="review-{item.id}"' in ankang.get("/survey/review").get_data(as_text=True)


def test_a_decided_item_of_another_area_does_not_name_who_decided(
    session: Session, settings: Settings, make_outfall, make_user, login_as
) -> None:
    item = _queued(session, settings, make_outfall, ANKANG, "ak3")
    ankang = login_as(make_user("ankang_reviewer", roles=("analyst",), areas=("610900",)))
    assert _decide(ankang, item.id, decision=f"link-{item.candidate_ids[0]}").status_code == 302
    again = _decide(ankang, item.id, decision="new")
    assert again.status_code == 409  # a colleague of the same area learns it was decided
    county = login_as(make_user("lintong", roles=("analyst",), areas=("610115",)))
    refused = _decide(county, item.id, decision="new")
    assert refused.status_code == 404 and "ankang_reviewer" not in refused.get_data(as_text=True)


def test_a_link_beyond_the_review_radius_needs_an_explicit_recorded_override(
    session: Session, settings: Settings, make_outfall, make_user, login_as
) -> None:
    item = _queued(session, settings, make_outfall, ANKANG, "ak4")
    far = make_outfall(lonlat=(ANKANG[0] + 0.03, ANKANG[1]))  # ~2.8 km east, in the same district
    reviewer = login_as(make_user("ankang", roles=("analyst",), areas=("610900",)))
    refused = reviewer.post(
        f"/survey/review/{item.id}",
        data={"csrf_token": reviewer.csrf, "decision": f"link-{far.id}"},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["details"]["field"] == "override_distance" and "200 m" in body["message"] and "km" in body["message"]
    no_reason = _decide(reviewer, item.id, decision=f"link-{far.id}", override_distance="1", override_reason=" ")
    assert no_reason.status_code == 422
    session.refresh(item)
    assert item.status is ReviewStatus.OPEN
    done = _decide(
        reviewer,
        item.id,
        decision=f"link-{far.id}",
        override_distance="1",
        override_reason="the crew's GPS had no fix; the pipe is the one at the weir",
    )
    assert done.status_code == 302
    event = session.scalars(
        select(Event).where(Event.outfall_id == far.id, Event.kind == EventKind.OBSERVATION_LINKED)
    ).one()
    assert event.payload["override_distance"] is True and event.payload["distance_m"] > 2000
    assert event.payload["override_reason"] == "the crew's GPS had no fix; the pipe is the one at the weir"
    assert event.payload["observation_id"] == item.observation_id
    # near enough: no override needed, and the distance is recorded all the same
    near = _queued(session, settings, make_outfall, (ANKANG[0] + 0.1, ANKANG[1]), "ak5")
    assert _decide(reviewer, near.id, decision=f"link-{near.candidate_ids[0]}").status_code == 302
    near_event = session.scalars(
        select(Event).where(Event.outfall_id == near.candidate_ids[0], Event.kind == EventKind.OBSERVATION_LINKED)
    ).one()
    assert "override_distance" not in near_event.payload and near_event.payload["distance_m"] < 20


def test_the_review_page_offers_the_distance_override(
    session: Session, settings: Settings, make_outfall, make_user, login_as
) -> None:
    item = _queued(session, settings, make_outfall, ANKANG, "ak6")
    reviewer = login_as(make_user("ankang", roles=("analyst",), areas=("610900",)))
    page = reviewer.get("/survey/review").get_data(as_text=True)
    section = page[page.index(f'id="review-{item.id}"') :]
    assert 'name="override_distance"' in section and 'name="override_reason"' in section
    assert f'name="decision" value="link-{item.candidate_ids[0]}"' in section


def test_an_upload_report_of_another_area_is_not_found(
    session: Session, settings: Settings, make_outfall, make_user, login_as
) -> None:
    item = _queued(session, settings, make_outfall, ANKANG, "ak7")
    xian = login_as(make_user("xian_reviewer", roles=("analyst", "crew"), areas=("610100",)))
    missing = xian.get("/survey/batches/999999999")
    refused = xian.get(f"/survey/batches/{item.batch_id}")
    assert refused.status_code == 404 and missing.status_code == 404
    page = refused.get_data(as_text=True)
    assert "ak7.csv" not in page and "crew_ak7" not in page and "安康一组" not in page
    assert _same_but_ids(page, missing.get_data(as_text=True))
    for login, areas in (("ankang", ("610900",)), ("province", ("610000",))):
        reviewer = login_as(make_user(login, roles=("analyst",), areas=areas))
        shown = reviewer.get(f"/survey/batches/{item.batch_id}")
        assert shown.status_code == 200 and "ak7.csv" in shown.get_data(as_text=True), login


def test_a_job_of_another_user_or_area_is_not_found(session: Session, make_user, login_as) -> None:
    job = Job(
        kind="survey_import",
        status=JobStatus.DONE,
        created_by="crew_ak",
        options={},
        input_name="ak.csv",
        report={"accepted": 3},
    )
    session.add(job)
    session.flush()
    xian = login_as(make_user("xian_crew", roles=("crew",), areas=("610100",)))
    for path in (f"/api/jobs/{job.id}", f"/survey/jobs/{job.id}"):
        refused, missing = xian.get(path), xian.get(path.replace(str(job.id), "999999999"))
        assert refused.status_code == 404 and missing.status_code == 404
        assert _same_but_ids(refused.get_data(as_text=True), missing.get_data(as_text=True))


@pytest.fixture
def small_app(connection, settings: Settings) -> Flask:
    """The application with a 64 KB upload limit."""
    from web import create_app

    limited = dataclasses.replace(settings, upload=dataclasses.replace(settings.upload, max_bytes=64 * 1024))
    sessions = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    return create_app(limited, sessions=sessions, testing=True)


def test_a_request_body_over_the_limit_is_refused_before_it_is_read(
    small_app: Flask, session: Session, make_user
) -> None:
    from outfalls import accounts
    from web.auth import SESSION_COOKIE

    token, web_session = accounts.start_session(session, make_user("crew1", roles=("crew",), areas=("610100",)))
    client = small_app.test_client()
    client.set_cookie(SESSION_COOKIE, token)
    big = b"x" * (200 * 1024)
    page = client.post(
        "/survey/upload",
        data={"csrf_token": web_session.csrf_token, "file": (io.BytesIO(big), "a.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 413
    html = page.get_data(as_text=True)
    assert "0.06 MB" in html
    api = client.post(
        "/api/survey/import",
        data={"file": (io.BytesIO(big), "a.csv")},
        headers={"X-CSRF-Token": web_session.csrf_token},
        content_type="multipart/form-data",
    )
    assert api.status_code == 413 and "0.06 MB" in api.get_json()["message"]
    tracks = client.post(
        "/survey/tracks",
        data={"csrf_token": web_session.csrf_token, "crew": "一组", "file": (io.BytesIO(big), "t.gpx")},
        content_type="multipart/form-data",
    )
    assert tracks.status_code == 413


GPX_TRACK = b"""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="a field app" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>walk</name><trkseg><trkpt lat="34.39" lon="108.97"/><trkpt lat="34.395" lon="108.98"/></trkseg></trk>
</gpx>
"""


def _crew(make_user, login_as):
    return login_as(make_user("crew1", roles=("crew",), areas=("610100",)))


def _api_import(client, data: bytes, name: str):
    return client.post(
        "/api/survey/import",
        data={"file": (io.BytesIO(data), name)},
        headers={"X-CSRF-Token": client.csrf},
        content_type="multipart/form-data",
    )


def test_a_nul_character_rejects_its_row_not_the_request(session: Session, make_user, login_as) -> None:
    crew = _crew(make_user, login_as)
    data = _csv([["n1", "西岸\x001号", 108.97, 34.39, "", "", ""], ["n2", "西岸2号", 108.98, 34.395, "", "", ""]])
    response = _api_import(crew, data, "nul.csv")
    assert response.status_code == 201
    body = response.get_json()
    assert body["accepted"] == 1 and [(r["row"], r["code"]) for r in body["rejected"]] == [(2, "nul_character")]
    page = crew.post(
        "/survey/upload",
        data={"csrf_token": crew.csrf, "file": (io.BytesIO(data), "nul.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 200 and "1 行将被拒绝" in page.get_data(as_text=True)


def test_a_file_name_over_255_bytes_gets_a_clear_refusal(session: Session, make_user, login_as) -> None:
    crew = _crew(make_user, login_as)
    data = _csv([["l1", "甲", 108.97, 34.39, "", "", ""]])
    name = "排" * 100 + ".csv"
    response = _api_import(crew, data, name)
    assert response.status_code == 422 and "255 bytes" in response.get_json()["message"]
    page = crew.post(
        "/survey/upload",
        data={"csrf_token": crew.csrf, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    assert page.status_code == 422 and "255 bytes" in page.get_data(as_text=True)
    tracks = crew.post(
        "/survey/tracks",
        data={"csrf_token": crew.csrf, "crew": "一组", "file": (io.BytesIO(GPX_TRACK), "轨" * 100 + ".gpx")},
        content_type="multipart/form-data",
    )
    assert tracks.status_code == 422 and "255 bytes" in tracks.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Observation)) == 0


GPX_WAYPOINTS = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="a field app" xmlns="http://www.topografix.com/GPX/1/1">
  <wpt lat="34.39" lon="108.97"><name>渭河南岸1号</name></wpt>
  <wpt lat="34.395" lon="108.98"><name>渭河南岸2号</name></wpt>
</gpx>
""".encode()


def test_gpx_waypoints_without_time_are_imported(session: Session, make_user, login_as) -> None:
    crew = _crew(make_user, login_as)
    response = _api_import(crew, GPX_WAYPOINTS, "waypoints.gpx")
    assert response.status_code == 201
    body = response.get_json()
    assert (body["accepted"], body["new_outfalls"], body["rejected"]) == (2, 2, [])
    names = set(session.scalars(select(Outfall.name).where(Outfall.id.in_(body["outfall_ids"]))))
    assert names == {"渭河南岸1号", "渭河南岸2号"}
    assert all(o.captured_at is None for o in session.scalars(select(Observation)))
