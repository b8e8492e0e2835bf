"""The survey coverage page, the crews' track upload, the coverage JSON and the tracks map layer."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outfalls.models import SurveyTrack
from outfalls.survey.tracks import import_tracks
from tests.conftest import FIXTURES
from tests.db.test_tracks import CHINA, densify, geodesic_m, gpx, wei_stretch

TRACK = FIXTURES / "tracks" / "gpxpy_around-visnjan-with-car.gpx"


def walk(session: Session, crew: str = "一组") -> tuple[bytes, float]:
    stretch = wei_stretch(session, 20, 26)
    return gpx(densify(stretch), start=datetime(2024, 5, 10, 1, tzinfo=UTC)), geodesic_m(stretch) / 1000


def test_every_logged_in_user_sees_coverage_per_river(session: Session, client: Any) -> None:
    data, km = walk(session)
    import_tracks(session, data, "w.gpx", crew="一组", actor="t", bbox=CHINA)

    page = client.get("/survey/coverage").get_data(as_text=True)

    assert 'id="nav-coverage"' in page and "排查覆盖情况" in page
    assert page.count("<tr data-river=") == 9  # every river of the reference data
    first_row = page.split("<tr data-river=")[1]
    assert first_row.startswith('"HYD4M-463"') and "渭河" in first_row
    assert f"{km:,.2f}" in first_row and '<span class="tag">一组 ' in first_row
    assert '<meter min="0" max="1" value=' in first_row
    assert "2024-05-10" in page  # the crew's day
    assert 'id="track-upload"' not in page  # a leader does not upload tracks
    one = client.get("/survey/coverage?river=渭河").get_data(as_text=True)
    assert one.count("<tr data-river=") == 1


def test_coverage_json_and_an_unknown_river(session: Session, client: Any) -> None:
    data, km = walk(session)
    import_tracks(session, data, "w.gpx", crew="一组", actor="t", bbox=CHINA)

    rows = client.get("/api/survey/coverage?river=HYD4M-463").json

    assert [(r["river"], r["river_code"], list(r["by_crew"])) for r in rows] == [("渭河", "HYD4M-463", ["一组"])]
    assert abs(rows[0]["walked_km"] - km) < 0.002 * km
    missing = client.get("/api/survey/coverage?river=长江")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"
    page = client.get("/survey/coverage?river=长江")
    assert page.status_code == 404 and "长江" in page.get_data(as_text=True)


def test_tracks_map_layer(session: Session, client: Any) -> None:
    data, _km = walk(session)
    import_tracks(session, data, "w.gpx", crew="一组", actor="t", bbox=CHINA)

    layer = client.get("/api/layers/tracks").json

    (feature,) = layer["features"]
    assert feature["geometry"]["type"] == "LineString" and feature["properties"]["crew"] == "一组"
    assert client.get("/api/layers/tracks?bbox=100,20,101,21").json["features"] == []
    bad = client.get("/api/layers/tracks?bbox=1,2")
    assert bad.status_code == 422 and bad.json["details"]["field"] == "bbox"
    assert client.get("/api/layers/rivers").json["features"]  # the reference layers still answer


def test_the_map_offers_the_tracks_layer(client: Any) -> None:
    page = client.get("/").get_data(as_text=True)

    assert '<script type="application/json" id="tracks-config">' in page
    assert '"url": "/api/layers/tracks"' in page and "徒步轨迹" in page


def test_a_crew_uploads_tracks_and_a_second_upload_adds_nothing(session: Session, make_user: Any,
                                                                login_as: Any) -> None:  # fmt: skip
    crew = login_as(make_user("crew1", roles=("crew",), areas=("610000",)))  # the walk is downstream of Xi'an
    data, _km = walk(session)
    form = {"csrf_token": crew.csrf, "crew": "渭河一组"}

    page = crew.get("/survey/coverage").get_data(as_text=True)
    assert 'id="track-upload"' in page
    first = crew.post("/survey/tracks", data=form | {"file": (io.BytesIO(data), "walk.gpx")},
                      content_type="multipart/form-data")  # fmt: skip

    assert first.status_code == 200
    text = first.get_data(as_text=True)
    assert "walk.gpx：已新增 渭河一组 的 1 条轨迹" in text and '<span class="tag">渭河一组 ' in text
    again = crew.post("/survey/tracks", data=form | {"file": (io.BytesIO(data), "walk.gpx")},
                      content_type="multipart/form-data")  # fmt: skip
    assert "walk.gpx 此前已导入" in again.get_data(as_text=True)
    stored = session.scalars(sa.select(SurveyTrack)).all()
    assert [(t.crew, t.imported_by) for t in stored] == [("渭河一组", "crew1")]


def test_bad_uploads_get_an_error_page_and_store_nothing(session: Session, make_user: Any, login_as: Any) -> None:
    crew = login_as(make_user("crew2", roles=("crew",)))
    base = {"csrf_token": crew.csrf, "crew": "二组"}

    outside = crew.post("/survey/tracks", data=base | {"file": (io.BytesIO(TRACK.read_bytes()), TRACK.name)},
                        content_type="multipart/form-data")  # fmt: skip
    none = crew.post("/survey/tracks", data=base, content_type="multipart/form-data")
    garbage = crew.post("/survey/tracks", data=base | {"file": (io.BytesIO(b"<gpx"), "x.gpx")},
                        content_type="multipart/form-data")  # fmt: skip

    assert outside.status_code == 422 and "不在本系统覆盖的区域内" in outside.get_data(as_text=True)
    assert none.status_code == 422 and "请选择一个或多个轨迹文件" in none.get_data(as_text=True)
    assert garbage.status_code == 422 and "x.gpx is not a GPX" in garbage.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(SurveyTrack)) == 0


def test_only_crews_and_administrators_upload(client: Any) -> None:
    refused = client.post("/survey/tracks", data={"csrf_token": client.csrf, "crew": "x"})
    assert refused.status_code == 403


def test_coverage_needs_a_login(anon_client: Any) -> None:
    assert anon_client.get("/survey/coverage").status_code == 302
    assert anon_client.get("/api/layers/tracks").status_code == 401


def ankang_walk() -> bytes:
    """A walk in Hanbin district, Ankang (610902): another city than Xi'an's crews'."""
    return gpx([(109.02, 32.69), (109.03, 32.69), (109.04, 32.695)], start=datetime(2024, 5, 11, 1, tzinfo=UTC))


def test_another_areas_tracks_are_neither_shown_nor_counted(session: Session, make_user: Any, login_as: Any) -> None:
    import_tracks(session, ankang_walk(), "ak.gpx", crew="安康一组", actor="t", bbox=CHINA)
    xian = login_as(make_user("xian", roles=("leader",), areas=("610100",)))

    assert xian.get("/api/layers/tracks").json["features"] == []
    assert "安康一组" not in xian.get("/survey/coverage").get_data(as_text=True)
    assert all("安康一组" not in r["by_crew"] for r in xian.get("/api/survey/coverage").json)
    ankang = login_as(make_user("ankang", roles=("leader",), areas=("610900",)))
    assert [f["properties"]["crew"] for f in ankang.get("/api/layers/tracks").json["features"]] == ["安康一组"]
    assert "安康一组" in ankang.get("/survey/coverage").get_data(as_text=True)


def test_a_crew_cannot_upload_another_areas_tracks(session: Session, make_user: Any, login_as: Any) -> None:
    import_tracks(session, ankang_walk(), "ak.gpx", crew="安康一组", actor="t", bbox=CHINA)
    crew = login_as(make_user("crew1", roles=("crew",), areas=("610100",)))

    refused = crew.post("/survey/tracks", data={"csrf_token": crew.csrf, "crew": "西安一组",
                                                "file": (io.BytesIO(ankang_walk()), "same.gpx")},
                        content_type="multipart/form-data")  # fmt: skip

    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "不在您的管辖范围内" in text and "安康一组" not in text
    assert [t.crew for t in session.scalars(sa.select(SurveyTrack))] == ["安康一组"]
