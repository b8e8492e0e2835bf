"""Real GIS clients against the OGC API – Features of a live server (waitress on a thread, a cloned database with a
committed demo catalogue): GDAL's ``ogrinfo``/``ogr2ogr`` (OAPIF driver), OWSLib's OGC API client, and QGIS
(Debian's python3-qgis, headless, driven by the system Python in a subprocess). Every count is checked against
the database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyogrio
import pytest
import sqlalchemy as sa
from owslib.ogcapi.features import Features
from owslib.util import Authentication
from sqlalchemy.orm import Session
from waitress import create_server, wasyncore

from outfalls import accounts
from outfalls.catalogue.lifecycle import NewOutfall, create_outfalls
from outfalls.config import load_settings
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine
from outfalls.demo import seed_demo
from outfalls.types import SurveyLevel

COLLECTIONS = ("outfalls", "candidates", "basins", "rivers", "admin_areas")
SYSTEM_PYTHON = "/usr/bin/python3"  # python3-qgis is installed for Debian's Python, not the virtualenv
DB_NAME = "clients_ogcapi"


@dataclass(frozen=True)
class Server:
    """The live server, two API tokens and the counts the database holds."""

    url: str  # the OGC API landing page
    login: str  # a national user
    token: str
    county_login: str  # a user scoped to one county
    county_token: str
    county: str
    counts: dict[str, int]  # per collection, as the national user sees them
    county_outfalls: int
    outfall_ids: frozenset[int]


def _counts(conn: sa.Connection, county: str) -> tuple[dict[str, int], int]:
    def one(sql: str, **params: object) -> int:
        return int(conn.execute(sa.text(sql), params).scalar_one())

    counts = {
        "outfalls": one("SELECT count(*) FROM outfalls"),
        "candidates": one("SELECT count(*) FROM outfalls WHERE status = 'candidate'"),
        "basins": one("SELECT count(*) FROM basins"),
        "rivers": one("SELECT count(*) FROM rivers"),
        "admin_areas": one("SELECT count(*) FROM admin_areas"),
    }
    in_county = one(
        "SELECT count(*) FROM outfalls o JOIN admin_areas a ON a.id = o.admin_area_id WHERE a.code = :c", c=county
    )
    return counts, in_county


@pytest.fixture(scope="module")
def server(
    pg_cluster: Cluster, clone_db: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    from web import create_app

    url = clone_db(DB_NAME)
    seeding = make_engine(url)
    try:
        with Session(seeding) as session:
            seed_demo(session, yellow=120, handan=80, seed=11)
            # drone candidates along the Wei river in Xi'an, so that collection has a few pages too
            create_outfalls(
                session,
                [NewOutfall(lonlat=(108.80 + 0.01 * i, 34.38), name=f"航测疑似排口{i}", type_code="4.8",
                            found_by=SurveyLevel.DRONE, found_on=date(2023, 4, 1)) for i in range(12)],
                actor="tests",
            )  # fmt: skip
            county = session.execute(
                sa.text("SELECT a.code FROM outfalls o JOIN admin_areas a ON a.id = o.admin_area_id "
                        "WHERE a.level = 'county' GROUP BY a.code ORDER BY count(*) DESC, a.code LIMIT 1")
            ).scalar_one()  # fmt: skip
            accounts.create_user(session, "gis", roles=("leader",), is_national=True, actor="tests")
            accounts.create_user(session, "county_gis", roles=("case_officer",), areas=(county,), actor="tests")
            _t, token = accounts.create_token(session, "gis", name="clients", actor="tests")
            _t, county_token = accounts.create_token(session, "county_gis", name="clients", actor="tests")
            session.commit()
            counts, in_county = _counts(session.connection(), county)
            ids = frozenset(session.scalars(sa.text("SELECT id FROM outfalls")))
    finally:
        seeding.dispose()
    assert counts["candidates"] >= 12 and 0 < in_county < counts["outfalls"]
    settings = load_settings(
        env={}, overrides={"database.url": url, "storage.data_dir": str(tmp_path_factory.mktemp("data"))}
    )
    app = create_app(settings)
    httpd = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=httpd.run, name="waitress-ogcapi-clients", daemon=True)
    thread.start()
    try:
        yield Server(
            url=f"http://127.0.0.1:{httpd.effective_port}/ogc", login="gis", token=token, county_login="county_gis",
            county_token=county_token, county=county, counts=counts, county_outfalls=in_county, outfall_ids=ids,
        )  # fmt: skip
    finally:
        httpd.task_dispatcher.shutdown()
        httpd.trigger.pull_trigger(lambda: wasyncore.close_all(httpd._map))
        thread.join(timeout=10)
        app.extensions["outfalls.sessions"].kw["bind"].dispose()
        pg_cluster.drop_database(DB_NAME)
    assert not thread.is_alive(), "the waitress thread did not stop"


def gdal(*args: str, config: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a GDAL command-line tool with ``--config`` options; fails on a non-zero exit or any warning."""
    options = [part for key, value in config.items() for part in ("--config", key, value)]
    done = subprocess.run([args[0], *options, *args[1:]], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr and "Warning" not in done.stderr, done.stderr
    return done


def feature_count(ogrinfo_output: str) -> int:
    (count,) = re.findall(r"^Feature Count: (\d+)$", ogrinfo_output, re.M)
    return int(count)


# -------------------------------------------------------------------------------------------------- GDAL
def test_ogrinfo_reads_every_collection_with_the_right_count(server: Server):
    basic = {"GDAL_HTTP_USERPWD": f"{server.login}:{server.token}"}
    listing = gdal("ogrinfo", "-ro", "-q", f"OAPIF:{server.url}", config=basic).stdout
    assert re.findall(r"^\d+: (\w+) ", listing, re.M) == list(COLLECTIONS)
    for collection in COLLECTIONS:
        summary = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server.url}", collection, config=basic).stdout
        assert feature_count(summary) == server.counts[collection], collection
        # every page read, following the next links (GDAL's default page size is 10)
        full = gdal("ogrinfo", "-ro", "-geom=SUMMARY", f"OAPIF:{server.url}", collection, config=basic).stdout
        assert full.count("OGRFeature(") == server.counts[collection], collection
    fields = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server.url}", "outfalls", config=basic).stdout
    assert "found_on: Date" in fields and "case_deadline: Date" in fields and "is_demo: Integer(Boolean)" in fields


def test_ogrinfo_with_a_bearer_token_sees_the_county_only(server: Server):
    bearer = {"GDAL_HTTP_HEADERS": f"Authorization: Bearer {server.county_token}"}
    summary = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server.url}", "outfalls", config=bearer).stdout
    assert feature_count(summary) == server.county_outfalls
    full = gdal("ogrinfo", "-ro", "-geom=NO", f"OAPIF:{server.url}", "outfalls", config=bearer).stdout
    assert full.count("OGRFeature(") == server.county_outfalls
    assert set(re.findall(r"^  area \(String\) = (\d+)$", full, re.M)) == {server.county}


def test_gdal_without_credentials_is_refused(server: Server):
    done = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{server.url}"], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "401" in done.stderr or "NotAuthenticated" in done.stderr


def test_ogr2ogr_copies_the_outfalls_to_a_geopackage(server: Server, tmp_path: Path):
    target = tmp_path / "outfalls.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{server.url}", "outfalls", "-oo", "PAGE_SIZE=50",
         "-oo", f"USERPWD={server.login}:{server.token}", config={})  # fmt: skip
    info = gdal("ogrinfo", "-ro", "-so", str(target), "outfalls", config={}).stdout
    assert feature_count(info) == server.counts["outfalls"]
    frame = pyogrio.read_dataframe(target, layer="outfalls")
    assert set(frame["id"]) == set(server.outfall_ids)
    assert frame.crs.to_epsg() == 4326  # GDAL reads OGC API items as CRS84, which CGCS2000 matches to centimetres
    first = frame.set_index("id").loc[min(server.outfall_ids)]
    assert 105 < first.geometry.x < 112 and 31 < first.geometry.y < 40  # longitude first: Shaanxi
    assert str(first["found_on"])[:4] in {str(y) for y in range(2020, 2027)}


# -------------------------------------------------------------------------------------------------- OWSLib
def test_owslib_lists_the_collections_and_pages_the_items(server: Server):
    api = Features(server.url, auth=Authentication(server.login, server.token))
    assert api.feature_collections() == list(COLLECTIONS)
    conformance = api.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conformance
    assert api.api()["openapi"].startswith("3.0")
    outfalls = api.collection("outfalls")
    assert "http://www.opengis.net/def/crs/EPSG/0/4490" in outfalls["crs"]
    seen: list[int] = []
    offset, pages = 0, 0
    while True:
        page = api.collection_items("outfalls", limit=37, offset=offset)
        assert page["numberMatched"] == server.counts["outfalls"]
        seen += [f["id"] for f in page["features"]]
        pages += 1
        if not any(link["rel"] == "next" for link in page["links"]):
            break
        offset += 37
    assert pages == -(-server.counts["outfalls"] // 37)
    assert sorted(seen) == sorted(server.outfall_ids)
    candidates = api.collection_items("candidates", limit=5, found_by="drone")
    assert candidates["numberMatched"] == server.counts["candidates"] and len(candidates["features"]) == 5
    flipped = api.collection_items("outfalls", limit=1, crs="http://www.opengis.net/def/crs/EPSG/0/4490")
    lat, lon = flipped["features"][0]["geometry"]["coordinates"]
    assert 31 < lat < 40 and 105 < lon < 112


# -------------------------------------------------------------------------------------------------- QGIS
QGIS_SCRIPT = r"""
import json, os, sys
from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsVectorLayer

url, login, token, county_login, county_token = sys.argv[1:6]
app = QgsApplication([], False)
app.initQgis()
manager = QgsApplication.authManager()
manager.setMasterPassword("outfalls tests", True)
config = QgsAuthMethodConfig("Basic")  # what the QGIS connection dialog stores for a Basic login
config.setName("outfalls")
config.setConfig("username", login)
config.setConfig("password", token)
manager.storeAuthenticationConfig(config)
result = {}
for name, uri in (
    ("authcfg", f"url='{url}' typename='outfalls' authcfg='{config.id()}'"),
    ("credentials", f"url='{url}' typename='outfalls' username='{county_login}' password='{county_token}'"),
):
    layer = QgsVectorLayer(uri, "outfalls", "OAPIF")
    valid = layer.isValid()
    features = list(layer.getFeatures()) if valid else []
    provider = layer.dataProvider()
    result[name] = {
        "valid": valid,
        "error": "" if valid or provider is None else provider.error().message(),
        "count": layer.featureCount(),
        "ids": sorted(f["id"] for f in features),
        "fields": {f.name(): f.typeName() for f in layer.fields()},
        "crs": layer.crs().authid(),
        "areas": sorted({f["area"] for f in features}),
    }
    del features, provider, layer
print(json.dumps(result), flush=True)
app.exitQgis()
os._exit(0)  # PyQGIS scripts can crash in Qt's destructors at interpreter exit, after the work is done
"""


def test_qgis_loads_the_outfalls_layer_with_all_its_features(server: Server, tmp_path: Path):
    script = tmp_path / "load_layer.py"
    script.write_text(QGIS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run(
        [SYSTEM_PYTHON, str(script), server.url, server.login, server.token, server.county_login, server.county_token],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    national = result["authcfg"]
    assert national["valid"], national["error"]
    assert national["count"] == server.counts["outfalls"]
    assert national["ids"] == sorted(server.outfall_ids)
    assert national["crs"] == "EPSG:4326"
    assert national["fields"]["found_on"] == "Date" and national["fields"]["name"] == "String"
    county = result["credentials"]
    assert county["valid"], county["error"]
    assert county["count"] == len(county["ids"]) == server.county_outfalls
    assert county["areas"] == [server.county]
