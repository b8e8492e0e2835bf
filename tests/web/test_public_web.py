"""The public pages and public reports through the test client: public fields only, no candidate or rejected
outfall, no cookie, cacheable, rate-limited; a report with a photo reaches the officers of its area only, and its
text never runs as script on their page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outfalls.catalogue.lifecycle import HistoryItem
from outfalls.config import PUBLIC_FIELDS, Settings, load_settings
from outfalls.models import Event, Outfall, PublicReport, PublicReportEvent
from outfalls.types import EventKind, OutfallStatus, SurveyLevel

LINTONG = (109.20, 34.44)  # 临潼区 610115
HANZHONG = (107.03, 33.07)  # 汉台区 610702
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def outfalls(make_outfall: Callable[..., Outfall]) -> dict[str, Outfall]:
    return {
        "traced": make_outfall(lonlat=LINTONG, name="临潼公开排口", history=(
            HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "乙公司"}),)),  # fmt: skip
        "candidate": make_outfall(lonlat=LINTONG, name="疑似排口", found_by=SurveyLevel.DRONE),
        "rejected": make_outfall(lonlat=LINTONG, name="非排口", found_by=SurveyLevel.DRONE,
                                 history=(HistoryItem(EventKind.REJECTED, date(2022, 6, 1)),)),  # fmt: skip
        "hanzhong": make_outfall(lonlat=HANZHONG, name="汉台公开排口"),
    }


def photo_bytes() -> bytes:
    img = Image.new("RGB", (640, 480), (30, 90, 160))
    exif = Image.Exif()
    exif[271], exif[272] = "ACME", "Phone 9"
    exif.get_ifd(0x8825).update({1: "N", 2: (34.0, 26.0, 24.0), 3: "E", 4: (109.0, 12.0, 0.0)})
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def send_report(client: FlaskClient, **form: object):  # type: ignore[no-untyped-def]
    data = {"description": "河边有一根管子在排黑水", "lon": "109.2010", "lat": "34.4405", "location_source": "gps",
            "contact": "13800000000", "photos": (io.BytesIO(photo_bytes()), "IMG_0001.jpg")} | form  # fmt: skip
    return client.post("/public/report", data=data, content_type="multipart/form-data")


def test_public_responses_carry_only_public_fields(anon_client: FlaskClient, outfalls: dict[str, Outfall],
                                                   settings: Settings) -> None:  # fmt: skip
    r = anon_client.get("/public/api/outfalls.geojson")
    assert r.status_code == 200 and "Set-Cookie" not in r.headers
    assert r.headers["Cache-Control"].startswith("public") and "max-age=300" in r.headers["Cache-Control"]
    features = r.get_json()["features"]
    names = {f["properties"]["name"] for f in features}
    assert {"临潼公开排口", "汉台公开排口"} <= names and not {"疑似排口", "非排口"} & names
    for f in features:
        assert set(f) == {"type", "id", "geometry", "properties"}
        assert set(f["properties"]) <= set(settings.public.fields) and set(f["properties"]) <= set(PUBLIC_FIELDS)
        assert f["id"] == f["properties"]["ref"] and len(f["id"]) == 16
    traced = next(f for f in features if f["properties"]["name"] == "临潼公开排口")
    assert traced["properties"]["responsible_party"] == "乙公司" and "id" not in traced["properties"]
    ref = traced["id"]
    page = anon_client.get(f"/public/outfalls/{ref}")
    assert page.status_code == 200 and "临潼公开排口" in page.get_data(as_text=True)
    assert "Set-Cookie" not in page.headers and page.headers["Cache-Control"].startswith("public")
    assert 'name="viewport"' in page.get_data(as_text=True) and "tester" not in page.get_data(as_text=True)
    # a bbox narrows the answer to Lintong
    near = anon_client.get("/public/api/outfalls.geojson?bbox=109.1,34.4,109.3,34.5").get_json()["features"]
    assert [f["properties"]["name"] for f in near] == ["临潼公开排口"]
    assert anon_client.get("/public").status_code == 200


def test_fewer_fields_when_the_deployment_says_so(connection, tmp_path, outfalls: dict[str, Outfall]) -> None:  # type: ignore[no-untyped-def]
    from web import create_app

    overrides = {"database.url": "postgresql+psycopg://unused/x", "storage.data_dir": str(tmp_path),
                 "public.fields": ["ref", "name"]}
    settings = load_settings(env={}, overrides=overrides)
    app = create_app(settings, testing=True,
                     sessions=sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))  # fmt: skip
    features = app.test_client().get("/public/api/outfalls.geojson").get_json()["features"]
    assert features and all(set(f["properties"]) == {"ref", "name"} for f in features)
    page = app.test_client().get(f"/public/outfalls/{features[0]['id']}").get_data(as_text=True)
    assert "乙公司" not in page


def test_a_candidate_or_rejected_outfall_is_not_public(anon_client: FlaskClient, outfalls: dict[str, Outfall]) -> None:
    for key in ("candidate", "rejected"):
        assert anon_client.get(f"/public/outfalls/{outfalls[key].public_ref}").status_code == 404
    assert anon_client.get("/public/outfalls/nosuchref").status_code == 404
    assert anon_client.get(f"/public/outfalls/{outfalls['traced'].id}").status_code == 404  # ids open nothing


def test_the_rate_limit_answers_429(app: Flask, settings: Settings, outfalls: dict[str, Outfall]) -> None:
    client = app.test_client()
    for _ in range(settings.public.requests_per_minute):
        assert client.get("/public/api/outfalls.geojson").status_code == 200
    r = client.get("/public/api/outfalls.geojson")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    other = app.test_client().get("/public/api/outfalls.geojson", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200  # per address


def test_a_report_reaches_its_areas_officers_and_not_another(
    anon_client: FlaskClient, outfalls: dict[str, Outfall], make_user, login_as, session: Session  # type: ignore[no-untyped-def]
) -> None:
    sent = send_report(anon_client, description=SCRIPT)
    assert sent.status_code == 302 and "Set-Cookie" not in sent.headers
    receipt_url = sent.headers["Location"]
    receipt = anon_client.get(receipt_url)
    assert receipt.status_code == 200 and 'data-status="received"' in receipt.get_data(as_text=True)
    report = session.scalars(select(PublicReport)).one()
    assert report.contact == "13800000000" and "13800000000" not in receipt.get_data(as_text=True)

    lintong = login_as(make_user("lintong_officer", roles=("case_officer",), areas=("610115",)))
    hanzhong = login_as(make_user("hanzhong_officer", roles=("case_officer",), areas=("610702",)))
    assert report.receipt not in hanzhong.get("/reports").get_data(as_text=True)
    assert hanzhong.get(f"/reports/{report.id}").status_code == 404
    queue = lintong.get("/reports").get_data(as_text=True)
    assert report.receipt in queue and "<script>alert" not in queue
    page = lintong.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert" in page and "<script>alert" not in page and "onerror=alert" not in page.replace(
        "&lt;img src=x onerror=alert(1)&gt;", "")
    with lintong.get("/reports/" + page.split('src="/reports/')[1].split('"')[0]) as photo:
        assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
        exif = Image.open(io.BytesIO(photo.data)).getexif()
    assert 271 not in exif and 272 not in exif and dict(exif.get_ifd(0x8825))[1] == "N"  # position kept, camera not

    # the officer turns it into a candidate; a crew's confirmation shows on the receipt
    made = lintong.post(f"/reports/{report.id}/candidate", data={"csrf_token": lintong.csrf, "version": "1"})
    assert made.status_code == 302
    session.refresh(report)
    candidate = session.get(Outfall, report.outfall_id)
    assert candidate is not None and candidate.found_by is SurveyLevel.PUBLIC
    assert candidate.status is OutfallStatus.CANDIDATE
    assert 'data-status="checking"' in anon_client.get(receipt_url).get_data(as_text=True)
    kinds = session.scalars(select(PublicReportEvent.kind).where(PublicReportEvent.report_id == report.id)).all()
    assert kinds == ["received", "candidate"]


def test_a_report_is_linked_or_closed_as_events(
    anon_client: FlaskClient, outfalls: dict[str, Outfall], make_user, login_as, session: Session  # type: ignore[no-untyped-def]
) -> None:
    officer = login_as(make_user("lintong_officer", roles=("case_officer",), areas=("610115",)))
    send_report(anon_client)
    send_report(anon_client, description="又一次")
    first, second = session.scalars(select(PublicReport).order_by(PublicReport.id)).all()
    traced = outfalls["traced"]
    r = officer.post(f"/reports/{first.id}/link", data={"csrf_token": officer.csrf, "version": "1",
                                                         "outfall_id": str(traced.id)})  # fmt: skip
    assert r.status_code == 302
    linked = session.scalars(select(Event).where(Event.outfall_id == traced.id,
                                                 Event.kind == EventKind.REPORT_LINKED)).one()  # fmt: skip
    assert linked.payload["report"] == first.receipt
    state = anon_client.get(f"/public/reports/{first.receipt}").get_data(as_text=True)
    assert 'data-status="confirmed"' in state and traced.public_ref in state
    closed = officer.post(f"/reports/{second.id}/close", data={"csrf_token": officer.csrf, "version": "1",
                                                                "reason": "duplicate", "note": "同一处"})  # fmt: skip
    assert closed.status_code == 302
    assert 'data-status="duplicate"' in anon_client.get(f"/public/reports/{second.receipt}").get_data(as_text=True)
    again = officer.post(f"/reports/{second.id}/close", headers={"Accept": "application/json"},
                         data={"csrf_token": officer.csrf, "version": "2", "reason": "not_outfall"})
    assert again.status_code == 409


def test_a_bad_report_comes_back_with_its_mistakes(anon_client: FlaskClient, session: Session) -> None:
    r = send_report(anon_client, description="", lon="", lat="",
                    photos=(io.BytesIO(b"not a photo"), "x.jpg"))  # fmt: skip
    assert r.status_code == 422
    text = r.get_data(as_text=True)
    assert 'id="report-form-description-error"' in text and 'id="report-form-location-error"' in text
    assert 'id="report-form-photos-error"' in text
    spam = send_report(anon_client, website="http://spam.example")
    assert spam.status_code == 302 and session.scalars(select(PublicReport)).all() == []
    assert anon_client.get("/public/reports/NOSUCHRCPT").status_code == 404


def test_the_officers_read_a_reports_state_place_and_history_in_chinese(
    anon_client: FlaskClient, outfalls: dict[str, Outfall], make_user, login_as, session: Session  # type: ignore[no-untyped-def]
) -> None:
    send_report(anon_client)
    report = session.scalars(select(PublicReport)).one()
    officer = login_as(make_user("lintong_officer", roles=("case_officer",), areas=("610115",)))
    codes = re.compile(r"\b(received|checking|confirmed|not_outfall|duplicate|all|gps|map|public)\b")
    queue = _text(officer.get("/reports").get_data(as_text=True))
    assert codes.findall(queue) == [] and "已接收" in queue and "不是排污口" in queue
    page = _text(officer.get(f"/reports/{report.id}").get_data(as_text=True))
    assert codes.findall(page) == [] and "手机定位" in page and "公众" in page and "重复举报" in page


def _text(html: str) -> str:
    """What a reader sees: the page without scripts, styles and tags."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_public_progress_bars_show_each_share_under_the_pages_own_policy(
    anon_client: FlaskClient, outfalls: dict[str, Outfall]
) -> None:
    page = anon_client.get("/public")
    assert "style-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert " style=" not in html  # an inline style is blocked: every bar would be drawn full
    assert re.findall(r'<meter min="0" max="1" value="([0-9.]+)"', html)


def test_a_reports_state_pill_is_coloured_so_its_white_words_can_be_read(
    anon_client: FlaskClient, outfalls: dict[str, Outfall], make_user, login_as, session: Session  # type: ignore[no-untyped-def]
) -> None:
    send_report(anon_client)
    report = session.scalars(select(PublicReport)).one()
    officer = login_as(make_user("lintong_officer", roles=("case_officer",), areas=("610115",)))
    page = officer.get(f"/reports/{report.id}").get_data(as_text=True)
    pill = re.search(r'<span class="pill ([\w-]+)">', page)
    assert pill is not None
    css = (Path(__file__).parents[2] / "web" / "static" / "css" / "app.css").read_text()
    assert re.search(rf"\.{pill[1]}\b[^{{]*\{{[^}}]*background:", css)


def test_a_refused_report_says_what_is_wrong_in_chinese(anon_client: FlaskClient, session: Session) -> None:
    r = send_report(anon_client, lon="60.0", lat="60.0", photos=[(io.BytesIO(b"not a photo"), "a.jpg")]
                       + [(io.BytesIO(photo_bytes()), f"{n}.jpg") for n in range(4)])  # fmt: skip
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    errors = {name: _text(m) for name, m in re.findall(r'id="report-form-(\w+)-error"[^>]*>(.*?)</', html, re.S)}
    assert set(errors) == {"location", "photos"}
    assert all(not re.search(r"\b[a-z]{3,}\b", text.replace("a.jpg", "")) for text in errors.values()), errors
    assert "服务范围" in errors["location"] and "4" in errors["photos"] and "a.jpg" in errors["photos"]


def test_the_report_form_of_an_outfall_starts_at_its_position_to_six_decimals(
    anon_client: FlaskClient, make_outfall: Callable[..., Outfall]
) -> None:
    outfall = make_outfall(lonlat=(109.20123456789012, 34.44123456789012), name="临潼公开排口")
    html = anon_client.get(f"/public/outfalls/{outfall.public_ref}").get_data(as_text=True)
    lon = re.search(r'<input name="lon" id="lon"[^>]*value="([^"]*)"', html)
    lat = re.search(r'<input name="lat" id="lat"[^>]*value="([^"]*)"', html)
    assert lon is not None and lat is not None
    assert (lon[1], lat[1]) == ("109.201235", "34.441235")


@pytest.mark.parametrize("path", ["/public/reports/ZZZZZZZZ", "/public/outfalls/no-such-code", "/public/nowhere"])
def test_a_wrong_address_on_the_public_pages_stays_public(anon_client: FlaskClient, path: str) -> None:
    """A citizen who mistypes a receipt or a sign board's code gets the public page frame, in their language,
    with a way on: no staff navigation, no login link."""
    r = anon_client.get(path, headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 404
    html = r.get_data(as_text=True)
    assert 'class="public"' in html and "/login" not in html and 'id="current-user"' not in html
    assert "举报" in html  # the footer's way on: report a problem
    message = _text(re.search(r'<p class="message">(.*?)</p>', html, re.S).group(1))  # type: ignore[union-attr]
    assert not re.search(r"\b[a-z]{3,}\b", message), message
    if "/reports/" in path:
        assert "回执" in message


def test_a_photo_with_too_many_pixels_is_called_so_not_unreadable(anon_client: FlaskClient, session: Session) -> None:
    out = io.BytesIO()
    Image.new("L", (9000, 7000)).save(out, "PNG")  # 63 Mpx in a few kilobytes
    anon_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    r = send_report(anon_client, photos=(io.BytesIO(out.getvalue()), "huge.png"))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    error = _text(re.search(r'id="report-form-photos-error"[^>]*>(.*?)</', html, re.S).group(1))  # type: ignore[union-attr]
    assert "huge.png" in error and "像素" in error and "读取" not in error, error


def test_an_officer_links_a_report_to_an_outfall_by_choosing_it_nearby_or_by_its_code(
    anon_client: FlaskClient, outfalls: dict[str, Outfall], make_user, login_as, session: Session  # type: ignore[no-untyped-def]
) -> None:
    officer = login_as(make_user("lintong_officer2", roles=("case_officer",), areas=("610115",)))
    traced = outfalls["traced"]
    send_report(anon_client, ref=traced.public_ref)  # sent from the outfall's public page
    send_report(anon_client, description="远处", lon="109.2400", lat="34.4405")
    first, far = session.scalars(select(PublicReport).order_by(PublicReport.id)).all()
    page = officer.get(f"/reports/{first.id}").get_data(as_text=True)
    choices = re.findall(r'<input type="radio" name="outfall_id" value="(\d+)"( checked)?>', page)
    assert (str(traced.id), " checked") in choices  # the outfall the citizen reported from is chosen already
    assert str(outfalls["candidate"].id) in {c for c, _ in choices}  # nearby, by name and distance
    assert str(outfalls["rejected"].id) not in {c for c, _ in choices}  # never a rejected one
    assert "汉台公开排口" not in page  # nor another area's
    assert "临潼公开排口" in page and " m" in page
    assert "name=\"outfall\"" in page and "(id)" not in page
    # by a code: another area's outfall is not found, nothing given says so, the public code links
    foreign = outfalls["hanzhong"].public_ref
    refused = officer.post(f"/reports/{far.id}/link", headers={"Accept": "application/json"},
                           data={"csrf_token": officer.csrf, "version": "1", "outfall": foreign})
    assert refused.status_code == 404
    empty = officer.post(f"/reports/{far.id}/link", headers={"Accept": "application/json"},
                         data={"csrf_token": officer.csrf, "version": "1", "outfall": " "})
    assert empty.status_code == 422 and empty.get_json()["details"]["field"] == "outfall"
    r = officer.post(f"/reports/{far.id}/link", data={"csrf_token": officer.csrf, "version": "1",
                                                       "outfall": traced.public_ref.upper()})  # fmt: skip
    assert r.status_code == 302
    session.expire_all()
    assert session.get(PublicReport, far.id).outfall_id == traced.id  # type: ignore[union-attr]


def test_the_public_maps_have_rivers_and_city_boundaries_to_find_ones_way_by(
    anon_client: FlaskClient, outfalls: dict[str, Outfall]
) -> None:
    r = anon_client.get("/public/api/context.geojson")
    assert r.status_code == 200 and "Set-Cookie" not in r.headers and r.headers["Cache-Control"].startswith("public")
    kinds: dict[str, set[str]] = {}
    for f in r.get_json()["features"]:
        kinds.setdefault(f["properties"]["kind"], set()).add(f["properties"]["name"])
    assert "渭河" in kinds["river"] and {"西安市", "汉中市"} <= kinds["area"]
    for page in ("/public", f"/public/outfalls/{outfalls['traced'].public_ref}", "/public/report"):
        assert 'data-context="/public/api/context.geojson"' in anon_client.get(page).get_data(as_text=True), page


@pytest.mark.parametrize("proxies", [0, 1])
def test_behind_a_reverse_proxy_each_citizen_has_their_own_limit(connection, tmp_path, proxies: int) -> None:  # type: ignore[no-untyped-def]
    """Behind the deployment's reverse proxy every request comes from the proxy's address: with ``[server]
    proxies = 1`` the limit counts the address the proxy forwards; without it a forwarded address is not believed
    (anyone could send the header)."""
    from web import create_app

    overrides = {"database.url": "postgresql+psycopg://unused/x", "storage.data_dir": str(tmp_path),
                 "public.requests_per_minute": 3, "server.proxies": proxies}
    app = create_app(load_settings(env={}, overrides=overrides), testing=True,
                     sessions=sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))  # fmt: skip
    proxy = {"REMOTE_ADDR": "10.1.1.1"}
    answers = [app.test_client().get("/public/api/outfalls.geojson", environ_base=proxy,
                                     headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
               for n in range(5)]  # fmt: skip
    assert answers == ([200] * 5 if proxies else [200, 200, 200, 429, 429])
