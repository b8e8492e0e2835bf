"""Reading the files crews really bring, without options: GIS files placed by their geometry, QField projects of
several layers, photos named in any column, GBK/Big5/UTF-16 text, headers as field apps write them, ragged rows
and the ways people write "no value". The fixtures are in ``tests/fixtures/survey`` (see its README)."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from pathlib import Path

import pytest

from outfalls.config import RegionSettings
from outfalls.survey.mapping import ColumnMapping, NoCoordinates, guess, require_position
from outfalls.survey.readers import ChoiceNeeded, Photo, UnusableFile, read_path, read_upload
from outfalls.survey.validate import TypeResolver, validate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "survey"
CHINA = RegionSettings(bbox=(73.5, 18.0, 135.1, 53.6), outlier_km=150.0)
MASSACHUSETTS = RegionSettings(bbox=(-73.6, 41.2, -69.8, 42.9), outlier_km=150.0)
TYPES = TypeResolver([("HJ1312", "4.8", "城镇雨洪排口", "Urban storm outlet"), ("HJ1312", "9", "暂无法确定", "")])
XIAN = [(108.9512, 34.4103), (108.9631, 34.4121), (109.0120, 34.3012), (109.0254, 34.2897)]
BOSTON = [(-71.0503, 42.3601), (-71.0412, 42.3555), (-71.0330, 42.3702), (-71.0601, 42.3788)]


def _check(table, region: RegionSettings = CHINA, crs: str | None = None, given: dict[str, str] | None = None):
    mapping = ColumnMapping.for_table(table, given)
    return validate(table, mapping, crs=crs, region=region, types=TYPES, today=date(2024, 6, 1))


def _near(result, expected: list[tuple[float, float]], tolerance_deg: float = 2e-5) -> bool:
    got = [(r.lon, r.lat) for r in result.rows]
    return len(got) == len(expected) and all(
        abs(a - c) < tolerance_deg and abs(b - d) < tolerance_deg for (a, b), (c, d) in zip(got, expected, strict=True)
    )


# -- a GIS file's geometry is the position -------------------------------------------------------------------


def _as(kind: str, tmp_path: Path) -> Path:
    """The municipal inventory (WGS84 points, State Plane feet in Easting/Northing) in another GIS format."""
    import pyogrio

    frame = pyogrio.read_dataframe(FIXTURES / "municipal_outfalls_stateplane.geojson")
    if kind == "geojson":
        return FIXTURES / "municipal_outfalls_stateplane.geojson"
    if kind == "shp.zip":
        folder = tmp_path / "shp"
        folder.mkdir()
        frame.to_file(folder / "outfalls.shp", engine="pyogrio")
        target = tmp_path / "outfalls.zip"
        with zipfile.ZipFile(target, "w") as z:
            for part in folder.iterdir():
                z.write(part, part.name)
        return target
    target = tmp_path / f"outfalls.{kind}"
    frame.to_file(target, driver={"gpkg": "GPKG", "kml": "KML"}[kind], engine="pyogrio")
    return target


@pytest.mark.parametrize("kind", ["geojson", "gpkg", "shp.zip", "kml"])
def test_a_gis_file_is_placed_by_its_geometry_not_by_coordinate_like_attributes(kind: str, tmp_path: Path) -> None:
    path = _as(kind, tmp_path)
    table = read_path(path, path.name)
    assert "Easting" in table.columns and "Northing" in table.columns
    mapping = ColumnMapping.for_table(table)
    assert not {"x", "y", "lon", "lat"} & set(mapping.fields)
    result = _check(table, region=MASSACHUSETTS)
    assert result.rejected == [] and _near(result, BOSTON)


def test_attribute_coordinates_place_tables_and_layers_without_geometry(tmp_path: Path) -> None:
    import pandas as pd
    import pyogrio

    # the same inventory as a table: Easting/Northing are its position (in a CRS the uploader declares)
    frame = pyogrio.read_dataframe(FIXTURES / "municipal_outfalls_stateplane.geojson", read_geometry=False)
    table = read_upload(frame.to_csv(index=False).encode(), "outfalls.csv")
    fields = ColumnMapping.for_table(table).fields
    assert (fields["x"], fields["y"]) == ("Easting", "Northing")
    # a GeoPackage table without geometry, and GeoJSON features whose geometry is null, carry 经度/纬度
    plain = pd.DataFrame({"名称": ["甲", "乙"], "经度": [XIAN[0][0], XIAN[1][0]], "纬度": [XIAN[0][1], XIAN[1][1]]})
    pyogrio.write_dataframe(plain, tmp_path / "sites.gpkg", layer="sites")
    nulls = tmp_path / "sites.geojson"
    feature = {"type": "Feature", "geometry": None, "properties": {"经度": XIAN[0][0], "纬度": XIAN[0][1]}}
    nulls.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    for path, expected in ((tmp_path / "sites.gpkg", XIAN[:2]), (nulls, XIAN[:1])):
        table = read_path(path, path.name)
        assert table.points is None
        assert _near(_check(table), expected)


# -- QField/QGIS projects ----------------------------------------------------------------------------------------


def test_the_one_point_layer_of_a_qfield_project_is_imported_and_named() -> None:
    table = read_path(FIXTURES / "qfield_project.gpkg", "qfield_project.gpkg")  # a warning would fail the test
    assert table.source == "qfield_project.gpkg [outfalls]"
    assert any("outfalls" in n and "the only point layer" in n for n in table.notes)
    assert table.crs == "EPSG:3857" and table.rows[0]["remark"] == "雨天有水"  # the TEXT ( 255 ) column
    result = _check(table)
    assert result.rejected == [] and _near(result, XIAN[:3], tolerance_deg=1e-6)


def test_a_project_with_several_point_layers_asks_which_one() -> None:
    path = FIXTURES / "qfield_two_point_layers.gpkg"
    with pytest.raises(ChoiceNeeded) as caught:
        read_path(path, path.name)
    assert [(o.name, o.geometry, o.features) for o in caught.value.options] == [
        ("outfalls", "Point", 1), ("manholes", "Point", 1), ("notes", None, 1)]  # fmt: skip
    message = caught.value.message
    assert "\n" not in message and "--layer" in message and "manholes: Point, 1 feature" in message
    manholes = read_path(path, path.name, layer="manholes")
    assert manholes.crs == "EPSG:4547"  # projected (CGCS2000 / 3-degree Gauss-Kruger CM 114E), transformed
    assert _near(_check(manholes), [XIAN[1]], tolerance_deg=1e-6)


# -- photos named in any column ----------------------------------------------------------------------------------


def test_odk_central_photos_are_found_by_the_files_their_columns_name() -> None:
    table = read_path(FIXTURES / "odk_central_export.zip", "odk_central_export.zip")
    assert len(table.photos) == 6
    mapping = ColumnMapping.for_table(table)
    assert mapping.fields["lat"] == "grp-point-Latitude" and mapping.fields["lon"] == "grp-point-Longitude"
    assert mapping.fields["photos"] == "photo_in_situ"
    assert mapping.columns_of("photos") == ("photo_in_situ", "photo_outlet")
    result = _check(table)
    assert result.rejected == [] and _near(result, XIAN[:4])
    assert result.rows[1].photo_names == ("1700000000002.jpg", "1700000000102.jpg", "1700000000202.jpg")
    # a user's own choice of the photo column stands
    assert ColumnMapping.for_table(table, {"photos": "photo_outlet"}).columns_of("photos") == ("photo_outlet",)


def test_kobo_group_paths_and_qfield_dcim_paths_name_photos_beside_the_table(tmp_path: Path) -> None:
    kobo = read_path(FIXTURES / "kobo_export.csv", "kobo_export.csv")
    assert "photos" not in ColumnMapping.for_table(kobo).fields  # no photos came with it: nothing to recognise
    for i in range(1, 4):
        name = f"IMG_2023050{i}-09_0{i}_12.jpg"
        kobo.photos.append(Photo(name, (FIXTURES / name).read_bytes()))
    mapping = ColumnMapping.for_table(kobo)
    assert mapping.fields["photos"] == "survey/photo_outlet" and mapping.fields["lat"] == "_geopoint_latitude"
    bundle = tmp_path / "qfield.zip"
    with zipfile.ZipFile(bundle, "w") as z:
        z.write(FIXTURES / "qfield_project.gpkg", "project/qfield_project.gpkg")
        z.writestr("project/DCIM/outfall_20230506_1.jpg", (FIXTURES / "photo_above_sea_level.jpg").read_bytes())
    qfield = read_path(bundle, bundle.name)
    assert ColumnMapping.for_table(qfield).fields["photos"] == "photo"


# -- encodings ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "encoding", "name"), [
    ("gbk_outfalls.csv", "gb18030", "渭河北岸1号排口"),
    ("big5_outfalls.csv", "cp950", "渭河北岸1號排口"),  # Big5 with the extensions Excel writes
    ("utf16_bom_outfalls.csv", "utf-16", "渭河北岸1号排口"),
])  # fmt: skip
def test_gbk_big5_and_utf16_are_told_apart(fixture: str, encoding: str, name: str) -> None:
    table = read_path(FIXTURES / fixture, fixture)
    assert table.encoding == encoding
    assert table.rows[0][table.columns[0]] == name
    result = _check(table)
    assert result.rejected == [] and result.rows[0].name == name and result.rows[1].surveyor == "李四"


def test_text_that_cannot_be_decoded_with_confidence_names_the_encoding_option() -> None:
    with pytest.raises(UnusableFile) as caught:
        read_path(FIXTURES / "shift_jis_outfalls.csv", "shift_jis_outfalls.csv")
    assert "--encoding" in caught.value.message and "\n" not in caught.value.message
    given = read_path(FIXTURES / "shift_jis_outfalls.csv", "shift_jis_outfalls.csv", encoding="shift_jis")
    assert given.rows[0]["名前"] == "東京湾排水口です"


# -- headers, ragged rows and empty values ----------------------------------------------------------------------


@pytest.mark.parametrize(("x", "y", "fields"), [
    ("WGS84Lon", "WGS84Lat", ("lon", "lat")),
    ("Lon_WGS84", "Lat_WGS84", ("lon", "lat")),
    ("POINT_X", "POINT_Y", ("x", "y")),
    ("X坐标", "Y坐标", ("x", "y")),
    ("东经", "北纬", ("lon", "lat")),
    ("經度", "緯度", ("lon", "lat")),
    ("Long_", "Lat_", ("lon", "lat")),
    ("grp-point-Longitude", "grp-point-Latitude", ("lon", "lat")),
    ("_geopoint_longitude", "_geopoint_latitude", ("lon", "lat")),
    ("经度(°)", "纬度(°)", ("lon", "lat")),
])  # fmt: skip
def test_coordinate_headers_as_tools_write_them(x: str, y: str, fields: tuple[str, str]) -> None:
    columns = ["名称", x, y, "grp-point-Altitude", "grp-point-Accuracy"]
    mapping = guess(columns)
    assert (mapping.get(fields[0]), mapping.get(fields[1])) == (x, y)
    assert "grp-point-Altitude" not in mapping.values() and "grp-point-Accuracy" not in mapping.values()


def test_a_single_lat_lon_alt_acc_column_is_split_into_its_parts() -> None:
    table = read_path(FIXTURES / "ona_geopoint_string.csv", "ona_geopoint_string.csv")
    assert {"location-Latitude", "location-Longitude", "location-Altitude", "location-Accuracy"} <= set(table.columns)
    assert table.rows[0]["location"] == f"{XIAN[0][1]} {XIAN[0][0]} 401.5 3.9"  # kept as sent
    assert any("location" in n for n in table.notes)
    result = _check(table)
    assert result.rejected == [] and _near(result, XIAN[:3])


def test_ragged_rows_and_the_ways_people_write_no_value_read_as_empty() -> None:
    table = read_path(FIXTURES / "ragged_na.csv", "ragged_na.csv")
    first, second, third = table.rows
    assert (first["排入水体"], first["调查人员"], first["备注"]) == (None, None, None)
    assert (second["排口类型"], second["排入水体"], second["调查人员"], second["备注"]) == (None, None, "张三", None)
    assert (third["排口类型"], third["备注"]) == (None, None)
    result = _check(table)
    assert result.rejected == [] and [r.type_raw for r in result.rows] == ["城镇雨洪排口", None, None]


# -- no recognised coordinates ----------------------------------------------------------------------------------


def test_a_file_without_coordinates_lists_the_columns_it_saw() -> None:
    table = read_path(FIXTURES / "no_coordinates.csv", "no_coordinates.csv")
    with pytest.raises(NoCoordinates) as caught:
        require_position(table, ColumnMapping.for_table(table))
    message = caught.value.message
    assert "\n" not in message and "排污口名称, 排污口编码, 所在乡镇, 备注" in message
    require_position(table, ColumnMapping.for_table(table, {"lon": "排污口编码", "lat": "所在乡镇"}))  # mapped


def test_a_layer_in_a_crs_without_an_epsg_code_is_converted_with_its_own_definition(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    local = "+proj=tmerc +lat_0=0 +lon_0=108.7 +k=1 +x_0=300000 +y_0=0 +ellps=GRS80 +units=m +no_defs"  # a city grid
    frame = gpd.GeoDataFrame({"name": ["甲", "乙"]}, geometry=[Point(p) for p in XIAN[:2]], crs=4326).to_crs(local)
    frame.to_file(tmp_path / "city_grid.gpkg", engine="pyogrio")
    table = read_path(tmp_path / "city_grid.gpkg", "city_grid.gpkg")
    assert table.crs == "EPSG:4326" and any("no EPSG code" in n for n in table.notes)
    assert _near(_check(table), XIAN[:2], tolerance_deg=1e-6)
