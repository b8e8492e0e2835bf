"""Unit tests for outfalls.geo (no database)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from outfalls import geo
from outfalls.errors import InvalidInput

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "coordinates" / "derived_eviltransform_vectors.csv"
XIAN = (108.94, 34.26)
GEOD = Geod(ellps="GRS80")


def _rows(from_datum: str) -> list[dict[str, str]]:
    with VECTORS.open(encoding="utf-8", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["from_datum"] == from_datum]
    assert rows
    return rows


def _errors_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic distances between two (N, 2) lon/lat arrays."""
    _, _, dist = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    return np.asarray(dist)


def _china_grid() -> np.ndarray:
    lon, lat = np.meshgrid(np.linspace(75.0, 134.0, 50), np.linspace(18.0, 53.0, 40))
    return np.column_stack([lon.ravel(), lat.ravel()])


# --- eviltransform reference vectors --------------------------------------------------------------------


@pytest.mark.parametrize("row", _rows("WGS84"), ids=lambda r: r["case"])
def test_wgs84_to_gcj02_matches_eviltransform(row: dict[str, str]) -> None:
    lon, lat = geo.wgs84_to_gcj02(float(row["from_lon"]), float(row["from_lat"]))
    assert lon == pytest.approx(float(row["to_lon"]), abs=1e-6)
    assert lat == pytest.approx(float(row["to_lat"]), abs=1e-6)


@pytest.mark.parametrize("row", _rows("WGS84"), ids=lambda r: r["case"])
def test_gcj02_to_wgs84_inverts_eviltransform_vectors(row: dict[str, str]) -> None:
    wgs = (float(row["from_lon"]), float(row["from_lat"]))
    gcj = geo.wgs84_to_gcj02(*wgs)
    assert geo.distance_m(geo.gcj02_to_wgs84(*gcj), wgs) < 0.01
    assert geo.distance_m(geo.to_cgcs2000(*gcj, "GCJ-02"), wgs) < 0.01
    # The published GCJ-02 digits are themselves 8-10 mm (<= 1.1e-7 deg) away from the formula's output
    # (upstream compares at 1e-6 deg), so their inverse can only be as close as that.
    published = (float(row["to_lon"]), float(row["to_lat"]))
    assert geo.distance_m(geo.gcj02_to_wgs84(*published), wgs) < 0.02


@pytest.mark.parametrize("row", _rows("BD09"), ids=lambda r: r["case"])
def test_bd09_rows_within_50_m(row: dict[str, str]) -> None:
    # The rows follow eviltransform's non-standard BD-09 variant; the standard formula lands 10-41 m away.
    bd = (float(row["from_lon"]), float(row["from_lat"]))
    expected = (float(row["to_lon"]), float(row["to_lat"]))
    assert geo.distance_m(geo.bd09_to_wgs84(*bd), expected) < 50.0
    assert geo.distance_m(geo.to_cgcs2000(*bd, "bd09"), expected) < 50.0


# --- round trips over China ----------------------------------------------------------------------------


def test_wgs_gcj_round_trip_over_china() -> None:
    wgs = _china_grid()
    assert len(wgs) == 2000
    gcj = np.array([geo.wgs84_to_gcj02(lon, lat) for lon, lat in wgs])
    assert _errors_m(wgs, gcj).min() > 1.0  # every grid point is really shifted
    # Vectorised inverse of all points at once, and the scalar inverse.
    back = shapely.get_coordinates(geo.transform_geometry(shapely.MultiPoint(gcj), "GCJ-02"))
    assert _errors_m(wgs, back).max() < 0.01
    scalar = np.array([geo.gcj02_to_wgs84(lon, lat) for lon, lat in gcj])
    assert _errors_m(wgs, scalar).max() < 0.01


def test_wgs_bd_round_trip_over_china() -> None:
    wgs = _china_grid()
    bd = np.array([geo.wgs84_to_bd09(lon, lat) for lon, lat in wgs])
    back = shapely.get_coordinates(geo.transform_geometry(shapely.MultiPoint(bd), "BD-09"))
    assert _errors_m(wgs, back).max() < 0.01
    scalar = np.array([geo.bd09_to_wgs84(lon, lat) for lon, lat in bd])
    assert _errors_m(wgs, scalar).max() < 0.01


def test_gcj_bd_round_trip() -> None:
    gcj = (108.9465, 34.2610)
    assert geo.distance_m(geo.bd09_to_gcj02(*geo.gcj02_to_bd09(*gcj)), gcj) < 0.01
    bd = geo.gcj02_to_bd09(*gcj)
    assert 500.0 < geo.distance_m(bd, gcj) < 1500.0


def test_gcj_shift_at_xian_is_hundreds_of_metres() -> None:
    assert 300.0 < geo.distance_m(geo.wgs84_to_gcj02(*XIAN), XIAN) < 700.0


@pytest.mark.parametrize("point", [(-0.1276, 51.5072), (151.2093, -33.8688), (0.0, 0.0), (-74.006, 40.7128)])
def test_points_outside_china_are_unchanged(point: tuple[float, float]) -> None:
    assert geo.is_outside_china(*point)
    for fn in (
        geo.wgs84_to_gcj02,
        geo.gcj02_to_wgs84,
        geo.gcj02_to_bd09,
        geo.bd09_to_gcj02,
        geo.wgs84_to_bd09,
        geo.bd09_to_wgs84,
    ):
        assert fn(*point) == point, fn.__name__
    assert geo.to_cgcs2000(*point, "GCJ-02") == point
    assert geo.from_cgcs2000(*point, "BD-09") == point


def test_mainland_is_inside_china_rectangle() -> None:
    assert not geo.is_outside_china(*XIAN)
    assert not any(geo.is_outside_china(lon, lat) for lon, lat in _china_grid())


# --- parse_crs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wgs84", "EPSG:4326"),
        ("WGS 84", "EPSG:4326"),
        ("WGS-84", "EPSG:4326"),
        ("4326", "EPSG:4326"),
        ("epsg:4326", "EPSG:4326"),
        ("EPSG:4326", "EPSG:4326"),
        ("cgcs2000", "EPSG:4490"),
        ("CGCS 2000", "EPSG:4490"),
        ("4490", "EPSG:4490"),
        ("EPSG:4490", "EPSG:4490"),
        ("gcj02", "GCJ-02"),
        ("GCJ-02", "GCJ-02"),
        ("gcj", "GCJ-02"),
        ("bd09", "BD-09"),
        ("BD-09", "BD-09"),
        ("baidu", "BD-09"),
        ("4498", "EPSG:4498"),
        (" epsg:32649 ", "EPSG:32649"),
        # the spellings of OGC APIs and GML: URIs, URNs, safe CURIEs, with or without angle brackets
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "OGC:CRS84"),
        ("<http://www.opengis.net/def/crs/OGC/1.3/CRS84>", "OGC:CRS84"),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "OGC:CRS84"),
        ("[OGC:CRS84]", "OGC:CRS84"),
        ("CRS84", "OGC:CRS84"),
        ("http://www.opengis.net/def/crs/EPSG/0/4490", "EPSG:4490"),
        ("https://www.opengis.net/def/crs/EPSG/0/4326", "EPSG:4326"),
        ("urn:ogc:def:crs:EPSG::4326", "EPSG:4326"),
        ("urn:ogc:def:crs:EPSG:9.8.15:4490", "EPSG:4490"),
        ("[EPSG:4490]", "EPSG:4490"),
        ("http://www.opengis.net/def/crs/EPSG/0/32649", "EPSG:32649"),
    ],
)
def test_parse_crs_spellings(text: str, expected: str) -> None:
    assert geo.parse_crs(text) == expected
    assert geo.parse_crs(expected) == expected


def test_datum_values_are_canonical() -> None:
    assert {d.value for d in geo.Datum} == {"EPSG:4326", "EPSG:4490", "GCJ-02", "BD-09"}
    assert (geo.CGCS2000, geo.WGS84) == (4490, 4326)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mercator",
        "EPSG:999999",  # no such code
        "EPSG:4479",  # geocentric CGCS2000
        "EPSG:5773",  # a vertical CRS
        "EPSG:4214",  # Beijing 1954: PROJ would silently apply a no-op datum shift
    ],
)
def test_parse_crs_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        geo.parse_crs(text)
    assert repr(text) in str(info.value) or text in str(info.value)
    assert info.value.code == "invalid_input"
    assert info.value.params["field"] == "crs"


@pytest.mark.parametrize("text", ["mercator", "EPSG:999999", "http://www.opengis.net/def/crs/EPSG/0/4479",
                                  "http://example.com/crs/4326", "OGC:CRS83"])  # fmt: skip
def test_parse_crs_names_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        geo.parse_crs(text, field="bbox-crs")
    assert info.value.params["field"] == "bbox-crs" and info.value.params["value"] == text
    assert str(info.value).startswith("bbox-crs: ")


def test_crs84_is_wgs84_longitude_first() -> None:
    assert geo.to_cgcs2000(*XIAN, "OGC:CRS84") == pytest.approx(geo.to_cgcs2000(*XIAN, "EPSG:4326"), abs=1e-9)
    assert geo.from_cgcs2000(*XIAN, "OGC:CRS84") == pytest.approx(XIAN, abs=1e-9)


# --- parse_bbox ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lat_first", "expected"),
    [
        ("108.5,34,109.5,35", False, (108.5, 34.0, 109.5, 35.0)),
        (" 108.5, 34, 109.5, 35 ", False, (108.5, 34.0, 109.5, 35.0)),
        ("108.5,34,0,109.5,35,100", False, (108.5, 34.0, 109.5, 35.0)),  # heights are dropped
        ("34,108.5,35,109.5", True, (108.5, 34.0, 109.5, 35.0)),  # EPSG axis order of 4326/4490
        ("170,-10,-170,10", False, (170.0, -10.0, -170.0, 10.0)),  # across the antimeridian
        ("-180,-90,180,90", False, (-180.0, -90.0, 180.0, 90.0)),
    ],
)
def test_parse_bbox(text: str, lat_first: bool, expected: tuple[float, ...]) -> None:
    assert geo.parse_bbox(text, lat_first=lat_first) == expected


@pytest.mark.parametrize(
    "text",
    ["", "1,2,3", "1,2,3,4,5", "a,b,c,d", "108,34,109,nan", "108,34,109,inf", "108,35,109,34", "108,34,109,95",
     "181,34,182,35"],
)  # fmt: skip
def test_parse_bbox_refuses_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        geo.parse_bbox(text, field="extent")
    assert info.value.params["field"] == "extent" and str(info.value).startswith("extent ")


def test_parse_bbox_says_the_axis_order_it_expects() -> None:
    with pytest.raises(InvalidInput, match="min_lat,min_lon,max_lat,max_lon"):
        geo.parse_bbox("108,34,109,35", lat_first=True)
    with pytest.raises(InvalidInput, match="min_lon,min_lat,max_lon,max_lat"):
        geo.parse_bbox("34,108,35,109")


def test_split_antimeridian() -> None:
    assert geo.split_antimeridian((108.0, 34.0, 109.0, 35.0)) == [(108.0, 34.0, 109.0, 35.0)]
    assert geo.split_antimeridian((170.0, -10.0, -170.0, 10.0)) == [(170.0, -10.0, 180.0, 10.0),
                                                                    (-180.0, -10.0, -170.0, 10.0)]  # fmt: skip


# --- EPSG codes via pyproj -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "point"),
    [
        (4498, (116.3975, 39.9087)),  # CGCS2000 / 6-degree Gauss-Krüger zone 20 (CM 117E, 114-120E): Beijing
        (4545, XIAN),  # CGCS2000 / 3-degree Gauss-Krüger CM 108E: Xi'an
    ],
)
def test_gauss_kruger_to_cgcs2000(code: int, point: tuple[float, float]) -> None:
    x, y = Transformer.from_crs(4490, code, always_xy=True).transform(*point)
    assert x > 180.0 and y > 1_000_000.0  # metres, easting first
    lon, lat = geo.to_cgcs2000(x, y, f"EPSG:{code}")
    assert lon == pytest.approx(point[0], abs=1e-7)
    assert lat == pytest.approx(point[1], abs=1e-7)
    assert geo.from_cgcs2000(*point, str(code)) == pytest.approx((x, y), abs=1e-3)


def test_a_crs_with_a_known_transformation_to_wgs84_reaches_cgcs2000_through_it() -> None:
    """EPSG has no operation from NAD83 or TWD97 to CGCS2000, but one to WGS84, which is CGCS2000 at the
    centimetre level: such projected systems are accepted (Beijing 1954, with neither, is still refused).
    """
    # Taipei's riverside toilets, listed both in WGS84 and in TWD97 / TM2 zone 121 (tests/fixtures/survey/real)
    assert geo.to_cgcs2000(304058.4359, 2774145.154, "EPSG:3826") == pytest.approx((121.535869, 25.074578), abs=1e-6)
    # a manhole of Alburgh, Vermont, as QGIS projected it to NAD83 / Vermont (metres)
    vermont = (436985.782455032, 275689.019535201)
    assert geo.to_cgcs2000(*vermont, "EPSG:32145") == pytest.approx((-73.298928706, 44.978582841), abs=1e-8)
    assert geo.from_cgcs2000(-73.298928706, 44.978582841, "EPSG:32145") == pytest.approx(vermont, abs=1e-3)
    lon, lat, ok = geo.to_cgcs2000_many([vermont[0], float("nan")], [vermont[1], 0.0], "EPSG:32145")
    assert ok.tolist() == [True, False] and lon[0] == pytest.approx(-73.298928706, abs=1e-8)
    with pytest.raises(InvalidInput, match="to CGCS2000 or WGS84 is known"):
        geo.parse_crs("EPSG:4214")


def test_gauss_kruger_without_zone_prefix_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="EPSG:4498"):
        geo.to_cgcs2000(447841.2, 4419714.1, "EPSG:4498")


def test_utm_49n_to_cgcs2000() -> None:
    x, y = Transformer.from_crs(4326, 32649, always_xy=True).transform(*XIAN)
    lon, lat = geo.to_cgcs2000(x, y, "EPSG:32649")
    assert lon == pytest.approx(XIAN[0], abs=1e-7)
    assert lat == pytest.approx(XIAN[1], abs=1e-7)


@pytest.mark.parametrize("crs", ["EPSG:4490", "EPSG:4326", "cgcs2000", "wgs84"])
def test_geographic_axis_order_is_lon_lat(crs: str) -> None:
    # EPSG:4490 and 4326 are lat/lon in the EPSG database; we always take and return lon/lat.
    assert geo.to_cgcs2000(*XIAN, crs) == XIAN
    assert geo.from_cgcs2000(*XIAN, crs) == XIAN


def test_geographic_epsg_through_pyproj_keeps_lon_lat() -> None:
    lon, lat = geo.to_cgcs2000(*XIAN, "EPSG:9000")  # ITRF2014, a pyproj path with lat/lon EPSG axes
    assert lon == pytest.approx(XIAN[0], abs=1e-6)
    assert lat == pytest.approx(XIAN[1], abs=1e-6)


@pytest.mark.parametrize("crs", ["GCJ-02", "BD-09", "EPSG:32649"])
def test_from_cgcs2000_round_trip(crs: str) -> None:
    x, y = geo.from_cgcs2000(*XIAN, crs)
    assert geo.distance_m(geo.to_cgcs2000(x, y, crs), XIAN) < 0.01


# --- validation ----------------------------------------------------------------------------------------


def test_metres_declared_as_degrees_are_rejected() -> None:
    x, y = Transformer.from_crs(4490, 4498, always_xy=True).transform(116.3975, 39.9087)
    with pytest.raises(InvalidInput, match=r"EPSG:4326.*outside") as info:
        geo.to_cgcs2000(x, y, "EPSG:4326")
    assert info.value.params["crs"] == "EPSG:4326"


@pytest.mark.parametrize(
    ("x", "y", "crs"),
    [
        (34.26, 108.94, "EPSG:4490"),  # swapped axes
        (181.0, 0.0, "wgs84"),
        (108.94, -90.5, "gcj02"),
        (math.nan, 34.26, "wgs84"),
        (108.94, math.inf, "EPSG:4498"),
    ],
)
def test_out_of_range_or_non_finite_is_rejected(x: float, y: float, crs: str) -> None:
    with pytest.raises(InvalidInput):
        geo.to_cgcs2000(x, y, crs)


def test_from_cgcs2000_rejects_bad_lonlat() -> None:
    with pytest.raises(InvalidInput):
        geo.from_cgcs2000(200.0, 34.0, "EPSG:32649")


# --- geometries ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["GCJ-02", "BD-09", "EPSG:4326"])
def test_transform_geometry_polygon_equals_pointwise(crs: str) -> None:
    shell = [(108.90, 34.20), (109.00, 34.20), (109.00, 34.30), (108.90, 34.30), (108.90, 34.20)]
    hole = [(108.94, 34.24), (108.96, 34.24), (108.96, 34.26), (108.94, 34.24)]
    polygon = shapely.Polygon(shell, [hole])
    out = geo.transform_geometry(polygon, crs)
    assert out.geom_type == "Polygon"
    expected = shapely.Polygon(
        [geo.to_cgcs2000(x, y, crs) for x, y in shell], [[geo.to_cgcs2000(x, y, crs) for x, y in hole]]
    )
    assert shapely.equals_exact(out, expected, tolerance=1e-12)


def test_transform_geometry_other_types() -> None:
    line = shapely.LineString([(108.9, 34.2), (109.0, 34.3)])
    out = geo.transform_geometry(line, "gcj02")
    assert out.geom_type == "LineString"
    assert shapely.get_coordinates(out)[0] == pytest.approx(geo.gcj02_to_wgs84(108.9, 34.2))

    square = shapely.box(108.9, 34.2, 109.0, 34.3)
    multi = shapely.MultiPolygon([square, shapely.box(110.0, 35.0, 110.1, 35.1)])
    out = geo.transform_geometry(multi, "BD-09")
    assert out.geom_type == "MultiPolygon"
    assert len(out.geoms) == 2

    point_z = shapely.Point(108.94, 34.26, 400.0)
    out = geo.transform_geometry(point_z, "gcj02")
    assert out.has_z
    assert out.z == 400.0

    assert geo.transform_geometry(shapely.Polygon(), "gcj02").is_empty


def test_transform_geometry_large_polygon() -> None:
    angle = np.linspace(0.0, 2.0 * np.pi, 100_000)
    ring = np.column_stack([108.94 + 0.1 * np.cos(angle), 34.26 + 0.1 * np.sin(angle)])
    ring[-1] = ring[0]
    out = geo.transform_geometry(shapely.Polygon(ring), "GCJ-02")
    coords = shapely.get_coordinates(out)
    assert len(coords) == len(ring)
    assert coords[12345] == pytest.approx(geo.gcj02_to_wgs84(*ring[12345]), abs=1e-12)


def test_transform_geometry_reports_bad_vertex() -> None:
    line = shapely.LineString([(108.9, 34.2), (20447841.2, 4419714.1), (20447841.2, 4419715.1)])
    with pytest.raises(InvalidInput, match="2 coordinates"):
        geo.transform_geometry(line, "wgs84")


def test_transform_geometry_rejects_bad_crs_even_when_empty() -> None:
    with pytest.raises(InvalidInput):
        geo.transform_geometry(shapely.Point(), "nonsense")


def test_distance_m() -> None:
    assert geo.distance_m(XIAN, XIAN) == 0.0
    # One degree of latitude near 34N on GRS80 is about 110.9 km.
    assert geo.distance_m((108.94, 34.0), (108.94, 35.0)) == pytest.approx(110_900, rel=2e-3)
