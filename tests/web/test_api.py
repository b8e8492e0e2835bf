"""The JSON API through the Flask test client: lists, details, map features, reference layers, facets,
summaries, and the error bodies ``{error, message, details}``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import HistoryItem
from outfalls.config import Settings
from outfalls.demo import seed_demo
from outfalls.models import Outfall
from outfalls.types import EventKind, OutfallStatus, SurveyLevel
from tests.statements import statements_sent

# On the Han river (汉江) in Hanbin district, Ankang: Yangtze basin, sub-basin 汉江上游.
ANKANG_HAN = (108.7643, 32.5754)
XIAN_BBOX = "108.5,34.0,109.5,34.8"


def get_json(client: FlaskClient, url: str, status: int = 200, **kw: Any) -> Any:
    response = client.get(url, **kw)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    # GeoJSON has its own media type (RFC 7946); everything else is plain JSON
    expected = "application/geo+json" if url.startswith("/api/map/") and status == 200 else "application/json"
    assert response.mimetype == expected
    return response.get_json(force=True)


def assert_error(body: Any, error: str, field: str | None = None) -> None:
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    if field is not None:
        assert body["details"]["field"] == field


@pytest.fixture
def four(make_outfall: Callable[..., Outfall]) -> dict[str, Outfall]:
    """Three outfalls around Xi'an (Yellow River basin) and one on the Han river (Yangtze basin)."""
    return {
        "xian": make_outfall(name="西安渭河排口", local_code="local-77"),
        "drone": make_outfall(name="航测疑似排口", found_by=SurveyLevel.DRONE),
        "traced": make_outfall(
            name="已溯源排口",
            history=(HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "示例企业"}),),
        ),
        "han": make_outfall(name="汉江工业排口", lonlat=ANKANG_HAN, type_code="1.1.1"),
    }


# -------------------------------------------------------------------------------------- /api/outfalls


def test_outfall_list_shape(client: FlaskClient, session: Session, settings: Settings) -> None:
    seed_demo(session, yellow=40, handan=30, seed=5)
    total = session.scalar(sa.select(sa.func.count()).select_from(Outfall))

    body = get_json(client, "/api/outfalls")

    assert set(body) == {"items", "total", "page", "page_size", "pages"}
    assert body["total"] == total == 70
    assert body["page"] == 1
    assert body["page_size"] == settings.list.page_size == 50
    assert body["pages"] == 2
    assert len(body["items"]) == 50
    ids = [item["id"] for item in body["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    item = body["items"][0]
    assert {
        "id", "name", "national_code", "local_code", "type_code", "type_zh", "type_en", "status", "status_since",
        "basin", "sub_basin", "river", "area_code", "area", "found_by", "found_on", "lon", "lat", "is_demo",
        "exceeds_limit", "version", "assigned_to", "case_deadline", "remediation_category", "assigned_name",
    } == set(item)  # fmt: skip
    assert item["is_demo"] is True
    assert item["status"] in {s.value for s in OutfallStatus}
    date.fromisoformat(item["found_on"])
    assert 105 < item["lon"] < 112 and 31 < item["lat"] < 40


def test_outfall_list_pages(client: FlaskClient, make_outfall: Callable[..., Outfall]) -> None:
    ids = [make_outfall().id for _ in range(5)]

    pages = [get_json(client, f"/api/outfalls?page_size=2&page={n}") for n in (1, 2, 3, 4)]

    assert [p["pages"] for p in pages] == [3, 3, 3, 3]
    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    assert [[i["id"] for i in p["items"]] for p in pages] == [ids[4:2:-1], ids[2:0:-1], ids[:1], []]
    assert [p["page"] for p in pages] == [1, 2, 3, 4]


def test_empty_catalogue_has_one_empty_page(client: FlaskClient) -> None:
    assert get_json(client, "/api/outfalls") == {"items": [], "total": 0, "page": 1, "page_size": 50, "pages": 1}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"xian", "drone", "traced", "han"}),
        ("status=candidate", {"drone"}),
        ("status=traced", {"traced"}),
        ("basin=HH", {"xian", "drone", "traced"}),
        ("basin=CJ", {"han"}),
        ("basin=CJ-10", {"han"}),
        ("area=610000", {"xian", "drone", "traced", "han"}),
        ("area=610100", {"xian", "drone", "traced"}),
        ("area=610112", {"xian", "drone", "traced"}),
        ("area=610902", {"han"}),
        ("type=1", {"han"}),
        ("type=1.1.1", {"han"}),
        ("type=4.8", {"xian", "drone", "traced"}),
        ("q=排口", {"xian", "drone", "traced", "han"}),
        ("q=汉江", {"han"}),
        ("q=LOCAL-77", {"xian"}),
        ("status=surveyed&basin=HH", {"xian"}),
        ("status=surveyed&basin=CJ", {"han"}),
        ("q=没有这个排口", set()),
        ("status=&basin=&q=+", {"xian", "drone", "traced", "han"}),  # empty values are no filter
    ],
)
def test_outfall_list_filters(client: FlaskClient, four: dict[str, Outfall], query: str, expected: set[str]) -> None:
    by_id = {o.id: key for key, o in four.items()}

    body = get_json(client, f"/api/outfalls?{query}")

    assert {by_id[item["id"]] for item in body["items"]} == expected
    assert body["total"] == len(expected)


def test_outfall_list_items_carry_location_and_labels(client: FlaskClient, four: dict[str, Outfall]) -> None:
    (item,) = get_json(client, "/api/outfalls?q=汉江")["items"]
    assert item["basin"] == "长江流域" and item["sub_basin"] == "汉江上游"
    assert item["area_code"] == "610902" and item["area"] == "汉滨区"
    assert item["type_code"] == "1.1.1" and item["type_zh"] == "工业企业排污口"
    assert item["lon"] == pytest.approx(ANKANG_HAN[0]) and item["lat"] == pytest.approx(ANKANG_HAN[1])
    assert item["status"] == "surveyed" and item["found_by"] == "foot"


# --------------------------------------------------------------------------------- /api/outfalls/<id>


def test_outfall_detail(client: FlaskClient, make_outfall: Callable[..., Outfall]) -> None:
    o = make_outfall(
        name="渭河南岸排口",
        history=(
            HistoryItem(EventKind.SAMPLED, date(2022, 5, 10), {"is_discharging": False}),
            HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "示例企业001号"}),
            HistoryItem(EventKind.REMEDIATION_PLANNED, date(2022, 7, 1), {"category": "standardise"}),
            HistoryItem(EventKind.REMEDIATED, date(2023, 3, 1), {"category": "standardise"}),
        ),
    )

    body = get_json(client, f"/api/outfalls/{o.id}")

    assert body["row"]["id"] == o.id and body["row"]["name"] == "渭河南岸排口"
    assert body["row"]["status"] == "remediated" and body["row"]["status_since"] == "2023-03-01"
    assert body["type_path"] == [["4", "其他排口", "Other outlet"], ["4.8", "城镇雨洪排口", "Urban storm outlet"]]
    assert body["admin_path"] == [["610000", "陕西省"], ["610100", "西安市"], ["610112", "未央区"]]
    assert body["admin_path"][-1][0] == body["row"]["area_code"]
    assert [e["kind"] for e in body["events"]] == ["created", "sampled", "traced", "remediation_planned", "remediated"]
    assert [e["effective_at"][:10] for e in body["events"]] == [
        "2022-05-01", "2022-05-10", "2022-06-01", "2022-07-01", "2023-03-01",
    ]  # fmt: skip
    assert all(e["actor"] == "tester" for e in body["events"])
    assert body["events"][2]["payload"]["responsible_party"] == "示例企业001号"
    assert body["responsible_party"] == "示例企业001号"
    assert body["remediation_category"] == "standardise"
    assert body["is_discharging"] is False
    assert body["last_sampled_on"] == "2022-05-10"
    assert body["version"] >= 1 and body["observation_count"] == 0


def test_missing_outfall_is_404_json(client: FlaskClient) -> None:
    body = get_json(client, "/api/outfalls/999999", status=404)
    assert_error(body, "not_found")
    assert body["details"] == {"entity": "outfall", "id": 999999}


def test_unknown_api_address_is_404_json(client: FlaskClient) -> None:
    assert_error(get_json(client, "/api/no-such-thing", status=404), "not_found")


def test_page_errors_are_json_when_json_is_asked_for(client: FlaskClient) -> None:
    body = get_json(client, "/outfalls/999999", status=404, headers={"Accept": "application/json"})
    assert_error(body, "not_found")


# ------------------------------------------------------------------------------------ /api/map/outfalls


def test_map_outfalls_is_geojson(client: FlaskClient, four: dict[str, Outfall]) -> None:
    body = get_json(client, "/api/map/outfalls")

    assert body["type"] == "FeatureCollection"
    assert body["truncated"] is False
    features = {f["id"]: f for f in body["features"]}
    assert set(features) == {o.id for o in four.values()}
    han = features[four["han"].id]
    assert han["type"] == "Feature"
    assert han["geometry"]["type"] == "Point"
    assert han["geometry"]["coordinates"] == pytest.approx(list(ANKANG_HAN), abs=1e-6)
    assert han["properties"] == {"name": "汉江工业排口", "status": "surveyed", "type": "1.1.1", "demo": False}
    assert features[four["drone"].id]["properties"]["status"] == "candidate"


def test_map_outfalls_bbox_and_filters(client: FlaskClient, four: dict[str, Outfall]) -> None:
    in_xian = get_json(client, f"/api/map/outfalls?bbox={XIAN_BBOX}")
    assert {f["id"] for f in in_xian["features"]} == {four[k].id for k in ("xian", "drone", "traced")}
    around_han = get_json(client, "/api/map/outfalls?bbox=108.7,32.5,108.8,32.6")
    assert [f["id"] for f in around_han["features"]] == [four["han"].id]
    nowhere = get_json(client, "/api/map/outfalls?bbox=100,20,101,21")
    assert nowhere["features"] == [] and nowhere["truncated"] is False
    candidates = get_json(client, f"/api/map/outfalls?bbox={XIAN_BBOX}&status=candidate")
    assert [f["id"] for f in candidates["features"]] == [four["drone"].id]


def test_filtered_map_outfalls_carry_the_bbox_of_every_match(client: FlaskClient, four: dict[str, Outfall]) -> None:
    """A filtered answer holds the GeoJSON ``bbox`` of all the outfalls it matches (not only those sent), so the
    map can zoom to the result; an unfiltered one does not pay for it."""
    assert "bbox" not in get_json(client, "/api/map/outfalls")
    xian, han = (108.94, 34.40), ANKANG_HAN
    matched = get_json(client, "/api/map/outfalls?q=%E6%8E%92%E5%8F%A3&limit=1")  # 排口: all four, one sent
    assert len(matched["features"]) == 1 and matched["truncated"] is True
    assert matched["bbox"] == pytest.approx([han[0], han[1], xian[0], xian[1]], abs=1e-6)
    one = get_json(client, "/api/map/outfalls?status=candidate")
    assert one["bbox"] == pytest.approx([*xian, *xian], abs=1e-6)
    assert get_json(client, "/api/map/outfalls?q=nothing-like-this")["bbox"] is None


def test_map_outfalls_limit_truncates(client: FlaskClient, four: dict[str, Outfall], settings: Settings) -> None:
    two = get_json(client, "/api/map/outfalls?limit=2")
    assert len(two["features"]) == 2 and two["truncated"] is True
    exact = get_json(client, "/api/map/outfalls?limit=4")
    assert len(exact["features"]) == 4 and exact["truncated"] is False
    too_many = get_json(client, f"/api/map/outfalls?limit={settings.map.max_features + 1}", status=422)
    assert_error(too_many, "invalid_input", "limit")
    assert_error(get_json(client, "/api/map/outfalls?limit=0", status=422), "invalid_input", "limit")


@pytest.mark.parametrize(
    "bbox",
    [
        "1,2",
        "1,2,3,4,5",
        "a,b,c,d",
        "109,34,108,35",  # min_lon above max_lon
        "108,35,109,34",  # min_lat above max_lat
        "0,0,200,10",
        "0,-91,10,10",
        "nan,0,1,1",
    ],
)
def test_bad_bbox_is_422(client: FlaskClient, bbox: str) -> None:
    body = get_json(client, f"/api/map/outfalls?bbox={bbox}", status=422)
    assert_error(body, "invalid_input", "bbox")


# ------------------------------------------------------------------------------------- /api/layers/...


@pytest.mark.parametrize(
    ("name", "geometry_types", "keys", "codes"),
    [
        ("basins", {"Polygon", "MultiPolygon"}, {"code", "name", "name_en", "parent"}, {"HH", "CJ"}),
        ("sub_basins", {"Polygon", "MultiPolygon"}, {"code", "name", "name_en", "parent"}, {"CJ-10"}),
        ("rivers", {"LineString", "MultiLineString"}, {"code", "name", "length_km", "basin"}, set()),
        ("provinces", {"Polygon", "MultiPolygon"}, {"code", "name", "parent"}, {"610000"}),
        ("cities", {"Polygon", "MultiPolygon"}, {"code", "name", "parent"}, {"610100", "610900"}),
        ("counties", {"Polygon", "MultiPolygon"}, {"code", "name", "parent"}, {"610112", "610902"}),
    ],
)
def test_reference_layers(
    client: FlaskClient, name: str, geometry_types: set[str], keys: set[str], codes: set[str]
) -> None:
    response = client.get(f"/api/layers/{name}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.cache_control.private and response.cache_control.max_age == 3600  # data behind a login
    body = response.get_json()

    assert body["type"] == "FeatureCollection"
    assert body["features"], name
    assert {f["geometry"]["type"] for f in body["features"]} <= geometry_types
    assert all(set(f["properties"]) == keys for f in body["features"])
    assert codes <= {f["properties"]["code"] for f in body["features"]}
    assert len({f["id"] for f in body["features"]}) == len(body["features"])
    xs = [c for f in body["features"] for c in _flatten(f["geometry"]["coordinates"])[::2]]
    assert 70 < min(xs) and max(xs) < 136  # lon/lat degrees in China, not metres


def test_sub_basins_name_their_basin(client: FlaskClient) -> None:
    body = get_json(client, "/api/layers/sub_basins")
    parents = {f["properties"]["code"]: f["properties"]["parent"] for f in body["features"]}
    assert parents["CJ-10"] == "CJ"
    assert all(p in {"CJ", "HH"} for p in parents.values())


def test_unknown_layer_is_404_json(client: FlaskClient) -> None:
    body = get_json(client, "/api/layers/roads", status=404)
    assert_error(body, "not_found")
    assert body["details"] == {"entity": "layer", "id": "roads"}


def _flatten(coords: Any) -> list[float]:
    if isinstance(coords, int | float):
        return [float(coords)]
    return [v for c in coords for v in _flatten(c)]


# ------------------------------------------------------------------------------- facets and summary


def test_facets(client: FlaskClient, four: dict[str, Outfall]) -> None:
    body = get_json(client, "/api/facets")

    assert set(body) == {"basins", "areas", "types", "statuses"}
    assert body["statuses"] == [s.value for s in OutfallStatus]
    basins = {code: (name, level) for code, name, level in body["basins"]}
    assert basins["HH"] == ("黄河流域", "basin") and basins["CJ"] == ("长江流域", "basin")
    assert basins["CJ-10"] == ("汉江上游", "sub_basin")  # sub-basins in use are offered
    areas = {code: (name, level) for code, name, level in body["areas"]}
    assert areas["610000"] == ("陕西省", "province") and areas["610902"] == ("汉滨区", "county")
    types = {code: (zh, en, level) for code, zh, en, level in body["types"]}
    assert types["4.8"] == ("城镇雨洪排口", "Urban storm outlet", 2)
    assert types["1"][2] == 1


def test_facets_offer_only_sub_basins_in_use(client: FlaskClient) -> None:
    body = get_json(client, "/api/facets")
    assert {level for _code, _name, level in body["basins"]} == {"basin"}


def test_summary_counts_by_status(client: FlaskClient, four: dict[str, Outfall]) -> None:
    assert get_json(client, "/api/summary") == {
        "total": 4,
        "by_status": {"surveyed": 2, "candidate": 1, "traced": 1},
    }
    assert get_json(client, "/api/summary?basin=CJ") == {"total": 1, "by_status": {"surveyed": 1}}
    assert get_json(client, "/api/summary?q=没有") == {"total": 0, "by_status": {}}


def test_summary_matches_the_list_for_the_demo(client: FlaskClient, session: Session) -> None:
    seed_demo(session, yellow=40, handan=30, seed=7)
    summary = get_json(client, "/api/summary?basin=HH")
    listed = get_json(client, "/api/outfalls?basin=HH&page_size=500")
    assert summary["total"] == listed["total"] == len(listed["items"]) > 0
    by_status: dict[str, int] = {}
    for item in listed["items"]:
        by_status[item["status"]] = by_status.get(item["status"], 0) + 1
    assert summary["by_status"] == by_status


# ------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/outfalls?page=x", "page"),
        ("/api/outfalls?page=0", "page"),
        ("/api/outfalls?page=1.5", "page"),
        ("/api/outfalls?page_size=0", "page_size"),
        ("/api/outfalls?page_size=501", "page_size"),
        ("/api/outfalls?status=unknown", "status"),
        ("/api/outfalls?basin=XX", "basin"),
        ("/api/outfalls?area=61", "area"),
        ("/api/outfalls?area=abcdef", "area"),
        ("/api/map/outfalls?status=nope", "status"),
        ("/api/map/outfalls?basin=nope", "basin"),
        ("/api/map/outfalls?bbox=1,2,3", "bbox"),
        ("/api/summary?status=nope", "status"),
        ("/api/summary?basin=nope", "basin"),
    ],
)
def test_invalid_input_is_422_json(client: FlaskClient, url: str, field: str) -> None:
    body = get_json(client, url, status=422)
    assert_error(body, "invalid_input", field)
    assert field in body["message"]


def test_invalid_page_error_body(client: FlaskClient) -> None:
    body = get_json(client, "/api/outfalls?page=x", status=422)
    assert body == {
        "error": "invalid_input",
        "message": "page must be a whole number, not 'x'",
        "details": {"field": "page", "value": "x"},
    }


def test_api_responses_carry_security_headers(client: FlaskClient) -> None:
    for url in ("/api/outfalls", "/api/outfalls?page=x", "/api/layers/roads"):
        response = client.get(url)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_a_list_page_is_one_statement_besides_the_identity(
    connection: sa.Connection, make_user: Callable[..., Any], login_as: Callable[..., FlaskClient],
    make_outfall: Callable[..., Outfall],
) -> None:
    for n in range(3):
        make_outfall(name=f"西安排口{n}")
    make_outfall(lonlat=(109.03, 32.69), name="汉滨排口")  # outside Xi'an
    xian = login_as(make_user("xian", areas=("610100",)))
    with statements_sent(connection) as sent:
        get_json(xian, "/api/outfalls")  # a new session may be marked as seen on its first request
        sent.clear()
        first = get_json(xian, "/api/outfalls?page_size=2")
        assert len([s for s in sent if s.startswith("SELECT")]) == 2  # who asks (user, roles, scope), the page
        sent.clear()
        past = get_json(xian, "/api/outfalls?page_size=2&page=3")  # past the end: counted apart
        assert len([s for s in sent if s.startswith("SELECT")]) == 3
    assert first["total"] == past["total"] == 3 and len(first["items"]) == 2 and past["items"] == []
    assert first["pages"] == 2 and all(i["area_code"].startswith("6101") for i in first["items"])
