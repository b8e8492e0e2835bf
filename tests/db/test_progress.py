"""Progress against targets on a small hand-computed catalogue (``tests/progress_catalogue.py``): every scope
level, every metric, dates before any event, rejected and merged outfalls, a target changed mid-year and one
withdrawn, the monthly trend, the milestones the triggers keep, the vector tiles and the command line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bench.progress import AREA_EVENTS_SQL, BASIN_EVENTS_SQL, _table_of_report, _table_of_rows, disagreements
from outfalls import clock
from outfalls.catalogue.lifecycle import record_event
from outfalls.cli import main
from outfalls.config import Settings
from outfalls.db.engine import make_engine
from outfalls.errors import InvalidInput, NotFound, PermissionDenied
from outfalls.models import AdminArea, Basin, Outfall, OutfallMilestone
from outfalls.progress import (
    METRICS,
    ProgressReport,
    add_target,
    area_clusters_extent,
    check_axis,
    gap_class,
    outfall_tile,
    parse_scope,
    progress,
    progress_trend,
    target_history,
    targets_in_force,
)
from outfalls.scope import Scope
from outfalls.types import EventKind
from tests.progress_catalogue import add_provincial_targets, add_stray_on_the_wei, build_catalogue

# every test here runs either side of the programme's midnight (23:30 and 00:30 UTC)
pytestmark = pytest.mark.usefixtures("clock_edge")

ALL = Scope.national()
HH, HH08, CJ, CJ10, WEI, HAN = "HH", "HH-08", "CJ", "CJ-10", "HYD4M-463", "HYD4M-777"


@pytest.fixture
def cat(session: Session) -> dict[str, Outfall]:
    ids = build_catalogue(session)
    return {letter: session.get_one(Outfall, oid) for letter, oid in ids.items()}


@pytest.fixture
def provincial_targets(session: Session, cat: dict[str, Outfall]) -> None:
    add_provincial_targets(session)


def table(report: ProgressReport) -> dict[tuple[str, str | None], tuple[int, dict[str, int]]]:
    """scope -> (denominator, counts by metric)."""
    out: dict[tuple[str, str | None], tuple[int, dict[str, int]]] = {}
    for r in report.rows:
        key = (r.scope_kind, r.scope_code)
        out.setdefault(key, (r.denominator, {}))[1][r.metric] = r.count
    return out


def counts(denominator: int, **metrics: int) -> tuple[int, dict[str, int]]:
    return (denominator, {m: metrics.get(m, 0) for m in METRICS})


# -- hand-computed counts, every scope level --------------------------------------------------------------
def test_before_any_event_only_the_empty_total(session: Session, settings: Settings, cat: Any) -> None:
    report = progress(session, scope=ALL, as_of=date(2023, 1, 15), defaults=settings.targets)

    assert table(report) == {("all", None): counts(0)}
    traced = report.row("all", None, "traced")
    assert traced is not None
    assert (traced.share, traced.gap_pp, traced.gap_count) == (None, None, None)
    assert (traced.target_share, traced.target_deadline) == (0.8, date(2023, 12, 31))


def test_mid_2023_by_basin(session: Session, settings: Settings, cat: Any) -> None:
    report = progress(session, scope=ALL, by="basin", as_of=date(2023, 6, 30), defaults=settings.targets)

    # C was rejected in May; D is merged only in October, so it still counts
    assert table(report) == {
        ("all", None): counts(4, surveyed=4, sampled=1, traced=1),
        ("basin", HH): counts(3, surveyed=3, traced=1),
        ("basin", CJ): counts(1, surveyed=1, sampled=1),
        ("sub_basin", HH08): counts(3, surveyed=3, traced=1),
        ("sub_basin", CJ10): counts(1, surveyed=1, sampled=1),
        ("river", WEI): counts(3, surveyed=3, traced=1),
        ("river", HAN): counts(1, surveyed=1, sampled=1),
    }
    assert report.unplaced == 0
    hh = report.row("basin", HH, "traced")
    assert hh is not None
    assert (hh.scope_name, hh.level, hh.share, hh.target_share, hh.gap_pp, hh.gap_count) == (
        "黄河流域",
        1,
        0.3333,
        0.8,
        46.67,
        2,
    )
    assert (hh.parent_kind, hh.parent_code) == ("all", None)
    wei = report.row("river", WEI, "traced")
    assert wei is not None and (wei.level, wei.parent_kind, wei.parent_code) == (3, "sub_basin", HH08)
    assert [r.scope_code for r in report.children("all", None, "traced")] == [CJ, HH]  # most behind first


def test_end_2023_by_area(session: Session, settings: Settings, cat: Any) -> None:
    report = progress(session, scope=ALL, by="area", as_of=date(2023, 12, 31), defaults=settings.targets)

    # D (Baoji) merged in October: 宝鸡 has no outfall left that day
    assert table(report) == {
        ("all", None): counts(3, surveyed=3, sampled=1, traced=2, remediating=1, remediated=1),
        ("province", "610000"): counts(3, surveyed=3, sampled=1, traced=2, remediating=1, remediated=1),
        ("city", "610100"): counts(2, surveyed=2, traced=2, remediating=1, remediated=1),
        ("city", "610700"): counts(1, surveyed=1, sampled=1),
        ("county", "610112"): counts(2, surveyed=2, traced=2, remediating=1, remediated=1),
        ("county", "610702"): counts(1, surveyed=1, sampled=1),
    }
    total = {r.metric: r for r in report.rows if r.scope_kind == "all"}
    assert (total["traced"].share, total["traced"].gap_pp, total["traced"].gap_count) == (0.6667, 13.33, 1)
    assert (total["remediated"].share, total["remediated"].target_share, total["remediated"].gap_pp) == (
        0.3333,
        0.3,
        -3.33,
    )
    assert (total["surveyed"].gap_pp, total["closed"].target_share, total["sampled"].gap_pp) == (0.0, None, None)
    county = report.row("county", "610112", "traced")
    assert county is not None and (county.level, county.parent_kind, county.parent_code) == (3, "city", "610100")


def test_end_2024_by_basin_and_area(session: Session, settings: Settings, cat: Any) -> None:
    by_basin = progress(session, scope=ALL, by="basin", as_of=date(2024, 12, 31), defaults=settings.targets)
    by_area = progress(session, scope=ALL, by="area", as_of=date(2024, 12, 31), defaults=settings.targets)

    total = counts(5, surveyed=4, sampled=1, traced=3, remediating=1, remediated=1, closed=1)
    assert table(by_basin) == {
        ("all", None): total,
        ("basin", HH): counts(3, surveyed=3, traced=2, remediating=1, remediated=1, closed=1),
        ("basin", CJ): counts(2, surveyed=1, sampled=1, traced=1),
        ("sub_basin", HH08): counts(3, surveyed=3, traced=2, remediating=1, remediated=1, closed=1),
        ("sub_basin", CJ10): counts(2, surveyed=1, sampled=1, traced=1),
        ("river", WEI): counts(3, surveyed=3, traced=2, remediating=1, remediated=1, closed=1),
        ("river", HAN): counts(2, surveyed=1, sampled=1, traced=1),
    }
    assert table(by_area) == {
        ("all", None): total,
        ("province", "610000"): total,
        ("city", "610100"): counts(2, surveyed=2, traced=2, remediating=1, remediated=1, closed=1),
        ("city", "610300"): counts(1, surveyed=1),
        ("city", "610700"): counts(2, surveyed=1, sampled=1, traced=1),
        ("county", "610112"): counts(2, surveyed=2, traced=2, remediating=1, remediated=1, closed=1),
        ("county", "610302"): counts(1, surveyed=1),
        ("county", "610702"): counts(2, surveyed=1, sampled=1, traced=1),
    }


# -- targets: due next, history, precedence, behind since -------------------------------------------------
@pytest.mark.parametrize("by", ["basin", "area"])
def test_no_child_holds_more_outfalls_than_its_parent(session: Session, settings: Settings, cat: Any,
                                                      by: str) -> None:  # fmt: skip
    stray = session.get_one(Outfall, add_stray_on_the_wei(session))
    assert stray.river is not None and stray.sub_basin is not None and stray.basin is not None
    assert (stray.river.code, stray.sub_basin.code, stray.basin.code) == (WEI, "HH-07", HH)  # off the Wei's sub-basin

    checked = 0
    for day in (date(2023, 6, 30), date(2023, 12, 31), date(2024, 12, 31)):
        report = progress(session, scope=ALL, by=by, as_of=day, defaults=settings.targets)
        rows = {(r.scope_kind, r.scope_code, r.metric): r for r in report.rows}
        for r in report.rows:
            if r.scope_kind == "all":
                continue
            parent = rows[(str(r.parent_kind), r.parent_code, r.metric)]
            assert r.denominator <= parent.denominator, (day, r.scope_name, parent.scope_name)
            assert r.count <= parent.count, (day, r.metric, r.scope_name, parent.scope_name)
            checked += 1
        if by == "basin":
            # the river counts only its outfalls inside its sub-basin: A and B (D merged by the end of 2023)
            wei = report.row("river", WEI, "traced")
            assert wei is not None and wei.parent_code == HH08
            assert wei.denominator == {date(2023, 6, 30): 3, date(2023, 12, 31): 2, date(2024, 12, 31): 3}[day]
            trend = progress_trend(session, scope=ALL, scope_kind="river", scope_code=WEI, as_of=day,
                                   defaults=settings.targets)  # fmt: skip
            assert (trend.points[-1].denominator, trend.points[-1].counts["traced"]) == (wei.denominator, wei.count)
    assert checked > 20


@pytest.mark.parametrize("by", ["basin", "area"])
def test_the_progress_bench_hand_sql_counts_as_progress_does(session: Session, settings: Settings, cat: Any,
                                                             by: str) -> None:  # fmt: skip
    # bench/progress.py checks progress() against this SQL over the events: it must count each scope's outfalls
    # by the same rules, the stray on the Wei outside the Wei's sub-basin included, or its check means nothing
    add_stray_on_the_wei(session)
    session.flush()
    sql = BASIN_EVENTS_SQL if by == "basin" else AREA_EVENTS_SQL
    for day in (date(2023, 6, 30), date(2023, 12, 31), date(2024, 12, 31)):
        ours = _table_of_report(progress(session, scope=ALL, by=by, as_of=day, defaults=settings.targets))
        theirs = _table_of_rows(session.connection().exec_driver_sql(sql, {"cutoff": day}).all())
        assert disagreements(ours, theirs) == [], day
        assert len(ours) > 5


@pytest.mark.parametrize(
    ("gap_pp", "grade"),
    [(None, "none"), (-16.67, "met"), (0.0, "met"), (0.01, "near"), (10.0, "near"), (10.01, "behind"),
     (25.0, "behind"), (25.01, "far"), (100.0, "far")],
)  # fmt: skip
def test_gaps_are_graded(gap_pp: float | None, grade: str) -> None:
    assert gap_class(gap_pp) == grade


def test_scope_and_axis_arguments() -> None:
    assert parse_scope(None) == parse_scope("all") == ("all", None)
    assert parse_scope("river:HYD4M-463") == ("river", "HYD4M-463")
    assert (check_axis(None), check_axis(None, "county"), check_axis("area", "all")) == ("basin", "area", "area")
    for raw in ("planet:9", "basin", "basin:", "all:1"):
        with pytest.raises(InvalidInput, match="scope must be all or KIND:CODE"):
            parse_scope(raw)
    with pytest.raises(InvalidInput, match="unknown grouping"):
        check_axis("river")
    with pytest.raises(InvalidInput, match="not on the area axis"):
        check_axis("area", "sub_basin")


def test_targets_changed_mid_year_do_not_rewrite_the_past(session: Session, settings: Settings, cat: Any,
                                                           provincial_targets: None) -> None:  # fmt: skip
    june = progress(session, scope=ALL, by="area", as_of=date(2023, 6, 30), defaults=settings.targets)
    december = progress(session, scope=ALL, by="area", as_of=date(2023, 12, 31), defaults=settings.targets)

    def due(report: ProgressReport, kind: str, code: str | None) -> tuple[Any, ...]:
        r = report.row(kind, code, "traced")
        assert r is not None
        return (r.share, r.target_share, r.target_deadline, r.gap_pp, r.target_scope)

    # June: Shaanxi's 90 % was in force; Xi'an's own earlier milestone (60 % by 2023-09-30) is due next there
    assert due(june, "all", None) == (0.25, 0.8, date(2023, 12, 31), 55.0, "all")
    assert due(june, "province", "610000") == (0.25, 0.9, date(2023, 12, 31), 65.0, "area:610000")
    assert due(june, "city", "610100") == (0.5, 0.6, date(2023, 9, 30), 10.0, "area:610100")
    assert due(june, "county", "610112") == (0.5, 0.6, date(2023, 9, 30), 10.0, "area:610100")
    assert due(june, "city", "610300") == (0.0, 0.9, date(2023, 12, 31), 90.0, "area:610000")
    # December: the lowered 50 % applies, national 80 % still applies to the total
    assert due(december, "all", None) == (0.6667, 0.8, date(2023, 12, 31), 13.33, "all")
    assert due(december, "province", "610000") == (0.6667, 0.5, date(2023, 12, 31), -16.67, "area:610000")
    assert due(december, "city", "610100") == (1.0, 0.5, date(2023, 12, 31), -50.0, "area:610000")
    assert due(december, "city", "610700") == (0.0, 0.5, date(2023, 12, 31), 50.0, "area:610000")


def test_behind_since_the_oldest_missed_deadline(session: Session, settings: Settings, cat: Any,
                                                 provincial_targets: None) -> None:  # fmt: skip
    report = progress(session, scope=ALL, by="basin", as_of=date(2024, 6, 30), defaults=settings.targets)
    by_area = progress(session, scope=ALL, by="area", as_of=date(2024, 6, 30), defaults=settings.targets)

    total = report.row("all", None, "traced")
    assert total is not None
    assert (total.share, total.target_share, total.target_deadline, total.gap_pp, total.gap_count) == (
        0.6,
        1.0,
        date(2024, 12, 31),
        40.0,
        2,
    )
    assert total.behind_since == date(2023, 12, 31)  # 60 % is still short of the 80 % due then
    cj = report.row("basin", CJ, "traced")
    assert cj is not None and (cj.share, cj.gap_pp, cj.behind_since) == (0.5, 50.0, date(2023, 12, 31))
    shaanxi = by_area.row("province", "610000", "traced")
    assert shaanxi is not None and (shaanxi.gap_pp, shaanxi.behind_since) == (40.0, None)  # its 50 % was met
    xian = by_area.row("city", "610100", "traced")
    assert xian is not None and xian.target_scope == "all"  # Xi'an's own milestone was withdrawn


def test_a_provincial_leader_sees_the_province_targets_on_basins(session: Session, settings: Settings, cat: Any,
                                                                 provincial_targets: None) -> None:  # fmt: skip
    shaanxi = Scope(area_codes=("610000",))
    national = progress(session, scope=ALL, as_of=date(2023, 12, 31), defaults=settings.targets)
    provincial = progress(session, scope=shaanxi, as_of=date(2023, 12, 31), defaults=settings.targets)

    hh_national, hh_provincial = national.row("basin", HH, "traced"), provincial.row("basin", HH, "traced")
    assert hh_national is not None and hh_provincial is not None
    assert (hh_national.target_share, hh_national.gap_pp) == (0.8, -20.0)
    assert (hh_provincial.target_share, hh_provincial.gap_pp) == (0.5, -50.0)


def test_scope_limits_the_counts(session: Session, settings: Settings, cat: Any) -> None:
    xian = Scope(area_codes=("610100",))
    report = progress(session, scope=xian, by="area", as_of=date(2024, 12, 31), defaults=settings.targets)

    assert set(table(report)) == {("all", None), ("province", "610000"), ("city", "610100"), ("county", "610112")}
    assert table(report)[("all", None)] == counts(2, surveyed=2, traced=2, remediating=1, remediated=1, closed=1)
    nothing = progress(session, scope=Scope(area_codes=()), as_of=date(2024, 12, 31), defaults=settings.targets)
    assert table(nothing) == {("all", None): counts(0)}


def test_target_history_and_in_force(session: Session, settings: Settings, cat: Any, provincial_targets: None) -> None:
    history = target_history(session, settings.targets)
    in_force = targets_in_force(session, date(2023, 6, 30), settings.targets)

    assert len(history) == len(settings.targets) + 4
    assert [(t.share, t.effective_on) for t in history if t.scope_code == "610000"] == [
        (0.9, date(2023, 1, 1)),
        (0.5, date(2023, 7, 1)),
    ]
    assert {(t.scope_code, t.share) for t in in_force if t.scope_kind == "area"} == {("610000", 0.9), ("610100", 0.6)}
    later = targets_in_force(session, date(2024, 1, 1), settings.targets)
    assert {(t.scope_code, t.share) for t in later if t.scope_kind == "area"} == {("610000", 0.5)}
    with pytest.raises(Exception, match="append-only"):
        with session.begin_nested():
            session.execute(text("UPDATE progress_targets SET share = 0.1"))


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"scope_kind": "planet"}, InvalidInput, "unknown scope kind"),
        ({"scope_code": "999999"}, NotFound, "no area with code"),
        ({"scope_kind": "basin", "scope_code": "HH-08"}, NotFound, "no basin"),
        ({"metric": "happy"}, InvalidInput, "unknown metric"),
        ({"share": 1.5}, InvalidInput, "between 0 and 100"),
        ({"scope_kind": "all", "scope_code": "610000"}, InvalidInput, "no scope code"),
        ({"scope_code": None}, InvalidInput, "needs a scope code"),
    ],
)
def test_add_target_refuses_bad_input(session: Session, kw: dict[str, Any], error: type[Exception],
                                      message: str) -> None:  # fmt: skip
    values: dict[str, Any] = {
        "scope_kind": "area",
        "scope_code": "610000",
        "metric": "traced",
        "deadline": date(2024, 6, 30),
        "share": 0.9,
        "actor": "a",
        "scope": ALL,
    } | kw
    with pytest.raises(error, match=message):
        add_target(session, **values)


def test_only_covering_scopes_set_targets(session: Session) -> None:
    xian = Scope(area_codes=("610100",))
    ok = add_target(session, scope_kind="area", scope_code="610112", metric="traced", deadline=date(2024, 6, 30),
                    share=0.9, actor="a", scope=xian)  # fmt: skip
    assert ok.id is not None and ok.effective_on <= clock.today()
    with pytest.raises(PermissionDenied):
        add_target(session, scope_kind="area", scope_code="610000", metric="traced", deadline=date(2024, 6, 30),
                   share=0.9, actor="a", scope=xian)  # fmt: skip
    with pytest.raises(PermissionDenied):
        add_target(session, scope_kind="basin", scope_code="HH", metric="traced", deadline=date(2024, 6, 30),
                   share=0.9, actor="a", scope=xian)  # fmt: skip


def test_bad_arguments(session: Session) -> None:
    with pytest.raises(InvalidInput, match="basin or area"):
        progress(session, scope=ALL, by="river")
    with pytest.raises(InvalidInput, match="in the future"):
        progress(session, scope=ALL, as_of=date(2999, 1, 1))
    with pytest.raises(InvalidInput, match="unknown metric"):
        progress(session, scope=ALL, metrics=("done",))


# -- trend ------------------------------------------------------------------------------------------------
def test_monthly_trend_matches_progress(session: Session, settings: Settings, cat: Any) -> None:
    trend = progress_trend(session, scope=ALL, as_of=date(2023, 12, 31), metrics=("traced", "remediated", "closed"),
                           defaults=settings.targets)  # fmt: skip

    assert [(p.on.isoformat(), p.denominator, p.counts["traced"], p.counts["remediated"]) for p in trend.points] == [
        ("2023-02-28", 1, 0, 0), ("2023-03-31", 3, 0, 0), ("2023-04-30", 4, 0, 0), ("2023-05-31", 4, 0, 0),
        ("2023-06-30", 4, 1, 0), ("2023-07-31", 4, 1, 0), ("2023-08-31", 4, 1, 0), ("2023-09-30", 4, 1, 0),
        ("2023-10-31", 3, 1, 0), ("2023-11-30", 3, 1, 1), ("2023-12-31", 3, 2, 1),
    ]  # fmt: skip
    assert [(t.deadline, t.share) for t in trend.targets["traced"]] == [
        (date(2023, 12, 31), 0.8),
        (date(2024, 12, 31), 1.0),
    ]
    hh = progress_trend(session, scope=ALL, scope_kind="basin", scope_code=HH, as_of=date(2024, 3, 15))
    report = progress(session, scope=ALL, as_of=date(2024, 3, 15))
    last = hh.points[-1]
    assert last.on == date(2024, 3, 15)
    for metric in ("traced", "remediated", "closed"):
        row = report.row("basin", HH, metric)
        assert row is not None and (last.denominator, last.counts[metric]) == (row.denominator, row.count)
    with pytest.raises(NotFound):
        progress_trend(session, scope=ALL, scope_kind="basin", scope_code="HH-08")


# -- milestones kept by the triggers ----------------------------------------------------------------------
def test_milestones_follow_events_and_location(session: Session, cat: dict[str, Outfall]) -> None:
    a = session.get(OutfallMilestone, cat["A"].id)
    assert a is not None
    assert (a.found_on, a.surveyed_on, a.traced_on, a.remediating_on, a.remediated_on, a.closed_on) == (
        date(2023, 3, 1),
        date(2023, 3, 1),
        date(2023, 6, 1),
        date(2023, 9, 1),
        date(2023, 11, 15),
        date(2024, 2, 1),
    )
    b = session.get(OutfallMilestone, cat["B"].id)
    assert b is not None and b.traced_on == date(2023, 12, 20)  # written by record_event, not by COPY
    # a later event dated earlier moves the milestone back; the outfall moving carries its milestones along
    f = cat["F"]
    record_event(session, f.id, EventKind.SURVEYED, actor="t", scope=ALL, expected_version=f.version,
                 on=date(2024, 2, 1))  # fmt: skip
    session.execute(text("UPDATE outfalls SET admin_area_id = (SELECT id FROM admin_areas WHERE code = '610112') "
                         "WHERE id = :id"), {"id": f.id})  # fmt: skip
    session.expire_all()
    m = session.get(OutfallMilestone, f.id)
    assert m is not None and m.surveyed_on == date(2024, 2, 1)
    assert m.admin_area_id == session.scalar(select(Outfall.admin_area_id).where(Outfall.id == f.id))


# -- vector tiles ------------------------------------------------------------------------------------------
def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(data: bytes) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            n, i = _varint(data, i)
            value, i = data[i : i + n], i + n
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        else:
            raise ValueError(f"wire type {wire}")
        out.append((number, value))
    return out


def decode_mvt(tile: bytes) -> dict[str, list[dict[str, Any]]]:
    """A minimal Mapbox vector tile reader: layer name -> features' properties."""
    layers: dict[str, list[dict[str, Any]]] = {}
    for number, layer in _fields(tile):
        assert number == 3
        f = _fields(layer)
        name = next(v for n, v in f if n == 1).decode()
        keys = [v.decode() for n, v in f if n == 3]
        values: list[Any] = []
        for n, v in f:
            if n == 4:
                ((kind, raw),) = _fields(v)
                values.append(raw.decode() if kind == 1 else raw)
        features = []
        for n, feat in f:
            if n == 2:
                tags: list[int] = []
                for fn, fv in _fields(feat):
                    if fn == 2:
                        j = 0
                        while j < len(fv):
                            t, j = _varint(fv, j)
                            tags.append(t)
                features.append({keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags), 2)})
        layers[name] = features
    return layers


def test_tiles_points_clusters_and_as_of(session: Session, cat: dict[str, Outfall]) -> None:
    # z14 tile holding P1 (A and B), z6 tile holding the whole of central Shaanxi
    z14 = decode_mvt(outfall_tile(session, 14, 13149, 6522, scope=ALL))["outfalls"]
    assert sorted((f["name"], f["state"]) for f in z14) == sorted(
        [(cat["A"].name, "closed"), (cat["B"].name, "traced")]
    )
    then = decode_mvt(outfall_tile(session, 14, 13149, 6522, scope=ALL, as_of=date(2023, 6, 30)))["outfalls"]
    assert sorted(f["state"] for f in then) == ["surveyed", "traced"]
    assert decode_mvt(outfall_tile(session, 14, 13149, 6522, scope=ALL, as_of=date(2023, 1, 1))) == {}
    only = decode_mvt(outfall_tile(session, 14, 13149, 6522, scope=ALL, state="traced"))["outfalls"]
    assert [f["state"] for f in only] == ["traced"]
    z6 = decode_mvt(outfall_tile(session, 6, 51, 25, scope=ALL))["outfalls"]
    # C rejected and D merged are left out: A, B, E, F, G remain, in clusters with counts
    assert sum(f["n"] for f in z6) == 5 and all("state" in f for f in z6)
    z9 = decode_mvt(outfall_tile(session, 9, 410, 203, scope=ALL))["outfalls"]  # grid clusters: A and B
    assert sum(f["n"] for f in z9) == 2 and {f["state"] for f in z9} <= {"closed", "traced"}
    scoped = decode_mvt(outfall_tile(session, 6, 51, 25, scope=Scope(area_codes=("610700",))))["outfalls"]
    assert sum(f["n"] for f in scoped) == 2
    within = decode_mvt(outfall_tile(session, 6, 51, 25, scope=ALL, within=("basin", CJ)))["outfalls"]
    assert sum(f["n"] for f in within) == 2
    with pytest.raises(NotFound):
        outfall_tile(session, 3, 8, 0, scope=ALL)
    with pytest.raises(InvalidInput):
        outfall_tile(session, 3, 1, 1, scope=ALL, state="lost")


def test_point_tiles_keep_to_the_reader_the_area_and_the_basin(session: Session, cat: dict[str, Outfall]) -> None:
    """Point and grid tiles are one statement compiled per shape (scope, area, state, day bound at execution);
    a basin or a river is looked up on every call. Each narrows the tile to the outfalls it holds."""

    def names(z: int, x: int, y: int, **kw: Any) -> list[str]:
        return sorted(f.get("name", str(f.get("n"))) for f in decode_mvt(outfall_tile(session, z, x, y, **kw)).get(
            "outfalls", []))  # fmt: skip

    a, b = cat["A"], cat["B"]
    area = session.get(AdminArea, a.admin_area_id)
    basin = session.get(Basin, a.basin_id)
    assert area is not None and basin is not None
    city = area.code[:4] + "00"
    both = sorted([a.name, b.name])
    for z, x, y in ((14, 13149, 6522), (9, 410, 203)):
        everything = names(z, x, y, scope=ALL)
        assert names(z, x, y, scope=Scope(area_codes=(city,))) == everything  # the same compiled shape, reused
        assert names(z, x, y, scope=ALL, within=("city", city)) == everything
        assert names(z, x, y, scope=ALL, within=("county", area.code), as_of=date(2025, 1, 1)) == names(
            z, x, y, scope=ALL, as_of=date(2025, 1, 1))  # fmt: skip
        other = "610700" if not city.startswith("6107") else "610100"
        assert names(z, x, y, scope=Scope(area_codes=(other,))) == []
        assert names(z, x, y, scope=ALL, within=("city", other)) == []
        in_basin = names(z, x, y, scope=ALL, within=("basin", basin.code))  # looked up: the other path
        assert in_basin and set(in_basin) <= set(everything)
    assert names(14, 13149, 6522, scope=ALL) == both
    prepared = session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
    assert any("ST_AsMVT" in p for p in prepared)  # a small tile is read with a prepared statement
    assert names(14, 13149, 6522, scope=ALL, within=("basin", "NO-SUCH")) == []
    # an area named in the request is a value of the call: any text, no new compiled statement per code
    from outfalls.progress.tiles import _points_statement

    compiled = _points_statement.cache_info().currsize
    for hostile in ("6107%", "x" * 5000, "'; DROP TABLE outfalls; --", "6101"):
        assert names(14, 13149, 6522, scope=ALL, within=("city", hostile)) == ([] if hostile != "6101" else both)
    assert _points_statement.cache_info().currsize <= compiled + 1


def test_area_clusters_extent_holds_every_count_of_national_tiles(session: Session, cat: dict[str, Outfall]) -> None:
    """The box of the centres of the areas with outfalls: every point of a national tile lies in it, whatever the
    day or state asked for; a scope narrows it, and none is given where there are no outfalls.
    """
    box = area_clusters_extent(session, scope=ALL)
    assert box is not None
    centres = session.execute(text(
        "SELECT ST_X(c.centre), ST_Y(c.centre) FROM admin_area_centres c WHERE c.id IN "
        "(SELECT DISTINCT admin_area_id FROM outfall_milestones)")).all()  # fmt: skip
    assert centres and all(box[0] <= x <= box[2] and box[1] <= y <= box[3] for x, y in centres)
    assert box == (min(x for x, _ in centres), min(y for _, y in centres),
                   max(x for x, _ in centres), max(y for _, y in centres))  # fmt: skip
    scoped = area_clusters_extent(session, scope=Scope(area_codes=("610700",)))
    assert scoped is not None and box[0] <= scoped[0] <= scoped[2] <= box[2] and scoped != box
    assert area_clusters_extent(session, scope=ALL, within=("basin", CJ)) is not None
    assert area_clusters_extent(session, scope=Scope(area_codes=("110000",))) is None  # Beijing: none there


# -- the command line -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def committed_db(clone_db: Callable[[str], str]) -> Iterator[str]:
    """A database of its own holding the committed catalogue and targets (the CLI opens its own connections)."""
    url = clone_db("progress_cli")
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            build_catalogue(session)
            add_provincial_targets(session)
            session.commit()
    finally:
        engine.dispose()
    yield url


def cli(url: str, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"OUTFALLS_DATABASE_URL": url}, catch_exceptions=False)


def test_cli_progress_json_rows(committed_db: str) -> None:
    out = cli(committed_db, "progress", "--by", "area", "--as-of", "2023-12-31", "--json")

    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert all(
        list(r) == ["scope_kind", "scope_code", "scope_name", "level", "metric", "as_of", "count", "denominator",
                    "share", "target_share", "target_deadline", "gap_pp"] for r in rows
    )  # fmt: skip
    traced = {(r["scope_kind"], r["scope_code"]): r for r in rows if r["metric"] == "traced"}
    assert traced[("province", "610000")] == {
        "scope_kind": "province", "scope_code": "610000", "scope_name": "陕西省", "level": 1, "metric": "traced",
        "as_of": "2023-12-31", "count": 2, "denominator": 3, "share": 0.6667, "target_share": 0.5,
        "target_deadline": "2023-12-31", "gap_pp": -16.67,
    }  # fmt: skip
    assert traced[("all", None)]["gap_pp"] == 13.33
    assert len(rows) == 6 * len(METRICS)


def test_cli_progress_table_and_targets(committed_db: str) -> None:
    table_out = cli(committed_db, "progress", "--as-of", "2024-06-30")
    assert table_out.exit_code == 0
    assert "黄河流域" in table_out.stdout and "渭河" in table_out.stdout and "gap +40.0 pp" in table_out.stdout

    listed = cli(committed_db, "target", "list", "--as-of", "2023-06-30", "--json")
    assert {(t["scope_code"], t["share"]) for t in json.loads(listed.stdout) if t["scope_kind"] == "area"} == {
        ("610000", 0.9), ("610100", 0.6)}  # fmt: skip
    history = cli(committed_db, "target", "list", "--history")
    assert "withdrawn" in history.stdout and "省级方案" in history.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("progress", "--by", "river"), "unknown grouping 'river'; use basin or area"),
        (("progress", "--as-of", "yesterday"), "as-of must be a date like 2024-06-30, not 'yesterday'"),
        (("progress", "--metric", "joy"), "unknown metric 'joy'; use one of " + ", ".join(METRICS)),
        (("target", "add", "--scope", "area:610000", "--metric", "traced", "--deadline", "2024-06-30"),
         "give either --share PERCENT or --withdraw"),
        (("target", "add", "--scope", "area:999999", "--metric", "traced", "--deadline", "2024-06-30", "--share",
          "80"), "no area with code '999999'"),
        (("target", "add", "--scope", "area:610000", "--metric", "traced", "--deadline", "2024-06-30", "--share",
          "lots"), "--share must be a percentage like 80, not 'lots'"),
    ],
)  # fmt: skip
def test_cli_errors_are_one_line(committed_db: str, args: tuple[str, ...], message: str) -> None:
    out = cli(committed_db, *args)

    assert out.exit_code == 1
    assert out.output.strip().splitlines() == [f"Error: {message}"]


def test_cli_adds_a_target(committed_db: str, clone_db: Callable[[str], str]) -> None:
    url = clone_db("progress_cli_add")
    out = cli(url, "target", "add", "--scope", "basin:HH", "--metric", "remediated", "--deadline", "2024-06-30",
              "--share", "50", "--effective-on", "2024-01-01", "--note", "黄河流域方案", "--json")  # fmt: skip

    assert out.exit_code == 0, out.output
    added = json.loads(out.stdout)
    assert (added["scope_kind"], added["scope_code"], added["share"], added["effective_on"]) == (
        "basin",
        "HH",
        0.5,
        "2024-01-01",
    )
    listed = json.loads(cli(url, "target", "list", "--as-of", "2024-03-01", "--json").stdout)
    assert any(t["scope_code"] == "HH" and t["metric"] == "remediated" for t in listed)


def test_states_and_gap_classes_never_share_a_colour() -> None:
    """A state is never read as a gap class: the saturated colours of the two are at least 30° of hue apart,
    and no state takes the grey of 'no target'."""
    import colorsys

    from outfalls.progress import GAP_COLORS, STATUS_COLORS

    def hls(colour: str) -> tuple[float, float, float]:
        r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        h, light, sat = colorsys.rgb_to_hls(r, g, b)
        return h * 360, light, sat

    drawn = {k: v for k, v in STATUS_COLORS.items() if k not in ("rejected", "merged")}  # never on the maps
    assert not set(STATUS_COLORS.values()) & set(GAP_COLORS.values())
    for state, colour in drawn.items():
        h, _l, s = hls(colour)
        assert s > 0.3, f"{state} is greyish, like 'no target'"
        for gap, other in GAP_COLORS.items():
            gh, _gl, gs = hls(other)
            if gs > 0.3:
                assert min(abs(h - gh), 360 - abs(h - gh)) >= 30, f"{state} {colour} looks like {gap} {other}"
