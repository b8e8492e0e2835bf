"""Real files from field apps and public inventories (``tests/fixtures/survey/real``, origins and licences in its
SOURCES.md), imported without options through the intake the command line uses, and through the command line and
the upload page themselves: how many rows are accepted, that each row lies where the file says, that the photos the
export names are attached, and that nothing is refused or left for review that should not be.

Most files come from outside China (Western Australia, Nairobi, Vermont), so those tests run with the deployment's
region set to where the file was made ([region] bbox, as a deployment there would configure it); Taipei and the
mainland GBK table lie in the default region. Nothing is declared per import, not even a projected file's CRS.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls.config import RegionSettings, Settings
from outfalls.models import Attachment, Observation, ReviewItem
from outfalls.survey.intake import import_table
from outfalls.survey.mapping import ColumnMapping
from outfalls.survey.readers import ChoiceNeeded, read_path

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "survey" / "real"
ODK = REAL / "odk_central_flora_quadrat"
ODK_PHOTOS = sorted(p.name for p in (ODK / "media").iterdir())
REPEAT_PHOTOS = [
    f"{n}.jpg"
    for n in (1568795382633, 1568795579890, 1568787220913, 1568787333689, 1568787380833, 1568787456664, 1568787504877)
]  # named in the taxon_encounter repeat table
KOBO = REAL / "kobocat_tutorial_w_repeats.csv"
TAIPEI = REAL / "taipei_riverside_toilets_big5.csv"
VERMONT = REAL / "vermont_alburgh_point_features.geojson"
WORLD_MAP = REAL / "qgis_world_map_sample.gpkg"
ADCODES = REAL / "cpca_adcodes_gbk.csv"
ALBURGH = REAL / "qgis_alburgh_project.gpkg"
FACILITIES = REAL / "vermont_treatment_facilities.geojson"
ONA_FORM = REAL / "ona_geolocation" / "GeoLocationForm_2015_01_15_01_28_45.csv"
ONA_EMPTY = REAL / "ona_geolocation" / "GeoLocationForm_empty_geoms.csv"
# [west, south, east, north] of where each file was made
PERTH = (110.0, -45.0, 155.0, -10.0)
NAIROBI = (33.0, -5.0, 42.0, 5.0)
VERMONT_BOX = (-74.0, 42.0, -71.0, 45.5)


def _in_region(settings: Settings, bbox: tuple[float, float, float, float]) -> Settings:
    return dataclasses.replace(settings, region=RegionSettings(bbox=bbox, outlier_km=150.0))


def _odk_zip(folder: Path) -> Path:
    """The export as ODK Central delivers it (``submissions.csv.zip``): the CSV at the top, photos in ``media/``."""
    bundle = folder / "Flora-Quadrat-0-4.zip"
    with zipfile.ZipFile(bundle, "w") as z:
        for path in sorted(ODK.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(ODK).as_posix())
    return bundle


def _observations(session: Session, batch_id: int | None) -> dict[str, Observation]:
    found = session.scalars(select(Observation).where(Observation.batch_id == batch_id)).all()
    return {o.client_id: o for o in found}


# --- ODK Central: a CSV export with its media folder -------------------------------------------------------------


def test_an_odk_central_export_places_each_submission_and_attaches_its_photos(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    table = read_path(_odk_zip(tmp_path), "Flora-Quadrat-0-4.zip")
    # the submissions' table is imported; the tables of the form's repeat groups are named, not imported
    assert table.source == "Flora-Quadrat-0-4.zip › build_Flora-Quadrat-0-4_1564384341.csv"
    assert (
        "repeat-group tables not imported: build_Flora-Quadrat-0-4_1564384341-taxon_encounter.csv, "
        "build_Flora-Quadrat-0-4_1564384341-vegetation_stratum.csv"
    ) in table.notes
    assert (
        "photos named in build_Flora-Quadrat-0-4_1564384341-taxon_encounter.csv gathered onto their submissions "
        "as column taxon_encounter-photo_in_situ"
    ) in table.notes
    report = import_table(session, table, settings=_in_region(settings, PERTH), actor="crew1")
    assert (report.rows, report.accepted, report.rejected, report.warnings) == (2, 2, [], [])
    assert (report.new_outfalls, report.linked, report.queued_for_review) == (2, 0, 0)
    assert report.crs == "EPSG:4326"
    # the first geopoint of each submission (location-corner1), keyed by ODK's instance id
    rows = _observations(session, report.batch_id)
    carpark = rows["uuid:d5e78a78-34db-483d-978f-d9c9a3bc7b69"]
    planter = rows["uuid:529cb189-8bb2-4cf1-9041-dcde716efb4f"]
    assert (carpark.orig_x, carpark.orig_y) == (115.88456271, -31.99605811)
    assert (planter.orig_x, planter.orig_y) == (115.88433971, -31.99614843)
    assert carpark.attributes["location-area_name"] == "Kensington Carpark 01"
    # every photo the three photo columns name, and the photos of its taxon_encounter repeat rows
    assert report.photos == {"attached": 12, "unmatched": 0, "ambiguous": 0, "unreadable": 0}
    assert report.photo_problems == []
    attached = session.scalars(select(Attachment).where(Attachment.observation_id.is_not(None))).all()
    assert sorted(a.original_name for a in attached) == ODK_PHOTOS
    by_row = {a.original_name: a.observation_id for a in attached}
    assert by_row["1568794395624.jpg"] == by_row["1568794560256.jpg"] == carpark.id
    assert {by_row[n] for n in ("1568786958640.jpg", "1568787004467.jpg", "1568787172983.jpg")} == {planter.id}
    assert {by_row[n] for n in REPEAT_PHOTOS[:2]} == {carpark.id}  # PARENT_KEY: the carpark's two encounters
    assert {by_row[n] for n in REPEAT_PHOTOS[2:]} == {planter.id}
    assert carpark.attributes["taxon_encounter-photo_in_situ"] == "1568795382633.jpg; 1568795579890.jpg"
    assert session.scalars(select(ReviewItem)).all() == []


def test_an_odk_central_export_is_dated_by_its_submission_date(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    table = read_path(_odk_zip(tmp_path), "Flora-Quadrat-0-4.zip")
    assert ColumnMapping.for_table(table).fields.get("surveyed_at") == "SubmissionDate"
    report = import_table(session, table, settings=_in_region(settings, PERTH), actor="crew1")
    rows = _observations(session, report.batch_id)
    carpark = rows["uuid:d5e78a78-34db-483d-978f-d9c9a3bc7b69"]
    assert carpark.captured_at == datetime(2019, 9, 18, 8, 51, 7, 481000, tzinfo=UTC)


def test_odk_group_prefixes_are_read_like_kobo_group_paths() -> None:
    """ODK Central joins a question's groups with "-" (``location-area_name``) where KoBo writes "/": an outfall
    form's grouped questions are recognised either way, and a header recognised whole still wins.
    """
    header = next(iter((ODK / "build_Flora-Quadrat-0-4_1564384341.csv").read_text().splitlines())).split(",")
    assert ColumnMapping.build(header).fields == {
        "lat": "location-corner1-Latitude", "lon": "location-corner1-Longitude", "client_id": "meta-instanceID",
        "surveyed_at": "SubmissionDate",
    }  # fmt: skip
    grouped = [*header, "outfall-排污口名称", "outfall-排口类型", "outfall-survey-排入水体", "outfall/名称"]
    fields = ColumnMapping.build(grouped).fields
    assert (fields["name"], fields["type"], fields["receiving_water"]) == (
        "outfall/名称", "outfall-排口类型", "outfall-survey-排入水体"
    )  # fmt: skip
    assert ColumnMapping.build(["outfall-排污口名称", "经度", "纬度"]).fields["name"] == "outfall-排污口名称"


# --- KoBoToolbox: the CSV export of KoBoCAT, its data server ----------------------------------------------------


def test_a_kobo_export_is_placed_by_its_geopoint_columns_and_keyed_by_its_uuid(
    session: Session, settings: Settings
) -> None:
    table = read_path(KOBO, KOBO.name)
    assert table.rows[0]["picture"] is None  # KoBo writes "n/a" for an unanswered question
    report = import_table(session, table, settings=_in_region(settings, NAIROBI), actor="crew1")
    assert (report.rows, report.accepted, report.rejected, report.warnings) == (1, 1, [], [])
    assert (report.new_outfalls, report.queued_for_review) == (1, 0)
    [row] = _observations(session, report.batch_id).values()
    # _gps_latitude/_gps_longitude, not the "lat lon alt acc" string beside them
    assert (row.client_id, row.orig_x, row.orig_y) == ("b31c6ac2-b8ca-4180-914f-c844fa10ed3b", 36.7921711, -1.2625621)
    assert row.attributes["children[2]/childs_name"] == "Dick" and row.attributes["meta/instanceID"].startswith("uuid:")
    assert row.captured_at is not None and row.captured_at.date().isoformat() == "2013-02-18"


def test_a_kobo_submission_time_is_utc(session: Session, settings: Settings) -> None:
    report = import_table(session, read_path(KOBO, KOBO.name), settings=_in_region(settings, NAIROBI), actor="crew1")
    [row] = _observations(session, report.batch_id).values()
    assert row.captured_at == datetime(2013, 2, 18, 15, 54, 1, tzinfo=UTC)


# --- Ona (the server KoBoCAT was forked from): a geopoint beside a geotrace and a geoshape ------------------------


def test_a_geopoint_beside_a_geotrace_and_a_geoshape_places_the_row_at_the_geopoint(
    session: Session, settings: Settings
) -> None:
    """The ``path`` (geotrace) and ``shape`` (geoshape) columns hold ``"lat lon alt acc"`` tuples separated by ``;``:
    kept as written, never taken for the position.
    """
    table = read_path(ONA_FORM, ONA_FORM.name)
    fields = ColumnMapping.for_table(table).fields
    assert (fields["lon"], fields["lat"]) == ("_location_longitude", "_location_latitude")
    report = import_table(session, table, settings=_in_region(settings, NAIROBI), actor="crew1")
    # the export holds one submission four times (same instance id, same values): one record, the rest refused
    assert (report.rows, report.accepted, report.warnings) == (4, 1, [])
    assert {(p.row, p.code, p.message) for p in report.rejected} == {
        (n, "duplicate_row", "the same as row 2") for n in (3, 4, 5)
    }
    [row] = _observations(session, report.batch_id).values()
    assert (row.orig_x, row.orig_y) == (36.787219, -1.294197)  # the geopoint, not a vertex of the trace or shape
    x, y = session.execute(select(func.ST_X(Observation.geom), func.ST_Y(Observation.geom))
                           .where(Observation.id == row.id)).one()  # fmt: skip
    assert (x, y) == pytest.approx((36.787219, -1.294197), abs=1e-7)
    assert row.attributes["path"].startswith("-1.294234 36.78722 0 30;") and row.attributes["shape"].count(";") == 5
    # the phone's day (``today``) with the time the record reached the server that same day (UTC), not midnight
    assert row.captured_at == datetime(2015, 1, 15, 6, 19, 23, tzinfo=UTC)


def test_rows_whose_geopoint_is_empty_are_not_placed_on_their_geotrace(session: Session, settings: Settings) -> None:
    table = read_path(ONA_EMPTY, ONA_EMPTY.name)
    assert table.rows[0]["location"] is None and table.rows[0]["path"].count(";") == 4  # n/a is no value
    report = import_table(session, table, settings=_in_region(settings, NAIROBI), actor="crew1")
    assert (report.rows, report.accepted, report.batch_id) == (2, 0, None)
    assert {(p.row, p.code) for p in report.rejected} == {(2, "missing_coordinates"), (3, "missing_coordinates")}


# --- Taipei open data in Big5: riverside toilets, with WGS84 and TWD97 columns ----------------------------------


def test_a_big5_open_data_table_is_decoded_and_placed_by_its_wgs84_columns(
    session: Session, settings: Settings
) -> None:
    table = read_path(TAIPEI, TAIPEI.name)
    assert table.encoding == "cp950" and "encoding detected: Big5" in table.notes
    mapping = ColumnMapping.for_table(table).fields
    assert (mapping["lon"], mapping["lat"]) == ("Longitude", "Latitude")  # not the TWD97 metres beside them
    report = import_table(session, table, settings=settings, actor="crew1")  # Taipei lies in the default region
    assert (report.rows, report.accepted, report.rejected) == (46, 46, [])
    assert report.crs == "EPSG:4326"
    by_line = {o.attributes["_row"]: o for o in _observations(session, report.batch_id).values()}
    first, starlight = by_line[2], by_line[45]  # CSV lines: the header is line 1
    assert first.attributes["Riverside Park"] == "大佳河濱公園" and first.attributes["Location"] == "兒童遊戲區"
    assert (first.orig_x, first.orig_y) == (121.535869, 25.074578)
    assert starlight.attributes["Location"] == "星光廣場（三角公園）" and starlight.attributes["NO"] == "N16"
    assert (starlight.orig_x, starlight.orig_y) == (121.5125, 25.08726)
    # toilets a few metres apart (one block of six at a playground) are left to a person, never merged or dropped
    reasons = session.scalars(select(ReviewItem.reason)).all()
    assert report.queued_for_review == len(reasons) == 29 and {r.value for r in reasons} == {"near_in_batch"}
    assert report.new_outfalls == 46 - 29
    # 景觀 / 固定式 / 一般型 / 無障礙 are toilet kinds, not outfall types: kept as written and said so
    assert {w.code for w in report.warnings} == {"unknown_type"} and len(report.warnings) == 46


# --- A municipal inventory: Vermont ANR wastewater point features (GeoJSON) --------------------------------------


def test_a_constant_object_id_is_not_taken_for_the_record_id() -> None:
    """ArcGIS exports may carry OBJECTID 0 on every feature: a column with one value for all rows identifies none."""
    table = read_path(VERMONT, VERMONT.name)
    assert table.crs == "EPSG:4326" and len(table.rows) == 12
    assert {row["OBJECTID"] for row in table.rows} == {0}
    assert "client_id" not in ColumnMapping.for_table(table).fields


def test_a_municipal_inventory_of_look_alike_features_keeps_every_point(session: Session, settings: Settings) -> None:
    table = read_path(VERMONT, VERMONT.name)
    report = import_table(session, table, settings=_in_region(settings, VERMONT_BOX), actor="crew1")
    assert (report.rows, report.rejected) == (12, [])
    assert report.accepted == 12


def test_a_municipal_inventory_is_placed_by_its_geometry(session: Session, settings: Settings) -> None:
    table = read_path(VERMONT, VERMONT.name)
    # GDAL's note on the repeated feature id 0 is kept for the user, not raised as a Python warning
    assert any("Several features with id = 0" in note for note in table.notes)
    assert table.points is not None
    assert table.points[0] == (-73.29892870599997, 44.978582841000048)
    assert table.points[11] == (-73.307088997999983, 44.972008094000046)
    report = import_table(session, table, settings=_in_region(settings, VERMONT_BOX), actor="crew1")
    assert report.rows == 12 and report.crs == "EPSG:4326"
    by_row = {o.attributes["_row"]: o for o in _observations(session, report.batch_id).values()}
    assert (by_row[1].orig_x, by_row[1].orig_y) == table.points[0]
    # "Sanitary Manhole" is no outfall type: kept as written and said so, never refused
    assert {w.code for w in report.warnings} == {"unknown_type"}


def test_a_gis_file_is_placed_by_its_geometry_not_by_the_coordinates_in_its_attributes(
    session: Session, settings: Settings
) -> None:
    """Vermont's permitted discharges: some features also carry ``Latitude``/``Longitude`` attributes, rounded to
    four decimals (up to 5 m off); the geometry is the position, the attributes are kept as written.
    """
    table = read_path(FACILITIES, FACILITIES.name)
    assert table.crs == "EPSG:4979" and len(table.rows) == 11  # some points have a Z of 0: WGS 84 3D
    assert not {"lat", "lon", "x", "y"} & set(ColumnMapping.for_table(table).fields)
    report = import_table(session, table, settings=_in_region(settings, VERMONT_BOX), actor="crew1")
    assert (report.rows, report.accepted, report.rejected) == (11, 11, [])
    geometry = [tuple(f["geometry"]["coordinates"][:2]) for f in json.loads(FACILITIES.read_text())["features"]]
    found = session.execute(
        select(Observation.attributes, func.ST_X(Observation.geom), func.ST_Y(Observation.geom))
        .where(Observation.batch_id == report.batch_id)
    ).all()  # fmt: skip
    for attributes, x, y in found:
        assert (x, y) == pytest.approx(geometry[attributes["_row"] - 1], abs=1e-9)
    barre = next(a for a, _x, _y in found if a["FacilityName"] == "Barre City")
    assert (barre["Latitude"], barre["Longitude"]) == ("44.2104", "-72.5214")  # kept as written, not used


# --- A mainland public data table in GBK: county seats with their coordinates ---------------------------------


def test_a_gbk_table_is_decoded_and_placed_by_its_longitude_and_latitude_columns(
    session: Session, settings: Settings
) -> None:
    table = read_path(ADCODES, ADCODES.name)
    assert table.encoding == "gb18030" and "encoding detected: GBK/GB18030" in table.notes
    mapping = ColumnMapping.for_table(table).fields
    assert (mapping["lon"], mapping["lat"], mapping["name"]) == ("longitude", "latitude", "name")
    report = import_table(session, table, settings=settings, actor="crew1")  # mainland China: the default region
    assert (report.rows, report.accepted) == (50, 48)
    assert report.crs == "EPSG:4326"  # the table names no datum; a GCJ-02 one would have to be declared (--datum)
    # the two 市辖区 rows of the table carry no coordinates: refused, named by their CSV line
    assert {(p.row, p.code) for p in report.rejected} == {(46, "missing_coordinates"), (48, "missing_coordinates")}
    by_name = {o.attributes["name"]: o for o in _observations(session, report.batch_id).values()}
    assert (by_name["定边县"].orig_x, by_name["定边县"].orig_y) == (107.601267, 37.594612)
    assert (by_name["高陵区"].orig_x, by_name["高陵区"].orig_y) == (109.088297, 34.534829)
    assert by_name["本溪满族自治县"].attributes["adcode"] == "210521000000"


# --- A QGIS project saved into its GeoPackage: points, a polygon, a plain table, in Vermont State Plane ----------


def _source_points() -> list[tuple[float, float]]:
    features = json.loads(VERMONT.read_text())["features"]
    return [tuple(f["geometry"]["coordinates"]) for f in features]


def test_a_qgis_project_geopackage_is_read_from_its_only_point_layer_in_its_projected_crs() -> None:
    table = read_path(ALBURGH, "alburgh.gpkg")
    assert table.source == "alburgh.gpkg [point_features]"
    assert "layer 'point_features' imported: the only point layer of the 3 in the file" in table.notes
    assert table.crs == "EPSG:32145" and len(table.rows) == 12  # NAD83 / Vermont, metres
    assert table.points is not None and table.points[0] == pytest.approx((436985.782, 275689.020), abs=1e-3)


def test_the_layers_of_a_qgis_project_geopackage_are_listed_without_qgis_own_tables() -> None:
    from outfalls.survey.readers.gdal import layer_choices

    listed = layer_choices(ALBURGH, "alburgh.gpkg")
    assert [(c.name, c.geometry, c.features) for c in listed if c.name != "layer_styles"] == [
        ("point_features", "Point", 12), ("service_area", "Polygon", 1), ("wwtf_permit", None, 1),
    ]  # fmt: skip
    polygon = read_path(ALBURGH, "alburgh.gpkg", layer="service_area")
    assert polygon.points == [None] and polygon.rows[0]["System Name"] == "Alburgh Waste Water Treatment Facility"
    # the plain table has no geometry: it is placed by its coordinate attributes, as any table is
    permit = read_path(ALBURGH, "alburgh.gpkg", layer="wwtf_permit")
    assert permit.points is None and permit.crs is None
    fields = ColumnMapping.for_table(permit).fields
    assert (fields["lon"], fields["lat"]) == ("Longitude", "Latitude")
    assert (permit.rows[0]["Longitude"], permit.rows[0]["Latitude"]) == ("-73.3007", "44.9771")


def test_a_qgis_project_geopackage_lands_where_its_source_points_are(session: Session, settings: Settings) -> None:
    report = import_table(session, read_path(ALBURGH, "alburgh.gpkg"), settings=_in_region(settings, VERMONT_BOX),
                          actor="crew1")  # fmt: skip
    assert (report.rows, report.accepted, report.rejected) == (12, 12, [])
    assert report.crs == "EPSG:32145"
    found = session.execute(
        select(Observation.attributes["_row"].as_integer(), Observation.orig_crs,
               func.ST_X(Observation.geom), func.ST_Y(Observation.geom))
        .where(Observation.batch_id == report.batch_id)
    ).all()  # fmt: skip
    assert {crs for _row, crs, _x, _y in found} == {"EPSG:32145"}
    # stored in CGCS2000: within a centimetre (1e-7 degree) of the WGS84 points QGIS projected to State Plane
    source = _source_points()
    for row, _crs, x, y in found:
        assert (x, y) == pytest.approx(source[row - 1], abs=1e-7)


# --- A QGIS GeoPackage of several layers, none of them points ----------------------------------------------------


def test_a_qgis_geopackage_without_a_point_layer_lists_its_layers_but_not_its_styles() -> None:
    with pytest.raises(ChoiceNeeded) as refused:
        read_path(WORLD_MAP, "world_map.gpkg")
    assert [c.name for c in refused.value.options] == ["countries", "states_provinces", "disputed_borders"]
    assert "countries: MultiPolygon, 3 features" in refused.value.message
    assert "layer_styles" not in refused.value.message and "--layer" in refused.value.message


def test_a_polygon_layer_refuses_each_feature_as_not_a_point(session: Session, settings: Settings) -> None:
    table = read_path(WORLD_MAP, "world_map.gpkg", layer="countries")
    assert table.crs == "EPSG:4326" and [r["NAME"] for r in table.rows] == ["Malta", "Singapore", "Luxembourg"]
    report = import_table(session, table, settings=settings, actor="crew1")
    assert report.accepted == 0 and report.batch_id is None
    assert {(p.row, p.code, p.message) for p in report.rejected} == {
        (n, "missing_coordinates", "the feature is not a point") for n in (1, 2, 3)
    }


# --- The upload page: the web preview reads the same files without options ------------------------------------


def _upload(client, path: Path):  # type: ignore[no-untyped-def]
    import io

    files = [(io.BytesIO(path.read_bytes()), path.name)]
    return client.post("/survey/upload", data={"csrf_token": client.csrf, "file": files},
                       content_type="multipart/form-data")  # fmt: skip


def test_the_upload_page_previews_the_gbk_table(session: Session, make_user, login_as) -> None:  # type: ignore[no-untyped-def]
    crew = login_as(make_user("crew1", roles=("crew",), areas=("610100",)))
    page = _upload(crew, ADCODES)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="dry-run-summary"' in html
    assert "忠县" in html and "已识别文字编码：GBK/GB18030" in html  # the note, in the page's language


def test_the_upload_page_previews_the_point_layer_of_a_qgis_project_in_state_plane(session: Session, make_user,
                                                                                   login_as) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    crew = login_as(make_user("crew1", roles=("crew",), areas=("610100",)))
    page = _upload(crew, ALBURGH)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="dry-run-summary"' in html, html[-2000:]
    assert "qgis_alburgh_project.gpkg [point_features]" in html and "EPSG:32145" in html


# --- The command line, with the region in the deployment's configuration file ----------------------------------


@pytest.fixture
def cli_db(clone_db) -> str:
    return clone_db("survey_real_files_cli")


def _cli(url: str, config: Path, *args: str):
    from click.testing import CliRunner

    from outfalls.cli import main

    env = {"OUTFALLS_DATABASE_URL": url, "OUTFALLS_CONFIG": str(config)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _config(folder: Path, bbox: tuple[float, float, float, float]) -> Path:
    path = folder / "config.toml"
    path.write_text(f"[region]\nbbox = {list(bbox)}\n", encoding="utf-8")
    return path


def test_the_command_line_imports_the_odk_central_export_without_options(cli_db: str, tmp_path: Path) -> None:
    out = _cli(cli_db, _config(tmp_path, PERTH), "survey", "import", str(_odk_zip(tmp_path)), "--json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert (report["rows"], report["accepted"], report["rejected"], report["queued_for_review"]) == (2, 2, [], 0)
    assert report["photos"]["attached"] == 12 and report["photo_problems"] == []
    again = _cli(cli_db, _config(tmp_path, PERTH), "survey", "import", str(_odk_zip(tmp_path)), "--json")
    assert json.loads(again.stdout)["already_received"] == 2  # ODK's instance ids make a re-sent export harmless


def test_the_command_line_imports_the_kobo_export_without_options(cli_db: str, tmp_path: Path) -> None:
    out = _cli(cli_db, _config(tmp_path, NAIROBI), "survey", "import", str(KOBO))
    assert out.exit_code == 0, out.output
    assert "1 rows — 1 accepted, 0 rejected, 0 already received" in out.output
    assert "1 new, 0 linked to existing ones, 0 left for review; coordinates read as EPSG:4326" in out.output


def test_the_command_line_imports_an_ona_export_with_geotraces_without_options(cli_db: str, tmp_path: Path) -> None:
    out = _cli(cli_db, _config(tmp_path, NAIROBI), "survey", "import", str(ONA_FORM), "--json")
    assert out.exit_code == 2, out.output  # the three repeated rows were refused
    report = json.loads(out.stdout)
    assert (report["rows"], report["accepted"], report["new_outfalls"]) == (4, 1, 1)
    assert {r["code"] for r in report["rejected"]} == {"duplicate_row"} and report["crs"] == "EPSG:4326"


def test_the_command_line_reads_a_big5_table_without_options(cli_db: str, tmp_path: Path) -> None:
    out = _cli(cli_db, _config(tmp_path, (73.5, 18.0, 135.1, 53.6)), "survey", "import", str(TAIPEI), "--json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert (report["rows"], report["accepted"], report["rejected"]) == (46, 46, [])
    assert "encoding detected: Big5" in report["notes"]


def test_the_command_line_names_the_layers_of_a_qgis_geopackage(cli_db: str, tmp_path: Path) -> None:
    out = _cli(cli_db, _config(tmp_path, (-10.0, 30.0, 30.0, 60.0)), "survey", "import", str(WORLD_MAP))
    assert out.exit_code == 1 and len(out.output.strip().splitlines()) == 1, out.output
    assert "disputed_borders: MultiLineString, 3 features" in out.output and "layer_styles" not in out.output


def test_the_command_line_reads_a_gbk_table_without_options(cli_db: str, tmp_path: Path) -> None:
    out = _cli(cli_db, _config(tmp_path, (73.5, 18.0, 135.1, 53.6)), "survey", "import", str(ADCODES), "--json")
    assert out.exit_code == 2, out.output  # two rows without coordinates were refused
    report = json.loads(out.stdout)
    assert (report["rows"], report["accepted"], len(report["rejected"])) == (50, 48, 2)
    assert "encoding detected: GBK/GB18030" in report["notes"]


def test_the_command_line_imports_a_qgis_project_geopackage_without_options(cli_db: str, tmp_path: Path) -> None:
    out = _cli(cli_db, _config(tmp_path, VERMONT_BOX), "survey", "import", str(ALBURGH), "--json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert (report["rows"], report["accepted"], report["crs"]) == (12, 12, "EPSG:32145")
    assert "layer 'point_features' imported: the only point layer of the 3 in the file" in report["notes"]
