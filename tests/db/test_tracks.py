"""GPS tracks of the foot survey: real GPX files read per local day, KML/KMZ/GeoPackage lines, refusals, idempotent
imports, retirement, and river coverage measured against hand computations along a real river line."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import shapely
import sqlalchemy as sa
from click.testing import CliRunner
from geoalchemy2.shape import to_shape
from pyproj import Geod, Transformer
from sqlalchemy.orm import Session

from outfalls.cli import main
from outfalls.db.engine import make_engine
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import River, SurveyTrack
from outfalls.survey.tracks import coverage, crew_days, import_tracks, read_tracks, retire_track, tracks_geojson
from tests.conftest import FIXTURES

TRACKS = FIXTURES / "tracks"
WORLD = (-180.0, -90.0, 180.0, 90.0)
CHINA = (73.5, 18.0, 135.1, 53.6)  # config.toml [region] bbox
GEOD = Geod(ellps="GRS80")
CORRIDOR_M = 150.0
GPX_NS = {"g10": "http://www.topografix.com/GPX/1/0"}


def geodesic_m(coords: Sequence[tuple[float, float]]) -> float:
    lons, lats = zip(*coords, strict=True)
    return float(GEOD.line_length(lons, lats))


def gpx_trk_points(path: Path) -> list[list[tuple[float, float, str | None]]]:
    """The points of each <trk> of a GPX 1.0 file, read with ElementTree (independently of GDAL)."""
    root = ET.parse(path).getroot()
    out = []
    for trk in root.findall("g10:trk", GPX_NS):
        pts = []
        for pt in trk.iter("{http://www.topografix.com/GPX/1/0}trkpt"):
            when = pt.find("g10:time", GPX_NS)
            pts.append((float(pt.attrib["lon"]), float(pt.attrib["lat"]), when.text if when is not None else None))
        out.append(pts)
    return out


def gpx(
    coords: Sequence[tuple[float, float]], *, start: datetime | None, step_s: float = 20, name: str = "巡河"
) -> bytes:
    """A GPX 1.1 file with one track through ``coords``, timed from ``start`` every ``step_s`` seconds."""
    pts = []
    for i, (lon, lat) in enumerate(coords):
        when = f"<time>{(start + timedelta(seconds=i * step_s)).strftime('%Y-%m-%dT%H:%M:%SZ')}</time>" if start else ""
        pts.append(f'<trkpt lat="{lat:.8f}" lon="{lon:.8f}">{when}</trkpt>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><name>{name}</name><trkseg>{''.join(pts)}</trkseg></trk></gpx>"
    ).encode()


# -- reading real files ----------------------------------------------------------------------------------
def test_a_real_track_crossing_local_midnight_is_split_per_day() -> None:
    """gpxpy's cerknicko-jezero.gpx: 8 tracks (the first empty), 2010-08-05 14:23:59Z → 16:23:49Z, i.e. across
    midnight in China time (16:00Z)."""
    path = TRACKS / "gpxpy_cerknicko-jezero.gpx"
    by_trk = gpx_trk_points(path)
    assert [len(p) for p in by_trk] == [0, 173, 52, 2, 44, 2, 2, 21]

    lines, notes = read_tracks(path)

    assert [(t.name, t.day, len(t.coords)) for t in lines] == [
        ("ACTIVE LOG #2", date(2010, 8, 5), 173),
        ("ACTIVE LOG #3", date(2010, 8, 5), 52),
        ("ACTIVE LOG #4", date(2010, 8, 5), 2),
        ("ACTIVE LOG #5", date(2010, 8, 5), 44),
        ("ACTIVE LOG #7", date(2010, 8, 6), 2),
        ("ACTIVE LOG #8", date(2010, 8, 6), 21),
    ]
    # ACTIVE LOG #6 has one point on each side of midnight: neither day has a line
    assert [p[2] for p in by_trk[5]] == ["2010-08-05T15:58:31Z", "2010-08-05T16:01:52Z"]
    assert notes == [
        'track "ACTIVE LOG" has no points and was left out',
        'track "ACTIVE LOG #6": the single point recorded on 2010-08-05 was left out',
        'track "ACTIVE LOG #6": the single point recorded on 2010-08-06 was left out',
    ]
    for line, pts in zip(lines, [by_trk[i] for i in (1, 2, 3, 4, 6, 7)], strict=True):
        assert line.coords == tuple((lon, lat) for lon, lat, _t in pts)
        assert line.length_m == pytest.approx(geodesic_m([(lon, lat) for lon, lat, _t in pts]), rel=1e-9)
        assert (line.started_at, line.ended_at) == (
            datetime.fromisoformat(pts[0][2]),
            datetime.fromisoformat(pts[-1][2]),
        )
    assert lines[0].started_at == datetime(2010, 8, 5, 14, 23, 59, tzinfo=UTC)


def test_partly_timed_real_file_keeps_the_untimed_track_without_a_day() -> None:
    """gpxpy's korita-zbevnica.gpx: 871 points of which 513 are timed; the 358 untimed ones form one track."""
    lines, notes = read_tracks(TRACKS / "gpxpy_korita-zbevnica.gpx")

    assert [(t.name, t.day, len(t.coords)) for t in lines] == [
        ("03-OCT-10 #2", None, 358),
        ("ACTIVE LOG", date(2010, 10, 3), 176),
        ("ACTIVE LOG #2", date(2010, 10, 3), 337),
    ]
    assert lines[0].started_at is None
    assert (lines[1].started_at, lines[2].ended_at) == (
        datetime(2010, 10, 3, 9, 36, 30, tzinfo=UTC),
        datetime(2010, 10, 3, 13, 19, 31, tzinfo=UTC),
    )
    assert notes == ['track "03-OCT-10" has no points and was left out']


def test_import_stores_per_crew_and_day_and_a_second_import_adds_nothing(session: Session) -> None:
    path = TRACKS / "gpxpy_around-visnjan-with-car.gpx"

    report = import_tracks(session, path, path.name, crew="一组", actor="tester", bbox=WORLD)

    assert (report.added, report.already_imported, report.crew) == (1, False, "一组")
    (track,) = report.tracks
    assert (track.day, track.point_count, track.name) == (date(2020, 12, 18), 104, "2020-12-18 07:24:29")
    stored = session.get(SurveyTrack, track.id)
    assert stored is not None and stored.source_sha256 == report.sha256 and stored.imported_by == "tester"
    assert session.scalar(sa.select(sa.func.ST_SRID(SurveyTrack.geom)).where(SurveyTrack.id == track.id)) == 4490
    assert session.scalar(sa.select(sa.func.ST_NPoints(SurveyTrack.geom)).where(SurveyTrack.id == track.id)) == 104
    x_min, x_max = session.execute(
        sa.select(sa.func.ST_XMin(SurveyTrack.geom), sa.func.ST_XMax(SurveyTrack.geom)).where(
            SurveyTrack.id == track.id
        )
    ).one()
    assert (round(x_min, 6), round(x_max, 6)) == (13.711518, 13.722445)  # the extent in shared/data/SOURCES.md

    again = import_tracks(session, path.read_bytes(), "copy/" + path.name, crew="二组", actor="tester", bbox=WORLD)

    assert (again.added, again.already_imported, again.crew) == (0, True, "一组")
    assert [t.id for t in again.tracks] == [track.id]
    assert session.scalar(sa.select(sa.func.count()).select_from(SurveyTrack)) == 1
    assert [(d.crew, d.day, d.tracks, d.points) for d in crew_days(session)] == [("一组", date(2020, 12, 18), 1, 104)]


# -- refusals --------------------------------------------------------------------------------------------
def test_a_track_outside_the_region_is_refused(session: Session) -> None:
    path = TRACKS / "gpxpy_around-visnjan-with-car.gpx"

    with pytest.raises(InvalidInput) as err:
        import_tracks(session, path, path.name, crew="一组", actor="tester", bbox=CHINA)

    assert err.value.message == (
        'track "2020-12-18 07:24:29" in gpxpy_around-visnjan-with-car.gpx lies outside the region: '
        "lon 13.71152–13.72245, lat 45.27248–45.28091 is not within [73.5, 18.0, 135.1, 53.6]"
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(SurveyTrack)) == 0


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("points.gpx",
         b'<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
         b'<wpt lat="34.4" lon="108.9"><name>A</name></wpt></gpx>',
         "points.gpx holds no track or line with points"),
        ("one.gpx", gpx([(108.9, 34.4)], start=None, name="孤点"),
         'track "孤点" in one.gpx has only one point; a track needs at least two'),
        ("broken.gpx", b"<gpx><trk><trkseg><trkpt lat=", "broken.gpx is not a GPX, KML/KMZ or GeoPackage file"),
        ("notes.txt", b"hello", "notes.txt: tracks are read from GPX, KML, KMZ or GeoPackage files, not .txt"),
        ("empty.gpx", b"", "empty.gpx is empty"),
    ],
)  # fmt: skip
def test_unusable_files_are_refused_with_a_clear_message(
    session: Session, name: str, data: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        import_tracks(session, data, name, crew="一组", actor="tester", bbox=CHINA)

    assert err.value.message.startswith(message)
    assert session.scalar(sa.select(sa.func.count()).select_from(SurveyTrack)) == 0


def test_a_crew_is_required(session: Session) -> None:
    with pytest.raises(InvalidInput, match="name the crew"):
        import_tracks(session, TRACKS / "gpxpy_around-visnjan-with-car.gpx", "a.gpx", crew="  ", actor="t", bbox=WORLD)


# -- KML, KMZ and GeoPackage -----------------------------------------------------------------------------
KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder><name>tracks</name>
<Placemark><name>渭河南岸</name><TimeStamp><when>2024-05-10T09:30:00+08:00</when></TimeStamp>
<LineString><coordinates>108.90,34.40,0 108.91,34.401,0 108.92,34.402,0</coordinates></LineString></Placemark>
<Placemark><name>桥头</name><Point><coordinates>108.9,34.4,0</coordinates></Point></Placemark>
<Placemark><name>无时间</name><LineString><coordinates>108.93,34.40 108.94,34.40</coordinates></LineString></Placemark>
</Folder></Document></kml>"""


def test_kml_and_kmz_line_strings(session: Session) -> None:
    lines, _notes = read_tracks_from_bytes(KML.encode(), "walk.kml")
    assert [(t.name, t.day, t.coords) for t in lines] == [
        ("渭河南岸", date(2024, 5, 10), ((108.90, 34.40), (108.91, 34.401), (108.92, 34.402))),
        ("无时间", None, ((108.93, 34.40), (108.94, 34.40))),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("doc.kml", KML)

    report = import_tracks(session, buffer.getvalue(), "walk.kmz", crew="二组", actor="t", bbox=CHINA)

    assert [(t.name, t.day, t.point_count) for t in report.tracks] == [("渭河南岸", date(2024, 5, 10), 3),
                                                                      ("无时间", None, 2)]  # fmt: skip
    assert report.tracks[0].length_m == pytest.approx(geodesic_m([(108.90, 34.40), (108.91, 34.401),
                                                                  (108.92, 34.402)]), abs=0.01)  # fmt: skip


def test_gpx_routes_and_kml_gx_tracks() -> None:
    """A GPX route (timed 23:00Z: the next local day) and a gx:Track from a phone app (TimeSpan begin/end)."""
    route = (
        '<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><rte><name>路线一</name>'
        '<rtept lat="34.40" lon="108.90"><time>2024-05-10T23:00:00Z</time></rtept>'
        '<rtept lat="34.401" lon="108.91"><time>2024-05-10T23:10:00Z</time></rtept>'
        '<rtept lat="34.402" lon="108.92"></rtept></rte></gpx>'
    )
    gx_track = (
        '<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2"><Document>'
        "<Placemark><name>两步路轨迹</name><gx:Track><when>2024-05-10T01:00:00Z</when><when>2024-05-10T01:10:00Z"
        "</when><gx:coord>108.90 34.40 400</gx:coord><gx:coord>108.91 34.401 400</gx:coord></gx:Track></Placemark>"
        "</Document></kml>"
    )

    (r,), _ = read_tracks_from_bytes(route.encode(), "route.gpx")
    (k,), _ = read_tracks_from_bytes(gx_track.encode(), "phone.kml")

    assert (r.name, r.day, len(r.coords), r.ended_at) == ("路线一", date(2024, 5, 11), 3,
                                                           datetime(2024, 5, 10, 23, 10, tzinfo=UTC))  # fmt: skip
    assert (k.name, k.day, k.coords) == ("两步路轨迹", date(2024, 5, 10), ((108.90, 34.40), (108.91, 34.401)))
    assert (k.started_at, k.ended_at) == (datetime(2024, 5, 10, 1, tzinfo=UTC),
                                          datetime(2024, 5, 10, 1, 10, tzinfo=UTC))  # fmt: skip


def test_a_geopackage_of_points_only_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "points.gpkg"
    pyogrio.raw.write(path, geometry=np.array([shapely.to_wkb(shapely.Point(108.9, 34.4))], dtype=object),
                      field_data=[np.array(["口"], dtype=object)], fields=["name"], geometry_type="Point",
                      crs="EPSG:4490", driver="GPKG", layer="outfalls")  # fmt: skip

    with pytest.raises(InvalidInput) as err:
        read_tracks(path)

    assert err.value.message == "points.gpkg holds no line or track layer; its layers are: outfalls (Point)"


def read_tracks_from_bytes(data: bytes, name: str, tmp: Path | None = None) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        return read_tracks(path)


def test_a_projected_geopackage_line_layer(session: Session, tmp_path: Path) -> None:
    """A QGIS/QField GeoPackage in UTM 49N with a line layer and a point layer: lines come back in CGCS2000."""
    lonlat = [(108.90, 34.40), (108.905, 34.402), (108.91, 34.403)]
    utm = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)
    xy = [utm.transform(lon, lat) for lon, lat in lonlat]
    path = tmp_path / "qfield.gpkg"
    pyogrio.raw.write(path, geometry=np.array([shapely.to_wkb(shapely.LineString(xy))], dtype=object),
                      field_data=[np.array(["2024-05-11T10:00:00"], dtype=object), np.array(["东岸"], dtype=object)],
                      fields=["time", "name"], geometry_type="LineString", crs="EPSG:32649", driver="GPKG",
                      layer="tracks")  # fmt: skip
    pyogrio.raw.write(path, geometry=np.array([shapely.to_wkb(shapely.Point(xy[0]))], dtype=object),
                      field_data=[np.array(["口"], dtype=object)], fields=["name"], geometry_type="Point",
                      crs="EPSG:32649", driver="GPKG", layer="outfalls", append=True)  # fmt: skip

    report = import_tracks(session, path, path.name, crew="三组", actor="t", bbox=CHINA)

    (track,) = report.tracks
    assert (track.name, track.day, track.point_count) == ("东岸", date(2024, 5, 11), 3)
    geom = to_shape(session.get(SurveyTrack, track.id).geom)  # type: ignore[union-attr]
    assert np.allclose(np.asarray(geom.coords), lonlat, atol=1e-8)

    with pytest.raises(InvalidInput, match="has no layer 'roads'; its layers are tracks, outfalls"):
        read_tracks(path, layer="roads")


# -- retirement ------------------------------------------------------------------------------------------
def test_retired_tracks_leave_coverage_and_map_but_stay_stored(session: Session) -> None:
    stretch = wei_stretch(session, 20, 26)
    report = import_tracks(session, gpx(densify(stretch), start=datetime(2024, 5, 10, 1, tzinfo=UTC)), "w.gpx",
                           crew="一组", actor="t", bbox=CHINA)  # fmt: skip
    (track,) = report.tracks
    assert wei(session).walked_km > 0 and len(tracks_geojson(session)["features"]) == 1

    retire_track(session, track.id, actor="审核员", reason="误传：非本组轨迹")

    assert wei(session).walked_km == 0 and wei(session).by_crew == {}
    assert tracks_geojson(session)["features"] == []
    assert session.scalar(sa.select(sa.func.count()).select_from(SurveyTrack)) == 1
    with pytest.raises(InvalidInput, match="retired already"):
        retire_track(session, track.id, actor="审核员", reason="again")
    with pytest.raises(NotFound):
        retire_track(session, 10**9, actor="审核员", reason="x")
    # the same file can now be imported again (for the right crew)
    again = import_tracks(session, gpx(densify(stretch), start=datetime(2024, 5, 10, 1, tzinfo=UTC)), "w.gpx",
                          crew="二组", actor="t", bbox=CHINA)  # fmt: skip
    assert again.added == 1


@pytest.mark.parametrize(
    "sql",
    ["DELETE FROM survey_tracks", "UPDATE survey_tracks SET crew = 'x'",
     "UPDATE survey_tracks SET retired_at = now(), length_m = 0"],
)  # fmt: skip
def test_the_database_refuses_to_change_or_delete_a_track(session: Session, sql: str) -> None:
    import_tracks(session, TRACKS / "gpxpy_around-visnjan-with-car.gpx", "v.gpx", crew="一组", actor="t", bbox=WORLD)
    session.flush()
    with pytest.raises(sa.exc.IntegrityError, match="can only be retired"), session.begin_nested():
        session.execute(sa.text(sql))


# -- coverage along a real river -------------------------------------------------------------------------
def wei_part(session: Session) -> list[tuple[float, float]]:
    """The vertices of the longest line of 渭河 (109.30–110.14E, downstream of Xi'an) in the reference data."""
    river = session.scalars(sa.select(River).where(River.name == "渭河")).one()
    part = max(to_shape(river.geom).geoms, key=lambda g: len(g.coords))
    return [(float(x), float(y)) for x, y in part.coords]


def wei_stretch(session: Session, first: int, last: int) -> list[tuple[float, float]]:
    return wei_part(session)[first : last + 1]


def densify(coords: Sequence[tuple[float, float]], step_m: float = 20.0) -> list[tuple[float, float]]:
    """Points every ~``step_m`` along the given vertices (still on the line), as a GPS would log them."""
    out = [coords[0]]
    for (x0, y0), (x1, y1) in zip(coords, coords[1:], strict=False):
        n = max(1, int(geodesic_m([(x0, y0), (x1, y1)]) // step_m))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    return out


def wei(session: Session) -> Any:
    (row,) = coverage(session, river="渭河", corridor_m=CORRIDOR_M)
    return row


def test_coverage_counts_a_stretch_once_per_crew_and_once_for_the_river(session: Session) -> None:
    part = wei_part(session)
    assert len(part) == 140
    full, half = part[20:27], part[20:24]  # six and three segments of the river line (9.8 and 2.7 km)
    full_km, half_km = geodesic_m(full) / 1000, geodesic_m(half) / 1000
    assert 5.0 < full_km < 15.0 and 1.0 < half_km < 0.5 * full_km
    day1, day2 = datetime(2024, 5, 10, 1, tzinfo=UTC), datetime(2024, 5, 11, 1, tzinfo=UTC)
    # crew A walks the stretch, and on the next day its inner part again, with ±11 m of GPS scatter
    inner = densify(part[21:26])
    noisy = [(x, y + (0.0001 if i % 2 else -0.0001)) for i, (x, y) in enumerate(inner)]
    noisy[0], noisy[-1] = inner[0], inner[-1]
    # crew B walks the first half; crew C walks parallel to the last segment, 2 km south of it
    far = [(x, y - 0.02) for x, y in densify(part[25:27])]
    files = [("a1.gpx", gpx(densify(full), start=day1), "A"), ("a2.gpx", gpx(noisy, start=day2), "A"),
             ("b.gpx", gpx(densify(half), start=day1), "B"), ("c.gpx", gpx(far, start=day1), "C")]  # fmt: skip
    for name, data, crew in files:
        import_tracks(session, data, name, crew=crew, actor="t", bbox=CHINA)
    nearest_m = session.scalar(sa.text(
        "SELECT min(ST_Distance(r.geom::geography, t.geom::geography)) FROM rivers r, survey_tracks t "
        "WHERE t.crew = 'C'"))  # fmt: skip
    assert nearest_m > 1500  # C is nowhere near any river

    row = wei(session)

    assert row.river == "渭河" and row.river_code == "HYD4M-463"
    river_km = session.scalar(sa.select(River.length_km).where(River.name == "渭河"))
    assert row.river_km == pytest.approx(river_km, abs=0.05)  # the loader's figure, rounded to 0.1 km
    assert row.walked_km == pytest.approx(full_km, rel=0.002)
    assert row.by_crew.keys() == {"A", "B"}
    assert row.by_crew["A"] == pytest.approx(full_km, rel=0.002)
    assert row.by_crew["B"] == pytest.approx(half_km, rel=0.002)
    assert row.share == pytest.approx(row.walked_km / row.river_km, abs=1e-4)
    # the tracks themselves are longer than the stretch they cover: lengths are not summed
    walked_by_a = (geodesic_m(densify(full)) + geodesic_m(noisy)) / 1000
    assert sum(d.length_km for d in crew_days(session) if d.crew == "A") == pytest.approx(walked_by_a, abs=0.002)
    assert walked_by_a > 1.3 * row.by_crew["A"]
    others = [r for r in coverage(session, corridor_m=CORRIDOR_M) if r.river != "渭河"]
    assert all(r.walked_km == 0 and r.by_crew == {} for r in others)
    assert coverage(session, corridor_m=CORRIDOR_M)[0].river == "渭河"  # the most walked first


def test_a_track_beside_the_river_counts_within_the_corridor_only(session: Session) -> None:
    """The same stretch walked 100 m north of the river line counts with a 150 m corridor, not with 50 m."""
    stretch = wei_stretch(session, 60, 66)
    shifted = [(x, y + 0.0009) for x, y in densify(stretch)]  # 0.0009° of latitude ≈ 100 m
    import_tracks(session, gpx(shifted, start=datetime(2024, 6, 1, 2, tzinfo=UTC)), "n.gpx", crew="北岸",
                  actor="t", bbox=CHINA)  # fmt: skip

    wide = coverage(session, river="渭河", corridor_m=150)[0]
    narrow = coverage(session, river="HYD4M-463", corridor_m=50)[0]

    assert wide.walked_km == pytest.approx(geodesic_m(stretch) / 1000, rel=0.015)
    assert narrow.walked_km == 0


def test_crossing_the_river_on_a_bridge_walks_almost_none_of_it(session: Session) -> None:
    """A track across the river (600 m, perpendicular to an east-west stretch of 渭河) covers only its own width."""
    (x0, y0), (x1, y1) = wei_stretch(session, 25, 26)  # a 6.5 km segment running east-north-east
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = (x1 - x0), (y1 - y0)
    scale = 0.0027 / (dx * dx + dy * dy) ** 0.5  # ~300 m each side, perpendicular to the segment
    bridge = densify([(mx + dy * scale, my - dx * scale), (mx - dy * scale, my + dx * scale)], step_m=5)
    import_tracks(session, gpx(bridge, start=datetime(2024, 6, 2, 2, tzinfo=UTC)), "bridge.gpx", crew="桥",
                  actor="t", bbox=CHINA)  # fmt: skip

    assert geodesic_m(bridge) > 550
    assert wei(session).walked_km < 0.01


def test_coverage_of_an_unknown_river_or_with_a_bad_corridor(session: Session) -> None:
    with pytest.raises(NotFound, match="no river named '长江'"):
        coverage(session, river="长江", corridor_m=150)
    with pytest.raises(InvalidInput, match="corridor must be between"):
        coverage(session, corridor_m=0)


def test_map_layer_has_the_tracks_simplified(session: Session) -> None:
    stretch = densify(wei_stretch(session, 20, 26), step_m=5)
    import_tracks(session, gpx(stretch, start=datetime(2024, 5, 10, 1, tzinfo=UTC)), "w.gpx", crew="一组",
                  actor="t", bbox=CHINA)  # fmt: skip

    layer = tracks_geojson(session)

    (feature,) = layer["features"]
    assert feature["properties"]["crew"] == "一组" and feature["properties"]["day"] == "2024-05-10"
    assert feature["properties"]["points"] == len(stretch)
    assert len(feature["geometry"]["coordinates"]) < len(stretch) / 10  # simplified: points on a straight line go
    assert layer["truncated"] is False
    assert tracks_geojson(session, bbox=(100.0, 20.0, 101.0, 21.0))["features"] == []


# -- the command line ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_db(clone_db: Callable[[str], str]) -> Iterator[str]:
    yield clone_db("tracks_cli")


def cli(url: str, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"OUTFALLS_DATABASE_URL": url}, catch_exceptions=False)


def test_cli_imports_tracks_and_prints_coverage(cli_db: str, tmp_path: Path) -> None:
    engine = make_engine(cli_db)
    try:
        with Session(engine) as session:
            stretch = wei_stretch(session, 20, 26)
    finally:
        engine.dispose()
    walk = tmp_path / "walk.gpx"
    walk.write_bytes(gpx(densify(stretch), start=datetime(2024, 5, 10, 1, tzinfo=UTC)))

    out = cli(cli_db, "survey", "tracks", str(walk), "--crew", "一组", "--json")

    assert out.exit_code == 0, out.output
    (report,) = json.loads(out.stdout)
    assert (report["file"], report["added"], report["tracks"][0]["day"]) == ("walk.gpx", 1, "2024-05-10")
    again = cli(cli_db, "survey", "tracks", str(walk), "--crew", "一组")
    assert again.exit_code == 0 and "imported before" in again.stdout

    listed = cli(cli_db, "survey", "coverage", "--river", "渭河", "--json")

    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert list(row) == ["river", "river_km", "walked_km", "share", "by_crew"]
    assert row["river"] == "渭河" and list(row["by_crew"]) == ["一组"]
    assert row["walked_km"] == pytest.approx(geodesic_m(stretch) / 1000, rel=0.002)
    table = cli(cli_db, "survey", "coverage")
    assert table.exit_code == 0 and table.stdout.splitlines()[0].startswith("渭河")
    assert len(table.stdout.splitlines()) == 9  # every river of the reference data


def test_cli_retires_a_track(cli_db: str, tmp_path: Path) -> None:
    walk = tmp_path / "wrong.gpx"
    walk.write_bytes(gpx([(108.90, 34.40), (108.91, 34.40)], start=datetime(2024, 5, 12, 1, tzinfo=UTC)))
    (report,) = json.loads(cli(cli_db, "survey", "tracks", str(walk), "--crew", "错组", "--json").stdout)
    track_id = report["tracks"][0]["id"]

    out = cli(cli_db, "survey", "retire-track", str(track_id), "--reason", "传错小组", "--actor", "审核员")

    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == f"track {track_id} (错组, 2024-05-12, wrong.gpx) retired"
    again = cli(cli_db, "survey", "retire-track", str(track_id), "--reason", "x")
    assert again.exit_code == 1 and again.output.strip() == f"Error: track {track_id} was retired already"
    reimported = json.loads(cli(cli_db, "survey", "tracks", str(walk), "--crew", "对组", "--json").stdout)
    assert reimported[0]["added"] == 1 and reimported[0]["crew"] == "对组"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("survey", "coverage", "--river", "长江"), "no river named '长江'"),
        (("survey", "tracks", str(TRACKS / "gpxpy_around-visnjan-with-car.gpx"), "--crew", "一组"),
         'track "2020-12-18 07:24:29" in gpxpy_around-visnjan-with-car.gpx lies outside the region: '
         "lon 13.71152–13.72245, lat 45.27248–45.28091 is not within [73.5, 18.0, 135.1, 53.6]"),
    ],
)  # fmt: skip
def test_cli_errors_are_one_line(cli_db: str, args: tuple[str, ...], message: str) -> None:
    out = cli(cli_db, *args)

    assert out.exit_code == 1
    assert out.output.strip().splitlines() == [f"Error: {message}"]


# -- photos kept with their EXIF facts -----------------------------------------------------------------
def test_a_photo_is_stored_with_its_exif_facts(session: Session, make_outfall: Any, tmp_path: Path) -> None:
    from outfalls.scope import Scope
    from outfalls.store import FileStore
    from outfalls.survey.photos import attach_photo, read_photo

    outfall = make_outfall()
    data = (FIXTURES / "photos" / "geoapi_flipped_image.jpg").read_bytes()
    info = read_photo(data, "DCIM/geoapi_flipped_image.jpg")

    attachment = attach_photo(session, FileStore(tmp_path), data, info, actor="crew1", scope=Scope.national(),
                              outfall_id=outfall.id, meta={"row": 7})  # fmt: skip

    assert (attachment.kind, attachment.original_name, attachment.media_type) == (
        "photo", "geoapi_flipped_image.jpg", "image/jpeg")  # fmt: skip
    assert attachment.size_bytes == 1898120 and attachment.outfall_id == outfall.id
    assert attachment.meta == info.as_meta() | {"row": 7}
    assert attachment.meta["orientation"] == 3 and attachment.meta["taken_at"] == "2017-09-24T20:15:46+00:00"
