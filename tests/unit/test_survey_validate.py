"""Reading survey files and validating their rows, without a database: real files (a US outfall register, a
GBK Shapefile without .cpg) and generated ones with each defect the crews' files have."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest

from outfalls import clock
from outfalls.config import RegionSettings
from outfalls.survey.mapping import ColumnMapping, guess, normalise
from outfalls.survey.readers import UnusableFile, read_path, read_upload
from outfalls.survey.validate import TypeResolver, parse_coordinate, parse_when, validate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "survey"
CHINA = RegionSettings(bbox=(73.5, 18.0, 135.1, 53.6), outlier_km=150.0)
MASSACHUSETTS = RegionSettings(bbox=(-73.6, 41.2, -69.8, 42.9), outlier_km=150.0)
TYPES = TypeResolver([
    ("HJ1312", "4.8", "城镇雨洪排口", "Urban storm outlet"),
    ("HJ1312", "4", "其他排口", "Other outlet"),
    ("HJ1312", "1.1.1", "工业企业排污口", "Industrial enterprise outfall"),
    ("HJ1312", "9", "暂无法确定", "Not yet determined"),
    ("SX2020", "4", "雨洪排口", "Storm outlet"),
])  # fmt: skip
TODAY = date(2024, 6, 1)


def _csv(rows: list[list[object]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


HEADER = ["排污口名称", "经度", "纬度", "排口类型", "排入水体", "调查时间", "调查人员", "照片"]


def _table(rows: list[list[object]], name: str = "crew.csv", encoding: str = "utf-8"):
    return read_upload(_csv([HEADER, *rows], encoding), name)


def _check(table, region: RegionSettings = CHINA, crs: str | None = "wgs84"):
    return validate(table, ColumnMapping.build(table.columns), crs=crs, region=region, types=TYPES, today=TODAY)


def test_the_real_register_reads_and_validates_in_its_own_region() -> None:
    table = read_path(FIXTURES / "MAEEADP_2022_data_cso.csv", "MAEEADP_2022_data_cso.csv")
    assert len(table.rows) == 132 and table.encoding == "utf-8" and table.columns[0] == "column_1"
    mapping = ColumnMapping.build(table.columns, {"client_id": "column_1", "name": "location"})
    assert mapping.fields["lat"] == "latitude" and mapping.fields["lon"] == "longitude"
    result = validate(table, mapping, crs="wgs84", region=MASSACHUSETTS, types=TYPES, today=TODAY)
    assert len(result.rows) == 132 and result.rejected == []
    assert result.rows[0].row == 2 and result.rows[0].client_id == "0"  # the header is line 1
    assert (result.rows[0].lon, result.rows[0].lat) == (-71.19565643, 41.67729239)
    # in a deployment for China every row is outside the region, and each is reported
    china = validate(table, mapping, crs="wgs84", region=CHINA, types=TYPES, today=TODAY)
    assert china.rows == [] and len(china.rejected) == 132
    assert {p.code for p in china.rejected} == {"outside_region"}


def test_gbk_shapefile_without_cpg_is_read_without_mojibake() -> None:
    table = read_path(FIXTURES / "hyd2_4l_shaanxi_gbk.shp", "hyd2_4l_shaanxi_gbk.shp")
    assert table.encoding == "GB18030" and any("GBK" in n for n in table.notes)
    assert table.rows[0]["NAME"] == "黄河" and len(table.rows) == 195
    assert table.crs is None  # no .prj
    with pytest.raises(UnusableFile, match="no .prj"):
        validate(table, ColumnMapping.build(table.columns), crs=None, region=CHINA, types=TYPES, today=TODAY)
    lines = validate(table, ColumnMapping.build(table.columns), crs="cgcs2000", region=CHINA, types=TYPES)
    assert lines.rows == [] and {p.code for p in lines.rejected} == {"missing_coordinates"}  # lines, not points


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_are_detected(encoding: str) -> None:
    table = _table([["渭河北岸1号口", "108.95", "34.41", "城镇雨洪排口", "渭河", "2023-05-06", "张三", ""]],
                   encoding=encoding)  # fmt: skip
    assert table.rows[0]["排污口名称"] == "渭河北岸1号口"
    result = _check(table)
    assert result.rejected == [] and result.rows[0].type_code == "4.8" and result.rows[0].name == "渭河北岸1号口"


def test_each_defect_is_reported_with_row_field_and_code() -> None:
    table = _table([
        ["ok", "108.95", "34.41", "4.8", "渭河", "2023-05-06 10:30", "张三", "a.jpg"],  # row 2
        ["no lat", "108.95", "", "4.8", "渭河", "", "", ""],  # row 3
        ["text", "east", "34.4", "4.8", "渭河", "", "", ""],  # row 4
        ["swapped", "34.42", "108.96", "4.8", "渭河", "", "", ""],  # row 5
        ["sign", "-108.97", "34.43", "4.8", "渭河", "", "", ""],  # row 6
        ["far", "118.9", "34.4", "4.8", "渭河", "", "", ""],  # row 7: in China, 900 km away from the others
        ["date", "108.94", "34.40", "4.8", "渭河", "2023-02-30", "", ""],  # row 8
        ["future", "108.93", "34.40", "4.8", "渭河", "2025-01-01", "", ""],  # row 9
        ["ok", "108.95", "34.41", "4.8", "渭河", "2023-05-06 10:30", "张三", "a.jpg"],  # row 10: same as row 2
        ["odd type", "108.92", "34.39", "水泥管", "渭河", "2023年5月7日", "李四", ""],  # row 11: warning only
        ["dms", "108°57'00\"E", "N34°24'36\"", "雨洪排口", "渭河", "2023/5/8", "", ""],  # row 12
    ])  # fmt: skip
    result = _check(table)
    got = [(p.row, p.field, p.code) for p in result.rejected]
    assert got == [
        (3, "lat", "missing_coordinates"),
        (4, "lon", "bad_coordinates"),
        (5, "lon", "swapped_lat_lon"),
        (6, "lon", "longitude_sign"),
        (7, "lon", "far_from_batch"),
        (8, "surveyed_at", "impossible_date"),
        (9, "surveyed_at", "impossible_date"),
        (10, "row", "duplicate_row"),
    ]
    messages = {p.row: p.message for p in result.rejected}
    assert "latitude and longitude look swapped" in messages[5]
    assert "wrong sign" in messages[6] and "km from the rest of the batch" in messages[7]
    assert "the same as row 2" in messages[10] and "in the future" in messages[9]
    assert [r.row for r in result.rows] == [2, 11, 12]
    assert [(w.row, w.code) for w in result.warnings] == [(11, "unknown_type")]
    odd = result.rows[1]
    assert (odd.type_scheme, odd.type_code, odd.type_raw) == ("HJ1312", "9", "水泥管")
    dms = result.rows[2]
    assert dms.lon == pytest.approx(108.95) and dms.lat == pytest.approx(34.41)
    assert (dms.type_scheme, dms.type_code) == ("SX2020", "4")  # a legacy provincial label, kept in its list
    assert result.rows[0].captured_at == datetime(2023, 5, 6, 10, 30, tzinfo=clock.zone())
    assert result.rows[0].photo_names == ("a.jpg",)
    assert result.rows[0].attributes["_row"] == 2


def test_same_content_gets_the_same_id_and_ids_must_be_unique() -> None:
    first = _check(_table([["a", "108.95", "34.41", "", "", "", "", ""]]))
    again = _check(_table([["a", "108.95", "34.41", "", "", "", "", ""]]))
    assert first.rows[0].client_id == again.rows[0].client_id and first.rows[0].client_id.startswith("sha256:")
    table = read_upload(_csv([["id", "lon", "lat", "name"], ["k1", 108.9, 34.4, "a"], ["k1", 108.8, 34.3, "b"]]),
                        "ids.csv")  # fmt: skip
    result = _check(table)
    assert [(p.row, p.code) for p in result.rejected] == [(3, "duplicate_id")]


def test_datums_and_projected_coordinates() -> None:
    gcj = _check(_table([["a", "108.955", "34.412", "", "", "", "", ""]]), crs="gcj02")
    assert abs(gcj.rows[0].lon - 108.955) > 1e-4  # the offset datum was removed
    assert (gcj.rows[0].x, gcj.rows[0].y, gcj.rows[0].crs) == (108.955, 34.412, "GCJ-02")  # the original is kept
    table = read_upload(_csv([["X", "Y", "名称"], [36_495_000, 3_808_000, "a"]]), "gk.csv")
    projected = validate(table, ColumnMapping.build(table.columns), crs="EPSG:4524", region=CHINA, types=TYPES)
    assert projected.rows and projected.rows[0].lon == pytest.approx(107.9456, abs=1e-3)  # 5 km west of 108°E
    degrees_as_metres = validate(table, ColumnMapping.build(table.columns), crs="wgs84", region=CHINA, types=TYPES)
    assert [p.code for p in degrees_as_metres.rejected] == ["bad_coordinates"]


def test_kobo_and_odk_exports_are_recognised() -> None:
    kobo = ["start", "group_a/排污口名称", "_location_latitude", "_location_longitude", "_location_altitude",
            "_location_precision", "_uuid", "_submission_time"]  # fmt: skip
    m = guess(kobo)
    assert m["lat"] == "_location_latitude" and m["lon"] == "_location_longitude"
    assert m["name"] == "group_a/排污口名称" and m["client_id"] == "_uuid"
    odk = ["SubmissionDate", "meta-instanceID", "outfall-location-Latitude", "outfall-location-Longitude", "KEY"]
    m = guess(odk)
    assert m["lat"] == "outfall-location-Latitude" and m["lon"] == "outfall-location-Longitude"
    assert normalise("group/排口 类型") == "排口类型"


def test_xlsx_sheets_and_unusable_files(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "排查"
    book.active.append(["名称", "经度", "纬度", "调查日期"])
    book.active.append(["a", 108.95, 34.41, datetime(2023, 5, 6)])
    book.create_sheet("说明").append(["x"])
    path = tmp_path / "crew.xlsx"
    book.save(path)
    with pytest.raises(UnusableFile, match="2 sheets .*--sheet"):
        read_path(path, "crew.xlsx")
    table = read_path(path, "crew.xlsx", sheet="排查")
    result = _check(table)
    assert result.rows[0].row == 2 and result.rows[0].captured_at.date() == date(2023, 5, 6)
    with pytest.raises(UnusableFile, match="no sheet 'x'"):
        read_path(path, "crew.xlsx", sheet="x")
    for data, name, words in (
        (b"", "e.csv", "empty"),
        (b"a,b\n", "h.csv", "no rows"),
        (b"x", "f.doc", "unsupported"),
        (b"not a zip", "z.zip", "not a valid ZIP"),
        (b"\xff\xfe\x00", "bin.csv", "neither"),
    ):
        with pytest.raises(UnusableFile, match=words):
            read_upload(data, name)
    with pytest.raises(UnusableFile, match="no coordinate columns"):
        _check(read_upload(_csv([["名称"], ["a"]]), "n.csv"))


def test_zip_bundle_of_a_table_and_photos() -> None:
    photo = (Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "geoapi_flipped_image.jpg").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("survey/crew.csv", _csv([HEADER, ["a", "108.95", "34.41", "", "", "", "", "IMG_1.jpg"]]))
        z.writestr("survey/photos/IMG_1.jpg", photo)
        z.writestr("../evil.csv", b"x")  # never written outside the folder, never read
    table = read_upload(buffer.getvalue(), "bundle.zip")
    assert table.source == "bundle.zip › crew.csv" and [p.name for p in table.photos] == ["IMG_1.jpg"]
    assert _check(table).rows[0].photo_names == ("IMG_1.jpg",)
    geo = io.BytesIO()
    with zipfile.ZipFile(geo, "w") as z:
        z.writestr("a.geojson", json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [108.95, 34.41]},
             "properties": {"名称": "a"}}]}))  # fmt: skip
        z.writestr("b.csv", _csv([HEADER]))
    with pytest.raises(UnusableFile, match="2 tables"):
        read_upload(geo.getvalue(), "two.zip")


def test_coordinate_and_date_parsing() -> None:
    assert parse_coordinate("108,95") == 108.95
    assert parse_coordinate("东经108度57分") == pytest.approx(108.95)
    assert parse_coordinate("108°57′S") == pytest.approx(-108.95)
    with pytest.raises(ValueError):
        parse_coordinate("108°75'")
    assert parse_when("2023-05-06T10:30:00.000+08:00").hour == 10
    assert parse_when(45000).date() == date(2023, 3, 15)  # an Excel serial date
    with pytest.raises(ValueError):
        parse_when("2023-13-01")
    # a day without a time is put at noon however it is written, so no time zone moves it to another day
    noon = datetime(2023, 5, 6, 12, tzinfo=clock.zone())
    assert parse_when("2023-05-06") == parse_when("2023/05/06") == parse_when(date(2023, 5, 6)) == noon


def test_a_phones_day_takes_the_time_the_record_reached_the_server_on_that_day() -> None:
    """KoBo's and ODK's ``today`` is the phone's day without a time; ``_submission_time`` the server's (UTC)."""
    rows = [["a1", "108.9", "34.3", "2024-05-20", "2024-05-20T02:30:00"],  # sent the same day (10:30 in China)
            ["a2", "108.9", "34.3", "2024-05-20", "2024-05-23T09:00:00"],  # sent three days later: noon of its day
            ["a3", "108.9", "34.3", "2024-05-20", ""],  # never stamped
            ["a4", "108.9", "34.3", "2024-05-20 08:15", "2024-05-20T02:30:00"]]  # a time of its own is kept
    table = read_upload(_csv([["name", "lon", "lat", "today", "_submission_time"], *rows]), "kobo.csv")
    mapping = ColumnMapping.build(table.columns)
    assert mapping.fields["surveyed_at"] == "today"
    result = validate(table, mapping, crs="wgs84", region=CHINA, types=TYPES, today=TODAY)
    china = clock.zone()
    assert [r.captured_at for r in result.rows] == [
        datetime(2024, 5, 20, 10, 30, tzinfo=china), datetime(2024, 5, 20, 12, tzinfo=china),
        datetime(2024, 5, 20, 12, tzinfo=china), datetime(2024, 5, 20, 8, 15, tzinfo=china),
    ]  # fmt: skip


def _frame():
    import geopandas as gpd
    from shapely.geometry import LineString, Point

    return gpd.GeoDataFrame(
        {"名称": ["甲口", "乙口", "一段河岸"], "类型": ["4.8", "城镇雨洪排口", ""]},
        geometry=[Point(108.95, 34.41), Point(108.96, 34.42), LineString([(108.9, 34.4), (109.0, 34.4)])],
        crs="EPSG:4326",
    )


@pytest.mark.parametrize(("suffix", "driver"), [(".geojson", "GeoJSON"), (".gpkg", "GPKG"), (".kml", "KML")])
def test_gis_files_give_points_crs_and_attributes(tmp_path: Path, suffix: str, driver: str) -> None:
    import pyogrio

    path = tmp_path / f"crew{suffix}"
    frame = _frame()
    if driver == "KML":
        frame = frame.rename(columns={"名称": "Name"})
    pyogrio.write_dataframe(frame, path, driver=driver)
    table = read_path(path, path.name)
    assert table.crs == "EPSG:4326" and len(table.rows) == 3
    assert table.points[:2] == [(108.95, 34.41), (108.96, 34.42)] and table.points[2] is None
    result = _check(table, crs=None)
    assert [r.row for r in result.rows] == [1, 2]
    assert [(p.row, p.code) for p in result.rejected] == [(3, "missing_coordinates")]  # a line is not an outfall
    assert result.rows[0].name == "甲口"


def test_gpx_waypoints_and_zipped_shapefiles(tmp_path: Path) -> None:
    import pyogrio

    frame = _frame().iloc[:2].rename(columns={"名称": "name"})[["name", "geometry"]]
    gpx = tmp_path / "crew.gpx"
    pyogrio.write_dataframe(frame, gpx, driver="GPX", layer="waypoints")
    table = read_path(gpx, gpx.name)
    assert [r["name"] for r in table.rows] == ["甲口", "乙口"] and table.points[0] == (108.95, 34.41)
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    pyogrio.write_dataframe(_frame().iloc[:2], shp_dir / "排口.shp", encoding="UTF-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for f in shp_dir.iterdir():
            z.write(f, f"export/{f.name}")
    zipped = read_upload(buffer.getvalue(), "排口.zip")
    assert zipped.crs == "EPSG:4326" and zipped.rows[0]["名称"] == "甲口"
    assert _check(zipped, crs=None).rows[1].type_code == "4.8"  # 城镇雨洪排口 by its label
    no_prj = io.BytesIO()
    with zipfile.ZipFile(no_prj, "w") as z:
        for f in shp_dir.iterdir():
            if f.suffix != ".prj":
                z.write(f, f.name)
    with pytest.raises(UnusableFile, match="declare it"):
        _check(read_upload(no_prj.getvalue(), "no_prj.zip"), crs=None)
    assert _check(read_upload(no_prj.getvalue(), "no_prj.zip"), crs="cgcs2000").rows


def test_the_declared_datum_or_epsg_code() -> None:
    from outfalls.errors import InvalidInput
    from outfalls.survey.datums import declared_crs

    assert declared_crs(None) is None and declared_crs("", "4524") is None  # the file's own CRS
    assert declared_crs("gcj02") == "GCJ-02" and declared_crs(" cgcs2000 ") == "EPSG:4490"
    assert declared_crs("epsg", "4524") == "EPSG:4524"
    with pytest.raises(InvalidInput) as no_code:
        declared_crs("epsg", " ")
    assert no_code.value.params["field"] == "epsg"
    with pytest.raises(InvalidInput) as unknown:
        declared_crs("mars")
    assert unknown.value.params["field"] == "datum"


def test_a_value_longer_than_the_catalogue_keeps_rejects_its_row_not_the_upload() -> None:
    result = _check(_table([["很长的名字" * 200, 108.94, 34.40, "", "", "", "", ""],
                            ["正常的排口", 108.95, 34.41, "", "", "", "", ""]]))  # fmt: skip
    assert [r.name for r in result.rows] == ["正常的排口"]
    [problem] = result.rejected
    assert (problem.field, problem.code) == ("name", "too_long") and "1,000 characters" in problem.message
