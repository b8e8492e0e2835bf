"""The review queue under dense uploads: rows of one upload that could be one outfall (near-identical positions,
compatible types) are queued as a cluster and nothing else is; a reviewer decides a cluster at once, every
decision an event, and a decision on rows someone changed meanwhile is refused whole."""

from __future__ import annotations

import csv
import io
import math

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls.config import Settings, load_settings
from outfalls.errors import ConfigError, Conflict, InvalidInput, NotFound, StaleEdit
from outfalls.models import Event, Observation, ObservationLink, Outfall, ReviewItem
from outfalls.scope import Scope
from outfalls.survey.intake import import_table
from outfalls.survey.readers import read_upload
from outfalls.survey.review import (
    ClusterDecision,
    decide_cluster,
    decide_many,
    open_reviews,
    resolve_new,
    review_groups,
)
from outfalls.types import EventKind, ReviewReason, ReviewStatus

pytestmark = pytest.mark.usefixtures("clock_edge")

HEADER = ["记录编号", "排污口名称", "经度", "纬度", "排口类型", "排入水体", "调查时间", "照片"]
START = (108.90, 34.40)  # on the Wei in Xi'an
M_LON = 1 / (111_320 * math.cos(math.radians(START[1])))  # degrees of longitude per metre here
M_LAT = 1 / 110_950


def _csv(rows: list[list[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *rows])
    return buffer.getvalue().encode()


def _import(session: Session, settings: Settings, rows: list[list[object]]):
    return import_table(session, read_upload(_csv(rows), "inventory.csv"), settings=settings, actor="crew1",
                        crs="wgs84")  # fmt: skip


def _at(metres_east: float, metres_north: float = 0.0) -> tuple[float, float]:
    return START[0] + metres_east * M_LON, START[1] + metres_north * M_LAT


def _row(key: str, east: float, north: float = 0.0, kind: str = "4.8") -> list[object]:
    lon, lat = _at(east, north)
    return [key, f"口{key}", round(lon, 8), round(lat, 8), kind, "渭河", "2023-05-06 09:00", ""]


def _items(session: Session, batch_id: int) -> dict[str, ReviewItem]:
    items = session.scalars(select(ReviewItem).where(ReviewItem.batch_id == batch_id))
    return {i.observation.client_id: i for i in items}


def test_a_dense_inventory_queues_only_its_near_duplicates(session: Session, settings: Settings) -> None:
    """3,000 structures 8 m apart along the bank (a municipal inventory): each is an outfall of its own; only the
    three rows entered twice (1 m apart, same or unknown type) are left to a person, each pair as one cluster.
    Rows 1 m apart of types that cannot be one outfall (industrial beside storm water) are two outfalls.
    """
    rows = [_row(f"s{i}", 8.0 * i, kind="1.1.1" if i % 3 == 0 else "4.8") for i in range(3000)]
    twins = {100: "4.8", 1201: "4.8", 2500: ""}  # entered twice; an unknown type may be anything
    rows += [_row(f"s{i}b", 8.0 * i + 0.6, 0.8, kind=kind) for i, kind in twins.items()]
    rows += [_row("s301x", 8.0 * 301 + 0.5, 0.5, kind="1.1.1")]  # an industrial outlet beside storm-water s301
    report = _import(session, settings, rows)

    assert report.accepted == 3004 and report.rejected == []
    assert report.queued_for_review == 6 and report.new_outfalls == 2998 and report.linked == 0
    items = _items(session, report.batch_id)
    assert set(items) == {f"s{i}" for i in twins} | {f"s{i}b" for i in twins}
    assert all(i.reason is ReviewReason.NEAR_IN_BATCH for i in items.values())
    for i in twins:  # each pair is its own cluster, named by its first row's observation
        a, b = items[f"s{i}"], items[f"s{i}b"]
        assert a.cluster_id == b.cluster_id == min(a.observation_id, b.observation_id)
        assert "row 3002" in a.detail or "row 3003" in a.detail or "row 3004" in a.detail
        assert "within 5 m" in a.detail
    assert len({i.cluster_id for i in items.values()}) == 3
    assert session.scalar(select(func.count()).select_from(ObservationLink)
                          .join(Observation).where(Observation.batch_id == report.batch_id)) == 2998  # fmt: skip

    groups = review_groups(open_reviews(session, scope=Scope.national(), batch_id=report.batch_id))
    assert [len(g.entries) for g in groups] == [2, 2, 2] and all(g.cluster_id for g in groups)


def test_same_batch_distance_is_a_setting(session: Session, settings: Settings) -> None:
    import dataclasses

    rows = [_row("w1", 0.0), _row("w2", 8.0), _row("w3", 100.0)]
    wide = dataclasses.replace(settings, reconcile=dataclasses.replace(settings.reconcile, same_batch_m=10.0))
    report = import_table(session, read_upload(_csv(rows), "a.csv"), settings=wide, actor="crew1", crs="wgs84")
    assert (report.queued_for_review, report.new_outfalls) == (2, 1)
    assert settings.reconcile.same_batch_m == 5.0  # the default
    for wrong in (-1.0, math.inf):
        with pytest.raises(ConfigError, match="reconcile.same_batch_m"):
            load_settings(env={}, overrides={"reconcile.same_batch_m": wrong})


def test_rows_that_would_share_one_outfall_are_queued_together(session: Session, settings: Settings,
                                                               make_outfall) -> None:  # fmt: skip
    """12 m apart, both within 20 m of one outfall: linking both would merge two rows of one upload silently."""
    existing = make_outfall(lonlat=_at(6.0, 3.0), type_code="4.8")
    report = _import(session, settings, [_row("p1", 0.0), _row("p2", 12.0), _row("p3", 500.0)])
    assert (report.linked, report.new_outfalls, report.queued_for_review) == (0, 1, 2)
    items = _items(session, report.batch_id)
    assert items["p1"].cluster_id == items["p2"].cluster_id is not None
    assert items["p1"].candidate_ids == [existing.id] and "same outfall" in items["p1"].detail
    [group] = review_groups(open_reviews(session, scope=Scope.national(), batch_id=report.batch_id))
    assert [c[0] for c in group.candidates] == [existing.id]

    version = existing.version
    decided = decide_cluster(session, ClusterDecision("link", group.versions, cluster_id=group.cluster_id,
                                                      outfall_id=existing.id), actor="analyst",
                             scope=Scope.national(), review_radius_m=200.0)  # fmt: skip
    assert {i.outfall_id for i in decided} == {existing.id} and all(i.resolution == "linked" for i in decided)
    events = session.scalars(select(Event).where(Event.outfall_id == existing.id,
                                                 Event.kind == EventKind.OBSERVATION_LINKED)).all()  # fmt: skip
    assert len(events) == 2 and {e.payload["review_cluster_id"] for e in events} == {group.cluster_id}
    session.refresh(existing)
    assert existing.version > version


def _cluster(session: Session, settings: Settings, n: int = 3) -> list[ReviewItem]:
    rows = [_row(f"c{i}", 0.5 * i, 0.3 * i) for i in range(n)] + [_row("far", 900.0)]
    report = _import(session, settings, rows)
    items = sorted(_items(session, report.batch_id).values(), key=lambda i: i.id)
    assert len(items) == n and len({i.cluster_id for i in items}) == 1
    return items


def test_a_cluster_decided_as_separate_outfalls(session: Session, settings: Settings) -> None:
    items = _cluster(session, settings)
    outfalls_before = session.scalar(select(func.count()).select_from(Outfall))
    decide_cluster(session, ClusterDecision("separate", {i.id: i.version for i in items},
                                            cluster_id=items[0].cluster_id),
                   actor="analyst", scope=Scope.national(), review_radius_m=200.0)  # fmt: skip
    assert session.scalar(select(func.count()).select_from(Outfall)) == outfalls_before + 3
    assert all(i.status is ReviewStatus.RESOLVED and i.resolution == "new_outfall" for i in items)
    assert len({i.outfall_id for i in items}) == 3
    for i in items:  # each outfall's history starts with its row
        kinds = session.scalars(select(Event.kind).where(Event.outfall_id == i.outfall_id).order_by(Event.id)).all()
        assert kinds == [EventKind.CREATED, EventKind.OBSERVATION_LINKED]
    with pytest.raises(Conflict):  # decided already
        decide_cluster(session, ClusterDecision("separate", {i.id: i.version for i in items},
                                                cluster_id=items[0].cluster_id),
                       actor="analyst", scope=Scope.national(), review_radius_m=200.0)  # fmt: skip


def test_a_cluster_decided_as_one_outfall(session: Session, settings: Settings) -> None:
    items = _cluster(session, settings)
    decide_cluster(session, ClusterDecision("one", {i.id: i.version for i in items}, cluster_id=items[0].cluster_id,
                                            item_id=items[1].id),
                   actor="analyst", scope=Scope.national(), review_radius_m=200.0)  # fmt: skip
    [outfall_id] = {i.outfall_id for i in items}
    assert [i.resolution for i in items] == ["linked", "new_outfall", "linked"]
    outfall = session.get(Outfall, outfall_id)
    assert outfall.name == "口c1"  # made from the row chosen
    links = session.scalars(select(ObservationLink.observation_id).where(ObservationLink.outfall_id == outfall_id))
    assert sorted(links) == sorted(i.observation_id for i in items)
    kinds = session.scalars(select(Event.kind).where(Event.outfall_id == outfall_id).order_by(Event.id)).all()
    assert kinds == [EventKind.CREATED, EventKind.OBSERVATION_LINKED, EventKind.OBSERVATION_LINKED,
                     EventKind.OBSERVATION_LINKED]  # fmt: skip


def test_a_stale_or_partial_cluster_decision_is_refused_whole(session: Session, settings: Settings) -> None:
    items = _cluster(session, settings)
    seen = {i.id: i.version for i in items}
    cluster = items[0].cluster_id
    resolve_new(session, items[2].id, actor="other", scope=Scope.national())  # someone decided one row alone
    outfalls_before = session.scalar(select(func.count()).select_from(Outfall))
    with pytest.raises(StaleEdit):
        decide_cluster(session, ClusterDecision("separate", seen, cluster_id=cluster), actor="analyst",
                       scope=Scope.national(), review_radius_m=200.0)  # fmt: skip
    stale = {items[0].id: items[0].version + 1, items[1].id: items[1].version}
    with pytest.raises(StaleEdit):
        decide_cluster(session, ClusterDecision("separate", stale, cluster_id=cluster), actor="analyst",
                       scope=Scope.national(), review_radius_m=200.0)  # fmt: skip
    assert session.scalar(select(func.count()).select_from(Outfall)) == outfalls_before
    assert [i.status for i in items[:2]] == [ReviewStatus.OPEN, ReviewStatus.OPEN]

    report = decide_many(session, [
        ClusterDecision("separate", seen, cluster_id=cluster),  # stale: refused
        ClusterDecision("link", {items[0].id: items[0].version, items[1].id: items[1].version}, cluster_id=cluster,
                        outfall_id=items[2].outfall_id),
        ClusterDecision("separate", {1: 1}, cluster_id=10**9),
    ], actor="analyst", scope=Scope.national(), review_radius_m=200.0)  # fmt: skip
    assert [(r.ok, r.code) for r in report.results] == [(False, "stale_edit"), (True, None), (False, "not_found")]
    assert report.decided == 2 and report.refused == 2
    assert {i.outfall_id for i in items} == {items[2].outfall_id}


def test_a_cluster_of_another_area_is_not_found_and_far_links_need_a_reason(session: Session, settings: Settings,
                                                                           make_outfall) -> None:  # fmt: skip
    items = _cluster(session, settings, n=2)
    seen = {i.id: i.version for i in items}
    ankang = Scope(area_codes=("610900",))
    with pytest.raises(NotFound):
        decide_cluster(session, ClusterDecision("separate", seen, cluster_id=items[0].cluster_id), actor="a",
                       scope=ankang, review_radius_m=200.0)  # fmt: skip
    assert open_reviews(session, scope=ankang) == []
    far = make_outfall(lonlat=_at(3000.0))  # 3 km away
    with pytest.raises(InvalidInput) as refused:
        decide_cluster(session, ClusterDecision("link", seen, cluster_id=items[0].cluster_id, outfall_id=far.id),
                       actor="a", scope=Scope.national(), review_radius_m=200.0)  # fmt: skip
    assert refused.value.params["field"] == "override_distance"
    assert all(i.status is ReviewStatus.OPEN for i in items)
    decide_cluster(session, ClusterDecision("link", seen, cluster_id=items[0].cluster_id, outfall_id=far.id,
                                            override_reason="the inventory's positions are the permit's address"),
                   actor="a", scope=Scope.national(), review_radius_m=200.0)  # fmt: skip
    events = session.scalars(select(Event).where(Event.outfall_id == far.id,
                                                 Event.kind == EventKind.OBSERVATION_LINKED)).all()  # fmt: skip
    assert len(events) == 2 and all(e.payload["override_distance"] for e in events)
