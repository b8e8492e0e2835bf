"""OGC API – Features under /ogc through the Flask test client: the documents (landing page, conformance,
OpenAPI, collections, queryables, schema), items with paging, bbox, datetime, CRS and property filters, scope,
tokens, the OGC exception bodies, and the HTML views in both languages."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

import imagery.errors  # noqa: F401  (its errors belong to the tree checked below)
from outfalls import accounts
from outfalls.catalogue.features import LAYERS
from outfalls.config import Settings, load_settings
from outfalls.errors import ConfigError, InvalidInput, OutfallsError
from outfalls.models import AdminArea, Basin, Outfall, River
from outfalls.types import SurveyLevel
from web.api.ogc.collections import COLLECTIONS as SERVED

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
LINTONG = (109.21, 34.37)  # 临潼区 610115, Wei river sub-basin HH-08
HANBIN = (109.03, 32.69)  # 汉滨区 610902, Han river (Yangtze basin)
XIAN = (108.94, 34.40)  # 未央区 610112
COLLECTIONS = ("outfalls", "candidates", "basins", "rivers", "admin_areas")
CONFORMANCE = {
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
}


def get(client: FlaskClient, url: str, status: int = 200, mimetype: str = "application/json", **kw: Any) -> Any:
    response = client.get(url, **kw)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == mimetype
    return response.get_json(force=True)


def items(client: FlaskClient, query: str = "", collection: str = "outfalls", **kw: Any) -> Any:
    sep = "?" if query else ""
    return get(client, f"/ogc/collections/{collection}/items{sep}{query}", mimetype="application/geo+json", **kw)


def ids(doc: Any) -> list[int]:
    return [f["id"] for f in doc["features"]]


def link(doc: Any, rel: str) -> str | None:
    found = [lk["href"] for lk in doc["links"] if lk["rel"] == rel]
    return found[0] if found else None


def local(url: str) -> str:
    return url.removeprefix("http://localhost")


@pytest.fixture
def four(make_outfall: Callable[..., Outfall]) -> dict[str, Outfall]:
    """Two outfalls found on foot and two drone candidates in three counties, found on different days."""
    return {
        "lintong": make_outfall(lonlat=LINTONG, name="临潼区渭河右岸1#排口", found_on=date(2021, 3, 5),
                                national_code="OGC-LT-1"),
        "xian": make_outfall(lonlat=XIAN, name="未央区渭河左岸2#排口", found_on=date(2022, 5, 1), type_code="1.1.1"),
        "han1": make_outfall(lonlat=HANBIN, name="汉滨区汉江左岸3#排口", found_by=SurveyLevel.DRONE,
                             found_on=date(2023, 1, 15)),
        "han2": make_outfall(lonlat=(HANBIN[0] + 0.01, HANBIN[1]), name="汉滨区汉江左岸4#排口",
                             found_by=SurveyLevel.DRONE, found_on=date(2023, 6, 30)),
    }  # fmt: skip


def basic(login: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{secret}".encode()).decode()}


# ------------------------------------------------------------------------------------------ documents
def test_landing_page_links_to_the_api_conformance_and_collections(client: FlaskClient):
    for url in ("/ogc", "/ogc/"):
        doc = get(client, url)
        rels = {lk["rel"]: lk for lk in doc["links"]}
        assert rels["service-desc"]["type"] == OPENAPI
        assert local(rels["service-desc"]["href"]) == "/ogc/api"
        assert local(rels["conformance"]["href"]) == "/ogc/conformance"
        assert local(rels["data"]["href"]) == "/ogc/collections"
        assert rels["self"]["type"] == "application/json" and rels["alternate"]["type"] == "text/html"
    assert set(get(client, "/ogc/conformance")["conformsTo"]) == CONFORMANCE


def test_openapi_document_describes_every_collection_and_resolves_its_references(client: FlaskClient):
    response = client.get("/ogc/api")
    assert response.status_code == 200 and response.content_type == OPENAPI
    doc = response.get_json(force=True)
    assert doc["openapi"].startswith("3.0")
    assert doc["servers"][0]["url"] == "http://localhost/ogc"
    for cid in COLLECTIONS:
        for path in ("", "/items", "/items/{featureId}", "/queryables", "/schema"):
            assert f"/collections/{cid}{path}" in doc["paths"]
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 10000, 100)
    assert set(doc["components"]["securitySchemes"]) == {"basicAuth", "bearerAuth"}

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in refs(v)]
        return [r for v in node for r in refs(v)] if isinstance(node, list) else []

    found = refs(doc)
    assert found
    for ref in found:
        target = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]  # a KeyError is a dangling reference
    params = {p.get("name") for p in doc["paths"]["/collections/outfalls/items"]["get"]["parameters"]}
    assert {"status", "type_code", "basin", "area", "found_by"} <= params
    outfall_items = doc["paths"]["/collections/outfalls/items"]["get"]["parameters"]
    basin_items = doc["paths"]["/collections/basins/items"]["get"]["parameters"]
    assert {"$ref": "#/components/parameters/datetime"} in outfall_items
    assert {"$ref": "#/components/parameters/datetime"} not in basin_items  # basins have no time


def test_collections_offer_both_crs_with_cgcs2000_as_storage(client: FlaskClient, four):
    doc = get(client, "/ogc/collections")
    assert [c["id"] for c in doc["collections"]] == list(COLLECTIONS)
    for c in doc["collections"]:
        assert c["itemType"] == "feature"
        assert c["crs"][:2] == [CRS84, EPSG_4490] and c["storageCrs"] == EPSG_4490
        items_links = {lk["type"] for lk in c["links"] if lk["rel"] == "items"}
        assert items_links == {"application/geo+json", "text/html"}
    outfalls = get(client, "/ogc/collections/outfalls")
    (bbox,) = outfalls["extent"]["spatial"]["bbox"]
    assert bbox == pytest.approx([XIAN[0], HANBIN[1], LINTONG[0], XIAN[1]])
    assert outfalls["extent"]["temporal"]["interval"] == [["2021-03-05T00:00:00+08:00", "2023-06-30T23:59:59+08:00"]]
    assert "temporal" not in get(client, "/ogc/collections/rivers")["extent"]
    assert get(client, "/ogc/collections/nowhere", 404)["code"] == "NotFound"


def test_each_collection_serves_a_layer_with_every_filter_it_takes():
    assert [c.id for c in SERVED] == [layer.id for layer in LAYERS] == list(COLLECTIONS)
    for c in SERVED:
        assert {p.name for p in c.filters} == set(c.layer.filters), c.id


def test_queryables_and_schema_describe_the_properties(client: FlaskClient):
    queryables = get(client, "/ogc/collections/outfalls/queryables", mimetype="application/schema+json")
    assert queryables["properties"]["status"]["enum"][0] == "candidate"
    assert "name" not in queryables["properties"]  # not a filter
    schema = get(client, "/ogc/collections/outfalls/schema", mimetype="application/schema+json")
    props = schema["properties"]["properties"]["properties"]
    assert props["found_on"] == {"title": "发现日期", "type": "string", "format": "date"}
    assert props["is_discharging"]["type"] == "boolean" and props["version"]["type"] == "integer"
    assert "id" not in props  # the feature's own id
    described = get(client, "/ogc/collections/outfalls")["links"]
    assert [lk["type"] for lk in described if lk["rel"] == "describedBy"] == ["application/schema+json"]


# ------------------------------------------------------------------------------------------ items
def test_items_page_by_limit_with_next_and_prev_links(client: FlaskClient, four):
    first = items(client, "limit=3")
    assert first["type"] == "FeatureCollection"
    assert (first["numberMatched"], first["numberReturned"]) == (4, 3)
    assert ids(first) == sorted(o.id for o in four.values())[:3]
    assert link(first, "prev") is None
    second = items(client, local(link(first, "next")).split("?", 1)[1])
    assert (second["numberMatched"], second["numberReturned"]) == (4, 1)
    assert link(second, "next") is None
    assert "offset=0" in link(second, "prev")
    assert ids(first) + ids(second) == sorted(o.id for o in four.values())
    assert first["timeStamp"].endswith("Z")
    props = first["features"][0]["properties"]
    assert props["name"] == "临潼区渭河右岸1#排口" and props["area"] == "610115" and props["sub_basin"] == "HH-08"
    assert props["found_on"] == "2021-03-05" and props["national_code"] == "OGC-LT-1"
    assert items(client)["numberReturned"] == 4  # the default limit (100) holds them all


def test_bbox_in_crs84_and_in_cgcs2000_latitude_first(client: FlaskClient, four):
    lon, lat = LINTONG
    around = f"{lon - 0.05},{lat - 0.05},{lon + 0.05},{lat + 0.05}"
    assert ids(items(client, f"bbox={around}")) == [four["lintong"].id]
    flipped = f"{lat - 0.05},{lon - 0.05},{lat + 0.05},{lon + 0.05}"
    for crs in (EPSG_4490, EPSG_4326, "EPSG:4490"):
        assert ids(items(client, f"bbox={flipped}&bbox-crs={crs}")) == [four["lintong"].id]
    # the same numbers read in the wrong axis order are a latitude of 109°
    wrong = get(client, f"/ogc/collections/outfalls/items?bbox={around}&bbox-crs={EPSG_4490}", 400)
    assert "min_lat,min_lon,max_lat,max_lon" in wrong["description"]
    both_han = items(client, "bbox=108.9,32.6,0,109.1,32.8,100")  # with heights
    assert ids(both_han) == [four["han1"].id, four["han2"].id]


def test_crs_4490_serves_latitude_first_and_says_so(client: FlaskClient, four):
    oid = four["lintong"].id
    response = client.get(f"/ogc/collections/outfalls/items?crs={EPSG_4490}&area=610115")
    assert response.headers["Content-Crs"] == f"<{EPSG_4490}>"
    assert response.get_json(force=True)["features"][0]["geometry"]["coordinates"] == [LINTONG[1], LINTONG[0]]
    default = client.get("/ogc/collections/outfalls/items?area=610115")
    assert default.headers["Content-Crs"] == f"<{CRS84}>"
    assert default.get_json(force=True)["features"][0]["geometry"] == {"type": "Point", "coordinates": list(LINTONG)}
    one = client.get(f"/ogc/collections/outfalls/items/{oid}?crs={EPSG_4326}")
    assert one.status_code == 200 and one.mimetype == "application/geo+json"
    assert one.headers["Content-Crs"] == f"<{EPSG_4326}>"
    feature = one.get_json(force=True)
    assert feature["geometry"]["coordinates"] == [LINTONG[1], LINTONG[0]]
    assert feature["id"] == oid and feature["properties"]["name"] == "临潼区渭河右岸1#排口"
    assert {lk["rel"] for lk in feature["links"]} == {"self", "alternate", "collection"}
    basins = items(client, f"crs={EPSG_4490}&code=HH-08&limit=1", "basins")
    ring = basins["features"][0]["geometry"]["coordinates"][0][0]
    assert all(30 < lat < 42 and 100 < lon < 112 for lat, lon in ring)


def test_datetime_filters_on_the_local_day_found(client: FlaskClient, four):
    def found(value: str) -> list[int]:
        return ids(items(client, f"datetime={value}"))

    assert found("2021-03-05") == [four["lintong"].id]
    assert found("2021-03-04T17:00:00Z") == [four["lintong"].id]  # 01:00 on the 5th in China
    assert found("2021-03-04T15:59:59Z") == []  # 23:59:59 on the 4th in China
    assert found("2022-01-01/2023-01-15") == [four["xian"].id, four["han1"].id]
    assert found("2023-01-01T00:00:00%2B08:00/..") == [four["han1"].id, four["han2"].id]
    assert found("2023-01-15T23:59:59+08:00") == [four["han1"].id]  # an unencoded '+' arrives as a space
    assert found("../2021-12-31") == [four["lintong"].id]
    assert found("/2021-12-31") == [four["lintong"].id]


def test_property_filters(client: FlaskClient, four):
    def matching(query: str, collection: str = "outfalls") -> list[int]:
        return ids(items(client, query, collection))

    han = [four["han1"].id, four["han2"].id]
    assert matching("status=candidate") == han
    assert matching("found_by=drone") == han
    assert matching("status=surveyed&area=610100") == [four["lintong"].id, four["xian"].id]  # Xi'an city
    assert matching("status=surveyed&area=610112") == [four["xian"].id]
    assert matching("type_code=1") == [four["xian"].id]  # the type and its descendants
    assert matching("basin=HH") == [four["lintong"].id, four["xian"].id]
    assert matching("basin=CJ-10") == han
    assert matching("national_code=OGC-LT-1") == [four["lintong"].id]
    assert matching("") == sorted(o.id for o in four.values())
    assert matching("", "candidates") == han
    assert matching("area=610115", "candidates") == []


def test_reference_collections_hold_the_reference_data(client: FlaskClient, session: Session):
    def count(model: Any, *where: Any) -> int:
        return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    expected = {"basins": count(Basin), "rivers": count(River), "admin_areas": count(AdminArea)}
    for cid, n in expected.items():
        doc = items(client, "limit=1", cid)
        assert doc["numberMatched"] == n > 0
    sub_basins = count(Basin, Basin.level == "sub_basin")
    assert items(client, "level=sub_basin&limit=1", "basins")["numberMatched"] == sub_basins
    counties = items(client, "level=county&parent=610100", "admin_areas")
    assert counties["numberMatched"] == count(AdminArea, AdminArea.code.like("6101__"), AdminArea.level == "county")
    assert {f["properties"]["parent"] for f in counties["features"]} == {"610100"}
    wei = items(client, "basin=HH-08", "rivers")
    assert "渭河" in {f["properties"]["name"] for f in wei["features"]}
    assert all(f["geometry"]["type"] == "MultiLineString" for f in wei["features"])
    lintong = items(client, f"bbox={LINTONG[0]},{LINTONG[1]},{LINTONG[0]},{LINTONG[1]}&level=county", "admin_areas")
    assert [f["properties"]["code"] for f in lintong["features"]] == ["610115"]


# ------------------------------------------------------------------------------------------ scope and tokens
def test_a_county_users_outfalls_are_their_county_only(app: Flask, session: Session, make_user, four):
    make_user("lintong_gis", roles=("case_officer",), areas=("610115",))
    _token, plain = accounts.create_token(session, "lintong_gis", name="qgis", actor="tests")
    c = app.test_client()
    headers = basic("lintong_gis", plain)
    doc = items(c, "", headers=headers)
    assert (doc["numberMatched"], ids(doc)) == (1, [four["lintong"].id])
    assert items(c, "", "candidates", headers=headers)["numberMatched"] == 0
    hidden = get(c, f"/ogc/collections/outfalls/items/{four['han1'].id}", 404, headers=headers)
    assert hidden["code"] == "NotFound" and "汉滨" not in str(hidden)
    assert get(c, f"/ogc/collections/candidates/items/{four['lintong'].id}", 404, headers=headers)
    (bbox,) = get(c, "/ogc/collections/outfalls", headers=headers)["extent"]["spatial"]["bbox"]
    assert bbox == pytest.approx([LINTONG[0], LINTONG[1], LINTONG[0], LINTONG[1]])
    assert items(c, "limit=1", "basins", headers=headers)["numberMatched"] > 1  # reference data is shared


def test_tokens_by_bearer_or_basic_and_never_the_login_password(app: Flask, session: Session, make_user, four):
    make_user("gis", password="a long enough password 42")
    _token, plain = accounts.create_token(session, "gis", name="gdal", actor="tests")
    c = app.test_client()
    assert items(c, headers={"Authorization": f"Bearer {plain}"})["numberMatched"] == 4
    answer = c.get("/ogc/collections/outfalls/items", headers={"Authorization": f"Bearer {plain}"})
    assert answer.headers["Cache-Control"] == "no-store"  # QGIS caches by URL alone: never keep one user's answer
    assert {"Authorization", "Cookie"} <= set(answer.vary)
    assert items(c, headers=basic("gis", plain))["numberMatched"] == 4
    assert items(c, headers=basic("GIS", plain))["numberMatched"] == 4  # user names ignore case
    for headers in (basic("gis", "a long enough password 42"), basic("someone", plain), {"Authorization": "Bearer x"}):
        response = c.get("/ogc/collections/outfalls/items", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert response.get_json()["code"] == "NotAuthenticated"


def test_strangers_get_401_with_a_challenge_and_browsers_the_login_page(app: Flask, anon_client: FlaskClient, four):
    urls = [
        "/ogc",
        "/ogc/",
        "/ogc/conformance",
        "/ogc/api",
        "/ogc/collections",
        "/ogc/collections/outfalls",
        "/ogc/collections/outfalls/items",
        f"/ogc/collections/outfalls/items/{four['lintong'].id}",
        "/ogc/collections/outfalls/queryables",
        "/ogc/collections/outfalls/schema",
        "/ogc/nothing/here",
    ]
    rules = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/ogc")}
    assert len(rules) == 10  # every OGC route is among the URLs above
    for url in urls:
        response = anon_client.get(url)
        assert response.status_code == 401, url
        assert response.headers["WWW-Authenticate"] == 'Basic realm="outfalls", charset="UTF-8"'
        assert response.get_json()["code"] == "NotAuthenticated"
        assert "临潼" not in response.get_data(as_text=True)
        browser = anon_client.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert browser.status_code == 302 and "/login?next=" in browser.location, url
        assert anon_client.get(url + "?f=html").status_code == 302


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("collections/nowhere/items", 404, None),
        ("collections/nowhere", 404, None),
        ("collections/outfalls/items/999999999", 404, None),
        ("collections/outfalls/items/abc", 404, None),
        ("collections/basins/items/999999", 404, None),
        ("collections/outfalls/items?bbox=1,2,3", 400, "bbox"),
        ("collections/outfalls/items?bbox=a,b,c,d", 400, "bbox"),
        ("collections/outfalls/items?bbox=108,35,109,34", 400, "bbox"),
        ("collections/outfalls/items?bbox=108,34,109,95", 400, "bbox"),
        ("collections/outfalls/items?bbox=108,34,109,nan", 400, "bbox"),
        ("collections/outfalls/items?bbox-crs=EPSG:3857&bbox=1,2,3,4", 400, "bbox-crs"),
        ("collections/outfalls/items?crs=EPSG:3857", 400, "crs"),
        ("collections/outfalls/items?crs=http://www.opengis.net/def/crs/EPSG/0/4479", 400, "crs"),
        ("collections/outfalls/items/1?crs=nonsense", 400, "crs"),
        ("collections/outfalls/items?limit=0", 400, "limit"),
        ("collections/outfalls/items?limit=10001", 400, "limit"),
        ("collections/outfalls/items?limit=ten", 400, "limit"),
        ("collections/outfalls/items?offset=-1", 400, "offset"),
        ("collections/outfalls/items?datetime=yesterday", 400, "datetime"),
        ("collections/outfalls/items?datetime=2023-02-30", 400, "datetime"),
        ("collections/outfalls/items?datetime=2023-05-01T10:00:00", 400, "datetime"),
        ("collections/outfalls/items?datetime=2023-05-01/2023-01-01", 400, "datetime"),
        ("collections/outfalls/items?datetime=a/b/c", 400, "datetime"),
        ("collections/rivers/items?datetime=2023-01-01", 400, "datetime"),
        ("collections/outfalls/items?status=lost", 400, "status"),
        ("collections/outfalls/items?found_by=satellite", 400, "found_by"),
        ("collections/outfalls/items?basin=XX-99", 400, "basin"),
        ("collections/outfalls/items?area=61", 400, "area"),
        ("collections/outfalls/items?colour=red", 400, "colour"),
        ("collections/candidates/items?status=closed", 400, "status"),
        ("collections/basins/items?level=galaxy", 400, "level"),
        ("collections/rivers/items?basin=nowhere", 400, "basin"),
        ("collections/outfalls/items?f=xml", 400, "f"),
        ("collections/outfalls/items/1?limit=3", 400, "limit"),
    ],
)
def test_bad_input_is_an_ogc_exception_never_a_500(client: FlaskClient, four, query: str, status: int, field):
    response = client.get(f"/ogc/{query}")
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json(force=True)
    assert set(body) == {"code", "description"}
    assert body["code"] == ("NotFound" if status == 404 else "InvalidParameterValue")
    assert body["description"]
    if field is not None:
        assert field in body["description"]


def _domain_errors() -> list[type[OutfallsError]]:
    found, todo = [], [OutfallsError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(set(found), key=lambda c: c.__name__)


OGC_CODES = {400: "InvalidParameterValue", 401: "NotAuthenticated", 403: "Forbidden", 404: "NotFound",
             409: "Conflict", 503: "ServiceUnavailable"}  # fmt: skip


@pytest.mark.parametrize("error", _domain_errors(), ids=lambda c: c.__name__)
def test_every_domain_error_has_the_status_of_the_one_table(app: Flask, error: type[OutfallsError]):
    err = error("it went wrong")
    with app.test_request_context("/api/outfalls"):
        web = app.make_response(app.handle_user_exception(err))
    with app.test_request_context("/ogc/collections"):
        ogc = app.make_response(app.handle_user_exception(err))
    assert web.get_json()["error"] == error.code
    # OGC API Features part 1 wants 400 for an invalid or unknown parameter: the one documented difference
    expected = 400 if issubclass(error, InvalidInput) else web.status_code
    assert ogc.status_code == expected
    assert ogc.get_json() == {"code": OGC_CODES[expected], "description": "it went wrong"}


def test_a_bbox_across_the_antimeridian_is_two_boxes(client: FlaskClient, four):
    assert items(client, "bbox=179,-10,-179,10")["numberMatched"] == 0
    east_of_xian = [four["lintong"].id, four["han1"].id, four["han2"].id]
    assert ids(items(client, "bbox=109.0,32,-179,35")) == east_of_xian


# ------------------------------------------------------------------------------------------ HTML
def test_html_views_in_chinese_and_english(client: FlaskClient, four):
    pages = [
        "/ogc/?f=html",
        "/ogc/conformance?f=html",
        "/ogc/api?f=html",
        "/ogc/collections?f=html",
        "/ogc/collections/outfalls?f=html",
        "/ogc/collections/outfalls/queryables?f=html",
        "/ogc/collections/outfalls/items?f=html&limit=2",
        f"/ogc/collections/outfalls/items/{four['xian'].id}?f=html",
        "/ogc/collections/basins/items?f=html&limit=2&level=basin",
        "/ogc/collections/admin_areas/items/1?f=html",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.mimetype == "text/html"
    zh = client.get("/ogc/collections/outfalls/items?f=html&limit=2").get_data(as_text=True)
    assert "临潼区渭河右岸1#排口" in zh and "未央区渭河左岸2#排口" in zh and "汉滨" not in zh
    assert 'rel="next"' in zh and "排污口" in zh and "要素" in zh
    assert "OGC API" in client.get("/ogc/?f=html").get_data(as_text=True)
    # Accept negotiation: a browser gets the page, a GIS client JSON
    browser = client.get("/ogc/collections/candidates/items", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.mimetype == "text/html" and "汉滨区汉江左岸3#排口" in browser.get_data(as_text=True)
    assert client.get("/ogc/collections", headers={"Accept": "*/*"}).mimetype == "application/json"
    client.get("/lang/en")
    en = client.get(f"/ogc/collections/outfalls/items/{four['xian'].id}?f=html").get_data(as_text=True)
    assert "Found on" in en and "2022-05-01" in en and "Open the outfall" in en
    assert "Drone candidates" in client.get("/ogc/collections?f=html").get_data(as_text=True)
    assert get(client, "/ogc/collections/candidates")["title"] == "Drone candidates"
    bad = client.get("/ogc/collections/outfalls/items?f=html&limit=0")
    assert bad.status_code == 400 and bad.mimetype == "text/html" and "limit" in bad.get_data(as_text=True)


# ------------------------------------------------------------------------------------------ the server's address
PUBLIC = "https://outfalls.example.gov.cn/register"
OGC_PAGES = ("/ogc/", "/ogc/conformance", "/ogc/collections", "/ogc/collections/outfalls",
             "/ogc/collections/outfalls/queryables", "/ogc/collections/outfalls/items?limit=1",
             "/ogc/api", "/ogc/collections/outfalls/items?limit=1&f=html", "/ogc/?f=html")  # fmt: skip


def _app_with(connection: sa.Connection, settings: Settings, **server: Any) -> Flask:
    from web import create_app

    changed = load_settings(env={}, overrides={"database.url": settings.database.url,
                                               "storage.data_dir": str(settings.storage.data_dir),
                                               **{f"server.{k}": v for k, v in server.items()}})  # fmt: skip
    sessions = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    return create_app(changed, sessions=sessions, testing=True)


STANDARDS = {"www.opengis.net", "schemas.opengis.net", "json-schema.org", "geojson.org", "spec.openapis.org",
             "www.iana.org", "datatracker.ietf.org"}  # fmt: skip


def _own_links(text: str) -> list[str]:
    """The absolute URLs in a document or page that point at this server (not at a standard's URI)."""
    urls = re.findall(r"https?://[^\"'<>\s]+", text)
    return [u for u in urls if urlsplit(u).hostname not in STANDARDS]


def test_links_never_echo_an_untrusted_host(connection: sa.Connection, settings: Settings, session: Session,
                                            make_user, four):  # fmt: skip
    app = _app_with(connection, settings)  # the defaults: no public address, the loopback names trusted
    make_user("gis")
    _token, plain = accounts.create_token(session, "gis", name="qgis", actor="tests")
    c = app.test_client()
    bearer = {"Authorization": f"Bearer {plain}"}
    for path in OGC_PAGES:
        evil = c.get(path, headers=bearer | {"Host": "evil.example"})
        assert evil.status_code == 400 and "evil.example" not in evil.get_data(as_text=True), path
        for host in ("localhost", "127.0.0.1:5000"):
            answer = c.get(path, headers=bearer | {"Host": host})
            assert answer.status_code == 200, path
            links = _own_links(answer.get_data(as_text=True))
            assert links and all(h.startswith(f"http://{host}/ogc") for h in links), (path, links)


def test_links_use_the_public_address_whatever_the_host(connection: sa.Connection, settings: Settings,
                                                        session: Session, make_user, four):  # fmt: skip
    app = _app_with(connection, settings, public_url=PUBLIC + "/")
    make_user("gis")
    _token, plain = accounts.create_token(session, "gis", name="qgis", actor="tests")
    c = app.test_client()
    for path in OGC_PAGES:
        answer = c.get(path, headers={"Authorization": f"Bearer {plain}", "Host": "evil.example"})
        assert answer.status_code == 200, path
        text = answer.get_data(as_text=True)
        assert "evil.example" not in text, path
        links = _own_links(text)
        assert links and all(h.startswith(f"{PUBLIC}/ogc") for h in links), (path, links)
    servers = c.get("/ogc/api", headers={"Authorization": f"Bearer {plain}"}).get_json(force=True)["servers"]
    assert servers == [{"url": f"{PUBLIC}/ogc"}]
    landing = c.get("/ogc/?f=html", headers={"Authorization": f"Bearer {plain}"}).get_data(as_text=True)
    assert f'id="ogc-url">{PUBLIC}/ogc/<' in landing  # the address shown to copy into QGIS


@pytest.mark.parametrize("value", ["outfalls.example.gov.cn", "ftp://outfalls.example.gov.cn/", "https://", "https://x/?q=1"])
def test_a_public_address_that_is_not_a_web_address_fails_at_start(value: str):
    with pytest.raises(ConfigError, match="server.public_url"):
        load_settings(env={}, overrides={"server.public_url": value})
