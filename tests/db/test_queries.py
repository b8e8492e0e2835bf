"""Reads for pages and the API on PostGIS: lists with filters and paging, details, map features, reference
layers, status counts and facets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import HistoryItem, record_event
from outfalls.catalogue.queries import (
    OutfallFilter,
    facets,
    get_outfall,
    list_outfalls,
    map_outfalls,
    reference_layer,
    status_counts,
)
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import CodeListEntry, Outfall
from outfalls.scope import Scope
from outfalls.types import EventKind, OutfallStatus, SurveyLevel

XIAN = (108.94, 34.40)  # Wei river, 未央区 610112 under 西安市
BAOJI = (107.14, 34.355)  # Wei river, 渭滨区 610302 under 宝鸡市
HANZHONG = (107.03, 33.07)  # Han river, 汉台区 610702 under 汉中市
YANAN = (109.49, 36.60)  # 宝塔区 610602, sub-basin 府谷至龙门, no river of the 1:4M map nearby


@dataclass(frozen=True)
class Catalogue:
    xian: Outfall
    baoji: Outfall
    hanzhong: Outfall
    yanan: Outfall
    legacy: Outfall  # typed in the Shaanxi 2020 list, not HJ 1312

    @property
    def all(self) -> list[Outfall]:
        return [self.xian, self.baoji, self.hanzhong, self.yanan, self.legacy]


@pytest.fixture
def cat(session: Session, make_outfall: Callable[..., Outfall]) -> Catalogue:
    assert session.scalar(select(func.count()).select_from(Outfall)) == 0  # the test database starts empty
    traced = (
        HistoryItem(EventKind.TRACED, date(2022, 8, 1), {"responsible_party": "某厂"}),
        HistoryItem(EventKind.REMEDIATION_PLANNED, date(2022, 9, 1), {"category": "merge"}),
    )
    return Catalogue(
        xian=make_outfall(lonlat=XIAN, name="未央区渭河右岸1#城镇雨洪排口", type_code="4.8",
                          national_code="N610112-0001", local_code="XA-0001"),
        baoji=make_outfall(lonlat=BAOJI, name="渭滨区渭河左岸2#排口", type_code="4.7", history=traced,
                           local_code="BJ-0002"),
        hanzhong=make_outfall(lonlat=HANZHONG, name="汉台区汉江左岸1#工业企业排污口", type_code="1.1.1",
                              found_by=SurveyLevel.DRONE),
        yanan=make_outfall(lonlat=YANAN, name="宝塔区100%排口", type_code="1.2.1"),
        legacy=make_outfall(lonlat=XIAN, name="未央区老排口", type_scheme="SX2020", type_code="4"),
    )  # fmt: skip


def _ids(session: Session, f: OutfallFilter) -> set[int]:
    page = list_outfalls(session, f, page_size=100, scope=Scope.national())
    assert page.total == len(page.items)
    return {row.id for row in page.items}


# -- list ----------------------------------------------------------------------------------------------
def test_paging(session: Session, cat: Catalogue) -> None:
    ids = sorted((o.id for o in cat.all), reverse=True)  # newest first
    pages = [list_outfalls(session, OutfallFilter(), page=n, page_size=2, scope=Scope.national()) for n in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [5, 5, 5, 5]
    assert [p.pages for p in pages] == [3, 3, 3, 3]
    assert [[r.id for r in p.items] for p in pages] == [ids[0:2], ids[2:4], ids[4:5], []]
    assert list_outfalls(session, OutfallFilter(), page_size=50, scope=Scope.national()).pages == 1
    with pytest.raises(InvalidInput):
        list_outfalls(session, OutfallFilter(), page=0, scope=Scope.national())
    with pytest.raises(InvalidInput):
        list_outfalls(session, OutfallFilter(), page_size=0, scope=Scope.national())


def test_row_content(session: Session, cat: Catalogue) -> None:
    (row,) = [r for r in list_outfalls(session, OutfallFilter(), scope=Scope.national()).items if r.id == cat.xian.id]
    assert row.name == "未央区渭河右岸1#城镇雨洪排口"
    assert (row.type_code, row.type_zh, row.type_en) == ("4.8", "城镇雨洪排口", "Urban storm outlet")
    assert (row.basin, row.sub_basin, row.river) == ("黄河流域", "渭河流域", "渭河")
    assert (row.area_code, row.area) == ("610112", "未央区")
    assert (row.lon, row.lat) == XIAN
    assert (row.status, row.found_by, row.found_on) == ("surveyed", "foot", date(2022, 5, 1))
    assert (row.national_code, row.local_code, row.is_demo) == ("N610112-0001", "XA-0001", False)


def test_filter_by_basin(session: Session, cat: Catalogue) -> None:
    wei = {cat.xian.id, cat.baoji.id, cat.legacy.id}
    assert _ids(session, OutfallFilter(basin="HH")) == wei | {cat.yanan.id}
    assert _ids(session, OutfallFilter(basin="HH-08")) == wei
    assert _ids(session, OutfallFilter(basin="HH-06")) == {cat.yanan.id}
    assert _ids(session, OutfallFilter(basin="CJ")) == {cat.hanzhong.id}
    assert _ids(session, OutfallFilter(basin="CJ-10")) == {cat.hanzhong.id}
    assert _ids(session, OutfallFilter(basin="CJ-11")) == set()


def test_unknown_basin_is_invalid_input(session: Session, cat: Catalogue) -> None:
    with pytest.raises(InvalidInput) as info:
        list_outfalls(session, OutfallFilter(basin="XX"), scope=Scope.national())
    assert info.value.params == {"field": "basin", "value": "XX"}


def test_filter_by_area(session: Session, cat: Catalogue) -> None:
    assert _ids(session, OutfallFilter(area="610000")) == {o.id for o in cat.all}
    assert _ids(session, OutfallFilter(area="610100")) == {cat.xian.id, cat.legacy.id}  # the city's counties
    assert _ids(session, OutfallFilter(area="610112")) == {cat.xian.id, cat.legacy.id}
    assert _ids(session, OutfallFilter(area="610300")) == {cat.baoji.id}
    assert _ids(session, OutfallFilter(area="610113")) == set()  # a neighbouring county of the same city
    assert _ids(session, OutfallFilter(area="620000")) == set()


@pytest.mark.parametrize("code", ["61010", "6101000", "61O100", "陕西省"])
def test_malformed_area_is_invalid_input(session: Session, cat: Catalogue, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        list_outfalls(session, OutfallFilter(area=code), scope=Scope.national())
    assert info.value.params["field"] == "area"


def test_filter_by_type(session: Session, cat: Catalogue) -> None:
    assert _ids(session, OutfallFilter(type_code="4")) == {cat.xian.id, cat.baoji.id}
    assert _ids(session, OutfallFilter(type_code="4.8")) == {cat.xian.id}
    assert _ids(session, OutfallFilter(type_code="1")) == {cat.hanzhong.id, cat.yanan.id}
    assert _ids(session, OutfallFilter(type_code="1.1")) == {cat.hanzhong.id}
    assert _ids(session, OutfallFilter(type_code="1.2")) == {cat.yanan.id}
    assert _ids(session, OutfallFilter(type_code="9")) == set()
    # matching is by tree node, not by string prefix
    assert _ids(session, OutfallFilter(type_code="4.")) == set()
    assert _ids(session, OutfallFilter(type_code="1.")) == set()


def test_type_filter_stays_in_the_hj1312_tree(session: Session, cat: Catalogue) -> None:
    """SX2020 '4' (雨洪排口) is not HJ 1312 '4' (其他排口)."""
    assert cat.legacy.id not in _ids(session, OutfallFilter(type_code="4"))


def test_filter_by_status(session: Session, cat: Catalogue) -> None:
    assert _ids(session, OutfallFilter(status=OutfallStatus.CANDIDATE)) == {cat.hanzhong.id}
    assert _ids(session, OutfallFilter(status=OutfallStatus.REMEDIATING)) == {cat.baoji.id}
    assert _ids(session, OutfallFilter(status=OutfallStatus.SURVEYED)) == {cat.xian.id, cat.yanan.id, cat.legacy.id}
    assert _ids(session, OutfallFilter(status=OutfallStatus.CLOSED)) == set()


def test_filter_by_text(session: Session, cat: Catalogue) -> None:
    assert _ids(session, OutfallFilter(q="渭河")) == {cat.xian.id, cat.baoji.id}
    assert _ids(session, OutfallFilter(q="  汉江 ")) == {cat.hanzhong.id}
    assert _ids(session, OutfallFilter(q="n610112")) == {cat.xian.id}  # national code, any case
    assert _ids(session, OutfallFilter(q="bj-00")) == {cat.baoji.id}  # local code
    assert _ids(session, OutfallFilter(q="100%")) == {cat.yanan.id}
    assert _ids(session, OutfallFilter(q="%")) == {cat.yanan.id}  # a literal percent sign, not a wildcard
    assert _ids(session, OutfallFilter(q="_")) == set()
    assert _ids(session, OutfallFilter(q="   ")) == {o.id for o in cat.all}


def test_filters_combine(session: Session, cat: Catalogue) -> None:
    f = OutfallFilter(basin="HH", area="610100", type_code="4", status=OutfallStatus.SURVEYED, q="渭河")
    assert _ids(session, f) == {cat.xian.id}
    assert _ids(session, OutfallFilter(basin="CJ", q="渭河")) == set()


# -- detail --------------------------------------------------------------------------------------------
def test_get_outfall(session: Session, cat: Catalogue) -> None:
    detail = get_outfall(session, cat.xian.id, scope=Scope.national())
    assert detail.row.id == cat.xian.id and detail.version == 1
    assert detail.type_path == [("4", "其他排口", "Other outlet"), ("4.8", "城镇雨洪排口", "Urban storm outlet")]
    assert [name for _code, name in detail.admin_path] == ["陕西省", "西安市", "未央区"]
    assert [code for code, _name in detail.admin_path] == ["610000", "610100", "610112"]
    assert (detail.type_scheme, detail.national_code_provenance, detail.name_provenance) == (
        "HJ1312", "unknown", "known"
    )  # fmt: skip
    assert detail.observation_count == 0
    assert [e.kind for e in detail.events] == ["created"]


def test_get_outfall_three_level_type_and_state(session: Session, cat: Catalogue) -> None:
    detail = get_outfall(session, cat.hanzhong.id, scope=Scope.national())
    assert [code for code, _zh, _en in detail.type_path] == ["1", "1.1", "1.1.1"]
    assert detail.type_path[-1][1] == "工业企业排污口"
    baoji = get_outfall(session, cat.baoji.id, scope=Scope.national())
    assert (baoji.responsible_party, baoji.remediation_category) == ("某厂", "merge")
    legacy = get_outfall(session, cat.legacy.id, scope=Scope.national())
    assert legacy.type_path == [("4", "雨洪排口", "Storm outlet")]  # its own list's label


def test_get_outfall_events_in_effective_order(session: Session, cat: Catalogue) -> None:
    record_event(
        session,
        cat.xian.id,
        EventKind.SAMPLED,
        actor="lab",
        expected_version=1,
        on=date(2023, 3, 1),
        scope=Scope.national(),
    )
    # recorded later but effective earlier: the history is ordered by when things happened
    record_event(
        session,
        cat.xian.id,
        EventKind.TRACED,
        actor="cso",
        expected_version=2,
        on=date(2022, 7, 1),
        scope=Scope.national(),
    )

    detail = get_outfall(session, cat.xian.id, scope=Scope.national())

    assert [e.kind for e in detail.events] == ["created", "traced", "sampled"]
    assert [e.effective_at.astimezone(UTC).date() for e in detail.events] == [
        date(2022, 5, 1), date(2022, 7, 1), date(2023, 3, 1)
    ]  # fmt: skip
    assert [e.actor for e in detail.events] == ["tester", "cso", "lab"]
    assert detail.version == 3 and detail.row.status == "traced"


def test_get_missing_outfall_is_not_found(session: Session, cat: Catalogue) -> None:
    missing = max(o.id for o in cat.all) + 1000
    with pytest.raises(NotFound) as info:
        get_outfall(session, missing, scope=Scope.national())
    assert info.value.params == {"entity": "outfall", "id": missing}


def _statements(session: Session, read: Callable[[], object]) -> list[str]:
    """The SQL statements ``read()`` sends."""
    sent: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", seen)
    try:
        read()
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    return sent


def test_get_outfall_reads_the_page_in_two_statements_without_boundaries(session: Session, cat: Catalogue) -> None:
    session.expunge_all()  # nothing cached: every value comes from the database
    sent = _statements(session, lambda: get_outfall(session, cat.hanzhong.id, scope=Scope.national()))
    # the outfall with its paths and observation count, then its events; no area's boundary polygon
    assert len(sent) == 2 and "FROM events" in sent[1]
    assert not any("admin_areas.geom" in s or "code_lists.id" in s for s in sent)
    detail = get_outfall(session, cat.hanzhong.id, scope=Scope(area_codes=("610700",)))
    assert [code for code, _name in detail.admin_path] == ["610000", "610700", "610702"]
    assert [code for code, _zh, _en in detail.type_path] == ["1", "1.1", "1.1.1"]
    with pytest.raises(NotFound):
        get_outfall(session, cat.hanzhong.id, scope=Scope(area_codes=("610100",)))


# -- map -----------------------------------------------------------------------------------------------
def test_map_features(session: Session, cat: Catalogue) -> None:
    fc = map_outfalls(session, OutfallFilter(), None, limit=100, scope=Scope.national())
    assert fc["type"] == "FeatureCollection" and fc["truncated"] is False
    by_id = {f["id"]: f for f in fc["features"]}
    assert set(by_id) == {o.id for o in cat.all}
    xian = by_id[cat.xian.id]
    assert xian["type"] == "Feature"
    assert xian["geometry"]["type"] == "Point"
    assert xian["geometry"]["coordinates"] == [108.94, 34.4]
    assert by_id[cat.hanzhong.id]["geometry"]["coordinates"] == [107.03, 33.07]
    assert xian["properties"] == {"name": cat.xian.name, "status": "surveyed", "type": "4.8", "demo": False}


def test_map_bbox_and_filter(session: Session, cat: Catalogue) -> None:
    guanzhong = (106.5, 34.0, 109.5, 35.0)  # the Wei valley: Xi'an and Baoji
    fc = map_outfalls(session, OutfallFilter(), guanzhong, limit=100, scope=Scope.national())
    assert {f["id"] for f in fc["features"]} == {cat.xian.id, cat.baoji.id, cat.legacy.id}
    fc = map_outfalls(session, OutfallFilter(type_code="4.8"), guanzhong, limit=100, scope=Scope.national())
    assert {f["id"] for f in fc["features"]} == {cat.xian.id}
    fc = map_outfalls(session, OutfallFilter(), (120.0, 30.0, 122.0, 32.0), limit=100, scope=Scope.national())
    assert fc == {"type": "FeatureCollection", "features": [], "truncated": False}
    with pytest.raises(InvalidInput):
        map_outfalls(session, OutfallFilter(), (109.5, 34.0, 106.5, 35.0), limit=100, scope=Scope.national())


def test_map_truncates_at_limit(session: Session, cat: Catalogue) -> None:
    fc = map_outfalls(session, OutfallFilter(), None, limit=2, scope=Scope.national())
    assert fc["truncated"] is True
    assert len(fc["features"]) == 2
    exact = map_outfalls(session, OutfallFilter(), None, limit=5, scope=Scope.national())
    assert exact["truncated"] is False and len(exact["features"]) == 5


# -- reference layers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("layer", "count", "geometry_types", "sample"),
    [
        ("basins", 2, {"Polygon", "MultiPolygon"}, {"code": "HH", "name": "黄河流域", "parent": None}),
        ("sub_basins", 35, {"Polygon", "MultiPolygon"}, {"code": "HH-08", "name": "渭河流域", "parent": "HH"}),
        ("rivers", 9, {"LineString", "MultiLineString"}, {"name": "渭河", "basin": "HH"}),
        ("provinces", 1, {"Polygon", "MultiPolygon"}, {"code": "610000", "name": "陕西省", "parent": None}),
        ("cities", 10, {"Polygon", "MultiPolygon"}, {"code": "610100", "name": "西安市", "parent": "610000"}),
        ("counties", 107, {"Polygon", "MultiPolygon"}, {"code": "610112", "name": "未央区", "parent": "610100"}),
    ],
)
def test_reference_layer(
    session: Session, layer: str, count: int, geometry_types: set[str], sample: dict[str, object]
) -> None:
    fc = reference_layer(session, layer)
    assert fc["type"] == "FeatureCollection"
    features = fc["features"]
    assert len(features) == count
    assert all(f["geometry"] is not None and f["geometry"]["type"] in geometry_types for f in features)
    assert all(f["geometry"]["coordinates"] for f in features)
    matching = [f for f in features if all(f["properties"].get(k) == v for k, v in sample.items())]
    assert len(matching) == 1
    codes = [f["properties"]["code"] for f in features]
    assert codes == sorted(codes)


def test_reference_layer_is_simplified(session: Session) -> None:
    def vertices(geometry: dict[str, object]) -> int:
        return str(geometry["coordinates"]).count("[") - 1

    coarse = reference_layer(session, "provinces", tolerance_deg=0.05)["features"][0]["geometry"]
    fine = reference_layer(session, "provinces", tolerance_deg=0.0005)["features"][0]["geometry"]
    assert vertices(coarse) < vertices(fine) / 5


def test_unknown_layer_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound) as info:
        reference_layer(session, "towns")
    assert "towns" in str(info.value)


# -- counts and facets ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "f",
    [OutfallFilter(), OutfallFilter(basin="HH"), OutfallFilter(area="610100"), OutfallFilter(type_code="1")],
)
def test_status_counts_sum_to_total(session: Session, cat: Catalogue, f: OutfallFilter) -> None:
    counts = status_counts(session, f, scope=Scope.national())
    assert sum(counts.values()) == list_outfalls(session, f, scope=Scope.national()).total > 0
    assert set(counts) <= {s.value for s in OutfallStatus}


def test_status_counts(session: Session, cat: Catalogue) -> None:
    assert status_counts(session, OutfallFilter(), scope=Scope.national()) == {
        "surveyed": 3,
        "candidate": 1,
        "remediating": 1,
    }
    assert status_counts(session, OutfallFilter(basin="CJ"), scope=Scope.national()) == {"candidate": 1}


def test_facets(session: Session, cat: Catalogue) -> None:
    result = facets(session, scope=Scope.national())
    assert ("HH", "黄河流域", "basin") in result.basins and ("CJ", "长江流域", "basin") in result.basins
    # sub-basins only where there are outfalls, basins always
    assert {code for code, _name, level in result.basins if level == "sub_basin"} == {"HH-08", "HH-06", "CJ-10"}
    assert len(result.areas) == 118
    assert ("610000", "陕西省", "province") in result.areas
    assert ("610112", "未央区", "county") in result.areas
    hj1312 = list(session.scalars(select(CodeListEntry.code).where(CodeListEntry.scheme == "HJ1312")))
    assert [t[0] for t in result.types] == sorted(hj1312, key=lambda c: [int(p) for p in c.split(".")])
    assert ("4.8", "城镇雨洪排口", "Urban storm outlet", 2) in result.types
    assert [t for t in result.types if t[3] == 1] == [
        ("1", "工业排污口", "Industrial outfall", 1),
        ("2", "城镇污水处理厂排污口", "Municipal wastewater treatment plant outfall", 1),
        ("3", "农业排口", "Agricultural outlet", 1),
        ("4", "其他排口", "Other outlet", 1),
        ("9", "暂无法确定", "Not yet determined", 1),
    ]
    assert result.statuses == [s.value for s in OutfallStatus]


def test_facets_without_outfalls_offer_only_basins(session: Session) -> None:
    assert {level for _code, _name, level in facets(session, scope=Scope.national()).basins} == {"basin"}


@pytest.mark.parametrize("layer", ["basins", "sub_basins", "rivers", "provinces", "cities", "counties"])
def test_reference_layer_kept_with_the_reference_data_is_the_one_worked_out_now(session: Session, layer: str) -> None:
    """The layers kept in ``reference_layer_shapes`` (frozen SQL in migration 0021) are what the live query gives at
    the default tolerance: same features, properties and shapes."""
    from outfalls.catalogue.queries import DEFAULT_TOLERANCE_DEG

    kept = reference_layer(session, layer)["features"]
    live = reference_layer(session, layer, tolerance_deg=DEFAULT_TOLERANCE_DEG)["features"]
    assert kept == live and kept


@pytest.mark.parametrize("scope", [
    Scope.national(), Scope(), Scope(area_codes=("610000",)), Scope(area_codes=("610100",)),
    Scope(area_codes=("610112", "610702")), Scope(area_codes=("610302",)), Scope(area_codes=("620000",)),
    Scope(area_codes=("610000",), basin_codes=("CJ",)), Scope(area_codes=("610000",), basin_codes=("HH-08",)),
    Scope(area_codes=("610000",), basin_codes=("ZZ-99",)), Scope(area_codes=("610100",), basin_codes=("HH", "CJ")),
])  # fmt: skip
def test_one_row_conditions_keep_the_same_outfalls_as_the_list_conditions(
    session: Session, cat: Catalogue, make_outfall: Callable[..., Outfall], scope: Scope
) -> None:
    no_area = make_outfall(lonlat=(100.0, 25.0), name="界外排口", type_code="4.8")  # outside the reference areas
    assert no_area.admin_area_id is None and no_area.basin_id is None
    everything = [*cat.all, no_area]

    def kept(cond: list[Any]) -> set[int]:
        return {o.id for o in everything if session.scalar(select(Outfall.id).where(Outfall.id == o.id, *cond))}

    by_list, by_row = kept(scope.conditions()), kept(scope.one_row_conditions())
    assert by_row == by_list
    if scope == Scope(area_codes=("610100",)):
        assert by_row == {cat.xian.id, cat.legacy.id}
    for o in everything:  # the case page and the state lookup use them
        if o.id in by_row:
            assert get_outfall(session, o.id, scope=scope).row.id == o.id
        else:
            with pytest.raises(NotFound):
                get_outfall(session, o.id, scope=scope)
