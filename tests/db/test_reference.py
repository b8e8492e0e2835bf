"""Reference data on PostGIS: what the template load put there, idempotent reloads, and the GCJ-02 fix of
the Amap administrative polygons."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session, aliased

from outfalls.errors import InvalidInput
from outfalls.geo import wgs84_to_gcj02
from outfalls.models import AdminArea, AreaPart, Basin, CodeListEntry, River
from outfalls.reference import DEFAULT_DIR, load_reference
from outfalls.types import AdminLevel, BasinLevel

PROVINCE_FILE = DEFAULT_DIR / "cnmaps_amap_shaanxi_province.geojson"


def _pairs(rows: Iterable[Row[Any]]) -> dict[Any, Any]:
    return {key: value for key, value in rows}


def _codes(session: Session, level: BasinLevel) -> dict[str, str]:
    return _pairs(session.execute(select(Basin.code, Basin.name).where(Basin.level == level)))


# -- what the template holds ---------------------------------------------------------------------------
def test_basins_and_sub_basins(session: Session) -> None:
    assert _codes(session, BasinLevel.BASIN) == {"HH": "黄河流域", "CJ": "长江流域"}

    subs = _codes(session, BasinLevel.SUB_BASIN)
    assert len(subs) == 35
    assert sorted(c for c in subs if c.startswith("HH-")) == [f"HH-{i:02d}" for i in range(11)]
    assert sorted(c for c in subs if c.startswith("CJ-")) == [f"CJ-{i:02d}" for i in range(1, 25)]
    assert subs["HH-08"] == "渭河流域"
    assert subs["CJ-10"] == "汉江上游"

    parent = aliased(Basin)
    pairs = session.execute(select(Basin.code, parent.code).join(parent, Basin.parent_id == parent.id, isouter=True))
    for code, parent_code in pairs:
        expected = None if code in ("HH", "CJ") else code[:2]
        assert parent_code == expected, code


def test_basin_geometries_are_valid_and_sized(session: Session) -> None:
    rows = session.execute(select(Basin.code, Basin.area_km2, func.ST_IsValid(Basin.geom), func.ST_SRID(Basin.geom)))
    by_code = {code: (area, valid, srid) for code, area, valid, srid in rows}
    assert all(valid and srid == 4490 for _area, valid, srid in by_code.values())
    # The Yellow River basin is ~795 000 km², the Yangtze ~1.8 million km²; sub-basins add up to about that.
    assert 700_000 < by_code["HH"][0] < 900_000
    assert 1_600_000 < by_code["CJ"][0] < 2_000_000
    hh_subs = sum(area for code, (area, _v, _s) in by_code.items() if code.startswith("HH-"))
    assert hh_subs == pytest.approx(by_code["HH"][0], rel=0.1)


def test_rivers(session: Session) -> None:
    sub = aliased(Basin)
    rivers = {
        name: (basin_code, sub_code)
        for name, basin_code, sub_code in session.execute(
            select(River.name, Basin.code, sub.code)
            .join(Basin, River.basin_id == Basin.id, isouter=True)
            .join(sub, River.sub_basin_id == sub.id, isouter=True)
        )
    }
    assert session.scalar(select(func.count()).select_from(River)) == 9
    assert {"黄河", "渭河", "汉江(汉水)"} <= set(rivers)
    assert rivers["渭河"] == ("HH", "HH-08")
    assert rivers["汉江(汉水)"] == ("CJ", "CJ-10")
    assert rivers["黄河"][0] == "HH"
    lengths = _pairs(session.execute(select(River.name, River.length_km)))
    assert 500 < lengths["渭河"] < 900  # the Wei is ~818 km long; the 1:4M lines run a little short


def test_admin_areas(session: Session) -> None:
    levels = _pairs(session.execute(select(AdminArea.level, func.count()).group_by(AdminArea.level)))
    assert levels == {AdminLevel.PROVINCE: 1, AdminLevel.CITY: 10, AdminLevel.COUNTY: 107}

    province = session.scalars(select(AdminArea).where(AdminArea.level == AdminLevel.PROVINCE)).one()
    assert (province.code, province.name, province.parent_id) == ("610000", "陕西省", None)

    cities = list(session.scalars(select(AdminArea).where(AdminArea.level == AdminLevel.CITY)))
    assert {c.parent_id for c in cities} == {province.id}
    assert {c.code for c in cities} == {f"61{i:02d}00" for i in range(1, 11)}
    city_by_id = {c.id: c for c in cities}

    counties = list(session.scalars(select(AdminArea).where(AdminArea.level == AdminLevel.COUNTY)))
    for county in counties:
        assert county.parent_id in city_by_id, county.code
        assert city_by_id[county.parent_id].code[:4] == county.code[:4], county.code
    assert all(a.geom is not None for a in [province, *cities, *counties])
    assert {a.code_version for a in [province, *cities, *counties]} == {"GB/T 2260 (2023)"}


def test_hj1312_code_tree(session: Session) -> None:
    entries = {e.code: e for e in session.scalars(select(CodeListEntry).where(CodeListEntry.scheme == "HJ1312"))}
    top = sorted(code for code, e in entries.items() if e.level == 1)
    assert top == ["1", "2", "3", "4", "9"]  # four classes plus 暂无法确定
    assert entries["9"].label_zh == "暂无法确定"
    assert entries["4"].label_zh == "其他排口"
    assert entries["4.8"].label_zh == "城镇雨洪排口"
    for code, entry in entries.items():
        if entry.level == 1:
            assert entry.parent_code is None
        else:
            assert entry.parent_code in entries, code
            assert entries[entry.parent_code].level == entry.level - 1
            assert code.startswith(entry.parent_code + ".")
    # the pre-2023 vocabularies are their own schemes, not part of the tree
    schemes = set(session.scalars(select(CodeListEntry.scheme).distinct()))
    assert schemes == {"HJ1312", "SX2020", "YR2021"}


def test_area_parts_cover_basins_and_admin_areas(session: Session) -> None:
    kinds = _pairs(
        session.execute(select(AreaPart.kind, func.count(func.distinct(AreaPart.ref_id))).group_by(AreaPart.kind))
    )
    assert kinds == {"basin": 2, "sub_basin": 35, "admin": 118}
    # the pieces are small (at most 256 vertices) and add up to the polygons they come from
    assert session.scalar(select(func.max(func.ST_NPoints(AreaPart.geom)))) <= 256
    province_id = session.scalar(select(AdminArea.id).where(AdminArea.code == "610000"))
    parts_area, province_area = session.execute(
        select(
            select(func.sum(func.ST_Area(AreaPart.geom)))
            .where(AreaPart.kind == "admin", AreaPart.ref_id == province_id)
            .scalar_subquery(),
            select(func.ST_Area(AdminArea.geom)).where(AdminArea.id == province_id).scalar_subquery(),
        )
    ).one()
    assert parts_area == pytest.approx(province_area, rel=1e-6)
    ranks = _pairs(
        session.execute(
            select(AdminArea.level, func.min(AreaPart.rank))
            .join(AreaPart, (AreaPart.ref_id == AdminArea.id) & (AreaPart.kind == "admin"))
            .group_by(AdminArea.level)
        )
    )
    assert ranks[AdminLevel.COUNTY] < ranks[AdminLevel.CITY] < ranks[AdminLevel.PROVINCE]


# -- the GCJ-02 conversion -----------------------------------------------------------------------------
def test_province_outline_is_converted_from_gcj02(session: Session) -> None:
    _meta, _fids, wkb, _fields = pyogrio.raw.read(PROVINCE_FILE)
    raw = shapely.from_wkb(wkb)[0]
    stored = to_shape(session.scalar(select(AdminArea.geom).where(AdminArea.code == "610000")))

    a, b = shapely.get_coordinates(raw), shapely.get_coordinates(stored)
    assert a.shape == b.shape  # converted vertex by vertex, nothing dropped
    shift = b - a
    dist = np.hypot(shift[:, 0], shift[:, 1])
    assert 0.002 < dist.mean() < 0.007  # ≈ 400–600 m
    # GCJ-02 adds ~+0.005° of longitude all over Shaanxi, so undoing it moves every vertex west; its latitude
    # term changes sign across the province (negative round Xi'an, positive in the north), so no such rule there.
    assert (shift[:, 0] < 0).all()
    assert -0.0025 < shift[:, 1].mean() < 0.0025
    assert 0.002 < dist.max() < 0.01
    assert raw.centroid.x - stored.centroid.x == pytest.approx(0.005, abs=0.002)

    # Re-applying the forward GCJ-02 formula to the stored vertices gives the file back (every 50th vertex).
    for (lon, lat), (glon, glat) in zip(b[::50], a[::50], strict=True):
        back = wgs84_to_gcj02(float(lon), float(lat))
        assert back == pytest.approx((glon, glat), abs=1e-6)


def test_basins_are_stored_unconverted(session: Session) -> None:
    """Basin files are WGS84 already; only Amap data is GCJ-02."""
    _meta, _fids, wkb, _fields = pyogrio.raw.read(DEFAULT_DIR / "derived_huanghe_wgs84.geojson")
    raw = shapely.from_wkb(wkb)[0]
    stored = to_shape(session.scalar(select(Basin.geom).where(Basin.code == "HH")))
    np.testing.assert_array_equal(shapely.get_coordinates(stored), shapely.get_coordinates(raw))


# -- reloading -----------------------------------------------------------------------------------------
def test_second_load_changes_nothing(session: Session) -> None:
    parts_before = session.scalar(select(func.max(AreaPart.id)))

    report = load_reference(session)

    assert report.changed == 0
    assert set(report.tables) == {
        "code_lists", "parameters", "standard_limits", "closing_rules", "basins", "rivers", "admin_areas"
    }
    assert all(t.inserted == 0 and t.updated == 0 for t in report.tables.values())
    assert report.as_dict()["admin_areas"] == {"inserted": 0, "updated": 0, "unchanged": 118}
    assert report.as_dict()["basins"]["unchanged"] == 37
    assert report.as_dict()["rivers"]["unchanged"] == 9
    assert report.as_dict()["code_lists"]["unchanged"] == session.scalar(
        select(func.count()).select_from(CodeListEntry)
    )
    assert session.scalar(select(func.max(AreaPart.id))) == parts_before  # no needless rebuild


def test_reload_restores_a_changed_row(session: Session) -> None:
    basin = session.scalars(select(Basin).where(Basin.code == "HH")).one()
    basin.name = "改过的名字"
    session.flush()
    parts_before = session.scalar(select(func.max(AreaPart.id)))

    report = load_reference(session)

    assert report.changed == 1
    assert report.as_dict()["basins"] == {"inserted": 0, "updated": 1, "unchanged": 36}
    assert sum(t.updated for t in report.tables.values()) == 1
    session.expire_all()
    assert session.scalar(select(Basin.name).where(Basin.code == "HH")) == "黄河流域"
    # a change rebuilds the lookup pieces, and they cover the same polygons
    assert session.scalar(select(func.min(AreaPart.id))) > parts_before
    assert session.scalar(select(func.count(func.distinct(AreaPart.ref_id))).where(AreaPart.kind == "basin")) == 2


def test_reload_restores_a_moved_geometry_and_a_deleted_code(session: Session) -> None:
    area = session.scalars(select(AdminArea).where(AdminArea.code == "610102")).one()
    original = to_shape(area.geom)
    session.execute(
        AdminArea.__table__.update()
        .where(AdminArea.id == area.id)
        .values(geom=func.ST_Translate(AdminArea.geom, 0.01, 0))
    )
    session.execute(CodeListEntry.__table__.delete().where(CodeListEntry.scheme == "YR2021"))
    session.expire_all()

    report = load_reference(session)

    assert report.as_dict()["admin_areas"] == {"inserted": 0, "updated": 1, "unchanged": 117}
    assert report.as_dict()["code_lists"]["inserted"] == 5
    assert report.changed == 6
    session.expire_all()
    restored = to_shape(session.scalar(select(AdminArea.geom).where(AdminArea.code == "610102")))
    assert restored.equals_exact(original, 0.0)
    assert session.scalar(select(func.count()).select_from(CodeListEntry).where(CodeListEntry.scheme == "YR2021")) == 5


def test_missing_directory_is_invalid_input(session: Session, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-reference"
    with pytest.raises(InvalidInput) as info:
        load_reference(session, missing)
    assert str(missing) in str(info.value)
    assert str(missing) in str(info.value.params["path"])


def test_missing_file_is_invalid_input(session: Session, tmp_path: Path) -> None:
    for name in ("outfall_types.csv", "parameters.csv", "standard_limits.csv", "closing_rules.csv"):
        (tmp_path / name).write_bytes((DEFAULT_DIR / name).read_bytes())
    with pytest.raises(InvalidInput) as info:
        load_reference(session, tmp_path)
    assert "derived_huanghe_wgs84.geojson" in str(info.value)
