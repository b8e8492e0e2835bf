"""The outfall lifecycle on PostGIS: creation with derived location, events with their state change in the
same flush, optimistic locking, refused transitions, and the database's append-only guard."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from outfalls import clock
from outfalls.catalogue.lifecycle import (
    HistoryItem,
    NewOutfall,
    create_outfalls,
    record_event,
    status_as_of,
)
from outfalls.catalogue.locations import assign_locations
from outfalls.errors import Conflict, InvalidInput, InvalidTransition, NotFound, StaleEdit
from outfalls.models import AdminArea, Basin, Event, Outfall, River
from outfalls.scope import Scope
from outfalls.types import EventKind, OutfallStatus, RemediationCategory, SurveyLevel
from tests.statements import statements_sent

# every test here runs either side of the programme's midnight (23:30 and 00:30 UTC)
pytestmark = pytest.mark.usefixtures("clock_edge")

XIAN_WEI = (108.94, 34.40)  # on the Wei river north of Xi'an
HANZHONG_HAN = (107.03, 33.07)  # on the Han river at Hanzhong


def _events(session: Session, outfall_id: int) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.outfall_id == outfall_id).order_by(Event.id)))


def _new(**kw: Any) -> NewOutfall:
    values: dict[str, Any] = {
        "lonlat": XIAN_WEI,
        "name": "测试排污口",
        "type_code": "4.8",
        "found_by": SurveyLevel.FOOT,
        "found_on": date(2022, 5, 1),
    } | kw
    return NewOutfall(**values)


def _count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# -- creation ------------------------------------------------------------------------------------------
def test_create_writes_created_event_per_outfall(session: Session) -> None:
    events_before = _count(session, Event)
    items = [
        _new(name="甲", found_by=SurveyLevel.DRONE),
        _new(name="乙", found_by=SurveyLevel.FOOT),
        _new(name="丙", found_by=SurveyLevel.EXPERT),
    ]

    ids = create_outfalls(session, items, actor="crew-7")

    assert len(ids) == 3 and len(set(ids)) == 3
    names = dict(session.execute(select(Outfall.id, Outfall.name).where(Outfall.id.in_(ids))).all())
    assert [names[i] for i in ids] == ["甲", "乙", "丙"]  # ids come back in the order of the items
    assert _count(session, Event) == events_before + 3
    for oid, item in zip(ids, items, strict=True):
        (event,) = _events(session, oid)
        assert event.kind is EventKind.CREATED
        assert event.actor == "crew-7"
        assert event.payload["found_by"] == item.found_by.value
        assert clock.day_of(event.effective_at) == item.found_on
    statuses = dict(session.execute(select(Outfall.id, Outfall.status).where(Outfall.id.in_(ids))).all())
    # seen from a drone it is a candidate until a crew confirms it; found on foot it is surveyed
    assert [statuses[i] for i in ids] == [OutfallStatus.CANDIDATE, OutfallStatus.SURVEYED, OutfallStatus.SURVEYED]


def test_create_with_history_sets_status_and_writes_events(session: Session) -> None:
    history = (
        HistoryItem(EventKind.SURVEYED, date(2022, 6, 1), {"by": "foot"}),
        HistoryItem(EventKind.SAMPLED, date(2022, 6, 10), {"is_discharging": False}),
        HistoryItem(EventKind.TRACED, date(2022, 8, 1), {"responsible_party": "示例企业001号"}),
        HistoryItem(EventKind.REMEDIATION_PLANNED, date(2022, 9, 1), {"category": "standardise"}),
    )
    (oid,) = create_outfalls(
        session, [_new(found_by=SurveyLevel.DRONE, found_on=date(2022, 5, 1), history=history)], actor="import"
    )

    outfall = session.get(Outfall, oid)
    assert outfall is not None
    assert outfall.status is OutfallStatus.REMEDIATING
    assert outfall.status_since == date(2022, 9, 1)
    assert outfall.responsible_party == "示例企业001号"
    assert outfall.remediation_category is RemediationCategory.STANDARDISE
    assert outfall.is_discharging is False
    assert outfall.last_sampled_on == date(2022, 6, 10)
    assert outfall.version == 1
    events = _events(session, oid)
    assert [e.kind for e in events] == [
        EventKind.CREATED,
        EventKind.SURVEYED,
        EventKind.SAMPLED,
        EventKind.TRACED,
        EventKind.REMEDIATION_PLANNED,
    ]
    assert [clock.day_of(e.effective_at) for e in events] == [
        date(2022, 5, 1), date(2022, 6, 1), date(2022, 6, 10), date(2022, 8, 1), date(2022, 9, 1)
    ]  # fmt: skip
    assert events[3].payload == {"responsible_party": "示例企业001号"}
    assert events[0].payload["status"] == "candidate"  # the state it was created in, before its history


def test_history_out_of_order_is_applied_by_date(session: Session) -> None:
    history = (
        HistoryItem(EventKind.REMEDIATED, date(2023, 3, 1)),
        HistoryItem(EventKind.TRACED, date(2023, 1, 1)),
    )
    (oid,) = create_outfalls(session, [_new(history=history)], actor="import")
    outfall = session.get(Outfall, oid)
    assert outfall is not None
    assert (outfall.status, outfall.status_since) == (OutfallStatus.REMEDIATED, date(2023, 3, 1))


def test_create_derives_location_from_reference_data(session: Session) -> None:
    (oid,) = create_outfalls(session, [_new(lonlat=XIAN_WEI)], actor="t")
    row = session.execute(
        select(Basin.code, River.name, AdminArea.code, AdminArea.level)
        .select_from(Outfall)
        .join(Basin, Basin.id == Outfall.basin_id)
        .join(River, River.id == Outfall.river_id)
        .join(AdminArea, AdminArea.id == Outfall.admin_area_id)
        .where(Outfall.id == oid)
    ).one()
    outfall = session.get(Outfall, oid)
    assert outfall is not None and outfall.sub_basin is not None and outfall.admin_area is not None
    assert row[0] == "HH"
    assert outfall.sub_basin.code == "HH-08"
    assert row[1] == "渭河"
    assert row[3] == "county"
    assert outfall.admin_area.parent is not None and outfall.admin_area.parent.code == "610100"
    assert row[2].startswith("6101")


def test_create_derives_han_river_location(session: Session) -> None:
    (oid,) = create_outfalls(session, [_new(lonlat=HANZHONG_HAN)], actor="t")
    outfall = session.get(Outfall, oid)
    assert outfall is not None
    assert outfall.basin is not None and outfall.basin.code == "CJ"
    assert outfall.sub_basin is not None and outfall.sub_basin.code == "CJ-10"
    assert outfall.river is not None and outfall.river.name == "汉江(汉水)"
    assert outfall.admin_area is not None and outfall.admin_area.code.startswith("6107")  # 汉中市


def test_far_from_rivers_and_outside_shaanxi_derives_nothing(session: Session) -> None:
    (oid,) = create_outfalls(session, [_new(lonlat=(121.47, 31.23))], actor="t")  # Shanghai
    outfall = session.get(Outfall, oid)
    assert outfall is not None
    assert outfall.basin is not None and outfall.basin.code == "CJ"
    assert outfall.admin_area_id is None
    assert outfall.river_id is None


def test_location_overridden_keeps_hand_set_values(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    cj = session.scalars(select(Basin).where(Basin.code == "CJ-10")).one()
    han = session.scalars(select(River).where(River.name == "汉江(汉水)")).one()
    area = session.scalars(select(AdminArea).where(AdminArea.code == "610702")).one()
    outfall = make_outfall(lonlat=XIAN_WEI)
    session.execute(
        sa.update(Outfall)
        .where(Outfall.id == outfall.id)
        .values(
            location_overridden=True,
            basin_id=cj.parent_id,
            sub_basin_id=cj.id,
            river_id=han.id,
            admin_area_id=area.id,
        )
    )
    derived = make_outfall(lonlat=XIAN_WEI)

    assign_locations(session, [outfall.id, derived.id])
    session.expire_all()

    kept = session.get(Outfall, outfall.id)
    assert kept is not None
    assert (kept.sub_basin_id, kept.river_id, kept.admin_area_id) == (cj.id, han.id, area.id)
    again = session.get(Outfall, derived.id)
    assert again is not None and again.sub_basin is not None and again.sub_basin.code == "HH-08"


def test_out_of_range_coordinate_is_invalid_input(session: Session) -> None:
    before = _count(session, Outfall)
    for lonlat in [(181.0, 34.0), (108.9, -91.0), (float("nan"), 34.0)]:
        with pytest.raises(InvalidInput) as info:
            create_outfalls(session, [_new(lonlat=lonlat)], actor="t")
        assert info.value.params["field"] == "lonlat"
    assert _count(session, Outfall) == before


def test_empty_name_is_invalid_input(session: Session) -> None:
    with pytest.raises(InvalidInput) as info:
        create_outfalls(session, [_new(name="   ")], actor="t")
    assert info.value.params["field"] == "name"


def test_a_problem_in_a_later_block_undoes_the_blocks_written_and_the_transaction_goes_on(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outfalls.catalogue import lifecycle

    monkeypatch.setattr(lifecycle, "_BLOCK", 2)  # blocks of two: the first two are written while the rest are checked
    before = (_count(session, Outfall), _count(session, Event))
    items = [_new(name=f"块{i}") for i in range(4)] + [_new(name="   ")]
    with pytest.raises(InvalidInput) as info:
        create_outfalls(session, items, actor="t")
    assert info.value.params["field"] == "name"
    assert (_count(session, Outfall), _count(session, Event)) == before
    history = (HistoryItem(EventKind.TRACED, date(2022, 5, 1)),)  # before the discovery: refused in the last block
    with pytest.raises(InvalidTransition):
        create_outfalls(session, [*items[:4], _new(found_on=date(2023, 1, 1), history=history)], actor="t")
    assert (_count(session, Outfall), _count(session, Event)) == before
    ids = create_outfalls(session, items[:4], actor="t")  # the same session goes on
    assert len(ids) == len(set(ids)) == 4 and _count(session, Outfall) == before[0] + 4


def test_unknown_type_is_invalid_input(session: Session) -> None:
    before = _count(session, Outfall)
    with pytest.raises(InvalidInput) as info:
        create_outfalls(session, [_new(type_code="4.8"), _new(type_code="7.7")], actor="t")
    assert "7.7" in str(info.value) and info.value.params["field"] == "type_code"
    with pytest.raises(InvalidInput):
        create_outfalls(session, [_new(type_scheme="SX2020", type_code="4.8")], actor="t")
    assert _count(session, Outfall) == before
    (oid,) = create_outfalls(session, [_new(type_scheme="SX2020", type_code="4")], actor="t")  # other list
    assert oid


def test_duplicate_national_code_is_conflict(session: Session) -> None:
    create_outfalls(session, [_new(national_code="610102-0001")], actor="t")
    with pytest.raises(Conflict) as info:
        create_outfalls(session, [_new(national_code="610102-0001")], actor="t")
    assert "610102-0001" in str(info.value)
    with pytest.raises(Conflict):
        create_outfalls(session, [_new(national_code="X1"), _new(national_code="X1")], actor="t")
    ids = create_outfalls(session, [_new(national_code="X2"), _new(national_code="X3")], actor="t")
    assert len(ids) == 2


def test_history_before_discovery_is_invalid_transition(session: Session) -> None:
    before = _count(session, Outfall)
    history = (HistoryItem(EventKind.TRACED, date(2022, 4, 30)),)
    with pytest.raises(InvalidTransition) as info:
        create_outfalls(session, [_new(found_on=date(2022, 5, 1), history=history)], actor="t")
    assert "2022-04-30" in str(info.value)
    assert _count(session, Outfall) == before


def test_history_against_the_lifecycle_is_invalid_transition(session: Session) -> None:
    history = (HistoryItem(EventKind.CLOSED, date(2022, 6, 1)),)
    with pytest.raises(InvalidTransition):
        create_outfalls(session, [_new(history=history)], actor="t")


def test_create_in_batches_reports_progress(session: Session) -> None:
    seen: list[int] = []
    ids = create_outfalls(
        session, [_new(name=f"批量{i}") for i in range(5)], actor="t", progress=seen.append, batch_size=2
    )
    assert seen == [2, 2, 1]
    assert len(ids) == 5
    assert [session.get(Outfall, i).name for i in ids] == [f"批量{i}" for i in range(5)]  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(Event).where(Event.outfall_id.in_(ids))) == 5


# -- recording events ----------------------------------------------------------------------------------
def test_full_lifecycle(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    outfall = make_outfall(found_by=SurveyLevel.DRONE, found_on=date(2022, 5, 1))
    assert outfall.status is OutfallStatus.CANDIDATE
    steps = [
        (EventKind.SURVEYED, date(2022, 6, 1), {}, OutfallStatus.SURVEYED),
        (EventKind.TRACED, date(2022, 7, 1), {"responsible_party": "某化工厂"}, OutfallStatus.TRACED),
        (EventKind.REMEDIATION_PLANNED, date(2022, 8, 1), {"category": "ban"}, OutfallStatus.REMEDIATING),
        (EventKind.REMEDIATED, date(2023, 2, 1), {}, OutfallStatus.REMEDIATED),
        (EventKind.CLOSED, date(2023, 5, 1), {}, OutfallStatus.CLOSED),
    ]
    for n, (kind, on, payload, status) in enumerate(steps, start=1):
        version = outfall.version
        event = record_event(
            session,
            outfall.id,
            kind,
            actor="officer",
            expected_version=version,
            on=on,
            payload=payload,
            scope=Scope.national(),
        )
        # the event row is in the database already (same flush), with the state change beside it
        row = session.execute(
            text("SELECT e.kind, o.status, o.version FROM events e JOIN outfalls o ON o.id = e.outfall_id "
                 "WHERE e.id = :id"),
            {"id": event.id},
        ).one()  # fmt: skip
        assert row == (kind.value, status.value, version + 1)
        assert outfall.status is status and outfall.status_since == on
        assert outfall.version == n + 1
        assert event.payload == payload and event.actor == "officer"
        assert clock.day_of(event.effective_at) == on
    assert outfall.responsible_party == "某化工厂"
    assert outfall.remediation_category is RemediationCategory.BAN
    assert [e.kind for e in _events(session, outfall.id)] == [EventKind.CREATED] + [s[0] for s in steps]


def test_sampling_keeps_status_and_records_result(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    outfall = make_outfall(found_on=date(2022, 5, 1))
    since = outfall.status_since
    record_event(
        session, outfall.id, EventKind.SAMPLED, actor="lab", expected_version=1,
        on=date(2022, 7, 3), payload={"is_discharging": True}, scope=Scope.national()
    )  # fmt: skip
    assert outfall.status is OutfallStatus.SURVEYED and outfall.status_since == since
    assert (outfall.last_sampled_on, outfall.is_discharging) == (date(2022, 7, 3), True)
    assert outfall.version == 2


def test_event_without_date_is_today(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    outfall = make_outfall()
    event = record_event(session, outfall.id, EventKind.TRACED, actor="a", expected_version=1, scope=Scope.national())
    assert clock.day_of(event.effective_at) == clock.today()
    assert outfall.status_since == clock.today()


def test_stale_version_is_refused(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    outfall = make_outfall()
    record_event(
        session,
        outfall.id,
        EventKind.TRACED,
        actor="a",
        expected_version=1,
        on=date(2022, 6, 1),
        scope=Scope.national(),
    )
    events_before = _count(session, Event)

    with pytest.raises(StaleEdit) as info:
        record_event(
            session,
            outfall.id,
            EventKind.REMEDIATED,
            actor="b",
            expected_version=1,
            on=date(2022, 7, 1),
            scope=Scope.national(),
        )

    assert "changed by someone else" in str(info.value) and "reload" in str(info.value)
    assert info.value.params["id"] == outfall.id and info.value.params["current"] == 2
    # What changed meanwhile: the tracing by "a", the event that made version 2.
    changes = info.value.params["changes"]
    assert isinstance(changes, list) and [(c["kind"], c["actor"], c["version"]) for c in changes] == [
        ("traced", "a", 2)
    ]
    assert changes[0]["effective_on"] == "2022-06-01"
    assert info.value.code == "stale_edit"
    assert outfall.status is OutfallStatus.TRACED and outfall.version == 2
    assert _count(session, Event) == events_before


def test_change_by_another_transaction_is_stale_edit(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    """This session still holds version 1 when someone else's change (version 2) is already in the row."""
    outfall = make_outfall()
    assert outfall.version == 1
    session.execute(text("UPDATE outfalls SET version = version + 1 WHERE id = :id"), {"id": outfall.id})

    with pytest.raises(StaleEdit) as info:
        record_event(session, outfall.id, EventKind.TRACED, actor="a", expected_version=1, scope=Scope.national())
    assert info.value.params["current"] == 2


def test_orm_flush_of_a_stale_row_is_refused(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    """The version column guards every ORM update, not only record_event."""
    outfall = make_outfall()
    session.execute(text("UPDATE outfalls SET version = 5 WHERE id = :id"), {"id": outfall.id})
    outfall.name = "改名"
    with pytest.raises(StaleDataError):
        session.flush()


def test_invalid_transition_changes_nothing(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    outfall = make_outfall()
    assert outfall.status is OutfallStatus.SURVEYED
    events_before = _count(session, Event)

    with pytest.raises(InvalidTransition) as info:
        record_event(
            session,
            outfall.id,
            EventKind.CLOSED,
            actor="a",
            expected_version=1,
            on=date(2022, 6, 1),
            scope=Scope.national(),
        )

    assert "surveyed" in str(info.value) and "closed" in str(info.value)
    assert info.value.params == {"status": "surveyed", "event": "closed"}
    session.expire_all()
    fresh = session.get(Outfall, outfall.id)
    assert fresh is not None
    assert (fresh.status, fresh.version) == (OutfallStatus.SURVEYED, 1)
    assert _count(session, Event) == events_before


@pytest.mark.parametrize(
    ("found_by", "kind"),
    [
        (SurveyLevel.DRONE, EventKind.TRACED),  # a candidate must be confirmed first
        (SurveyLevel.FOOT, EventKind.SURVEYED),  # already surveyed
        (SurveyLevel.FOOT, EventKind.REJECTED),  # only candidates are rejected
        (SurveyLevel.DRONE, EventKind.REMEDIATED),
    ],
)
def test_refused_transitions(
    session: Session, make_outfall: Callable[..., Outfall], found_by: SurveyLevel, kind: EventKind
) -> None:
    outfall = make_outfall(found_by=found_by)
    with pytest.raises(InvalidTransition):
        record_event(
            session, outfall.id, kind, actor="a", expected_version=1, on=date(2022, 6, 1), scope=Scope.national()
        )


def test_rejected_candidate_accepts_nothing_more(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    outfall = make_outfall(found_by=SurveyLevel.DRONE)
    record_event(
        session,
        outfall.id,
        EventKind.REJECTED,
        actor="a",
        expected_version=1,
        on=date(2022, 6, 1),
        scope=Scope.national(),
    )
    assert outfall.status is OutfallStatus.REJECTED
    for kind in (EventKind.SURVEYED, EventKind.SAMPLED, EventKind.MERGED):
        with pytest.raises(InvalidTransition):
            record_event(
                session, outfall.id, kind, actor="a", expected_version=2, on=date(2022, 7, 1), scope=Scope.national()
            )


def test_event_before_discovery_is_refused(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    outfall = make_outfall(found_on=date(2022, 5, 1))
    with pytest.raises(InvalidTransition) as info:
        record_event(
            session,
            outfall.id,
            EventKind.TRACED,
            actor="a",
            expected_version=1,
            on=date(2022, 4, 1),
            scope=Scope.national(),
        )
    assert "2022-05-01" in str(info.value)
    assert outfall.status is OutfallStatus.SURVEYED


def test_second_created_event_is_refused(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    outfall = make_outfall()
    with pytest.raises(InvalidTransition):
        record_event(session, outfall.id, EventKind.CREATED, actor="a", expected_version=1, scope=Scope.national())
    assert len(_events(session, outfall.id)) == 1


def test_missing_outfall_is_not_found(session: Session) -> None:
    missing = (session.scalar(select(func.max(Outfall.id))) or 0) + 1000
    with pytest.raises(NotFound) as info:
        record_event(session, missing, EventKind.TRACED, actor="a", expected_version=1, scope=Scope.national())
    assert info.value.params == {"entity": "outfall", "id": missing}


# -- the database's own guard --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET actor = 'mallory' WHERE outfall_id = :id",
        "DELETE FROM events WHERE outfall_id = :id",
    ],
)
def test_events_are_append_only(session: Session, make_outfall: Callable[..., Outfall], sql: str) -> None:
    outfall = make_outfall()
    with pytest.raises(sa.exc.IntegrityError) as info:
        with session.begin_nested():
            session.execute(text(sql), {"id": outfall.id})
    assert "append-only" in str(info.value)
    assert "events rows" in str(info.value)
    (event,) = _events(session, outfall.id)
    assert event.actor == "tester"


def _observation_id(session: Session) -> int:
    return session.execute(
        text(
            "INSERT INTO observations (source_kind, client_id, author, orig_x, orig_y, orig_crs, geom) "
            "VALUES ('foot_survey', 'c-1', 'crew', 108.94, 34.40, 'EPSG:4490', "
            "ST_SetSRID(ST_MakePoint(108.94, 34.40), 4490)) RETURNING id"
        )
    ).scalar_one()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE observations SET author = 'mallory' WHERE id = :id",
        "UPDATE observations SET geom = ST_SetSRID(ST_MakePoint(0, 0), 4490) WHERE id = :id",
        "DELETE FROM observations WHERE id = :id",
    ],
)
def test_observations_are_append_only(session: Session, sql: str) -> None:
    oid = _observation_id(session)
    with pytest.raises(sa.exc.DBAPIError) as info:
        with session.begin_nested():
            session.execute(text(sql), {"id": oid})
    assert "observations rows are append-only" in str(info.value)
    assert session.execute(text("SELECT author FROM observations WHERE id = :id"), {"id": oid}).scalar_one() == "crew"


def test_inserting_more_events_is_allowed(session: Session, make_outfall: Callable[..., Outfall]) -> None:
    outfall = make_outfall()
    record_event(
        session,
        outfall.id,
        EventKind.SAMPLED,
        actor="a",
        expected_version=1,
        on=date(2022, 6, 1),
        scope=Scope.national(),
    )
    assert [e.kind for e in _events(session, outfall.id)] == [EventKind.CREATED, EventKind.SAMPLED]


def test_a_change_of_state_cannot_be_dated_before_the_last_one(session: Session, make_outfall) -> None:
    outfall = make_outfall(found_by=SurveyLevel.DRONE, found_on=date(2020, 8, 1))
    record_event(session, outfall.id, EventKind.SURVEYED, actor="crew", expected_version=1, on=date(2020, 8, 11),
                 scope=Scope.national())  # fmt: skip
    with pytest.raises(InvalidTransition, match="precedes the outfall's last change of state"):
        record_event(session, outfall.id, EventKind.TRACED, actor="a", expected_version=2, on=date(2020, 8, 6),
                     scope=Scope.national())  # fmt: skip
    # a note that needs no change of state may come late (a lab result reported after the fact) ...
    record_event(session, outfall.id, EventKind.SAMPLED, actor="lab", expected_version=2, on=date(2020, 8, 3),
                 scope=Scope.national(), payload={"is_discharging": True})  # fmt: skip
    # ... and the history still replays on every day, before and after it
    for day in (date(2020, 8, 2), date(2020, 8, 5), date(2020, 8, 12)):
        assert status_as_of(session, outfall.id, day, scope=Scope.national()) is not None
    assert status_as_of(session, outfall.id, date(2020, 8, 5), scope=Scope.national()) is OutfallStatus.CANDIDATE


def test_the_state_as_of_a_day_is_one_statement_through_a_merge_and_a_split(
    session: Session, make_outfall, monkeypatch: pytest.MonkeyPatch
) -> None:
    outfall = make_outfall(found_on=date(2021, 3, 1))  # 未央区, 西安市
    for kind, day, payload in (
        (EventKind.TRACED, date(2021, 4, 1), {}),
        (EventKind.MERGED, date(2021, 5, 1), {"merge_into_id": None}),
        (EventKind.SPLIT, date(2021, 6, 1), {"restore_status": "traced"}),
        (EventKind.SAMPLED, date(2021, 6, 2), {}),
    ):
        record_event(session, outfall.id, kind, actor="a", expected_version=outfall.version, on=day,
                     scope=Scope.national(), payload=payload)  # fmt: skip
    xian = Scope(area_codes=("610100",))
    with statements_sent(session.connection()) as sent:  # through SQLAlchemy, and straight to the driver
        answers = {day: status_as_of(session, outfall.id, day, scope=xian)
                   for day in (date(2021, 2, 28), date(2021, 3, 1), date(2021, 4, 1), date(2021, 5, 15),
                               date(2021, 6, 1), date(2026, 1, 1), None)}  # fmt: skip
    assert answers == {
        date(2021, 2, 28): None, date(2021, 3, 1): OutfallStatus.SURVEYED, date(2021, 4, 1): OutfallStatus.TRACED,
        date(2021, 5, 15): OutfallStatus.MERGED, date(2021, 6, 1): OutfallStatus.TRACED,
        date(2026, 1, 1): OutfallStatus.TRACED, None: OutfallStatus.TRACED,
    }  # fmt: skip
    assert len(sent) == len(answers)  # the scope and the state in one statement each
    with pytest.raises(NotFound, match="does not exist"):  # outside the scope reads like missing
        status_as_of(session, outfall.id, date(2021, 4, 1), scope=Scope(area_codes=("610700",)))
    basin = session.get(Basin, outfall.basin_id)
    assert basin is not None  # a scope of areas and basins: its lists become parameters of the compiled statement
    both = Scope(area_codes=("610100", "610700"), basin_codes=(basin.code, "ZZ-99"))
    assert status_as_of(session, outfall.id, date(2021, 4, 1), scope=both) is OutfallStatus.TRACED
    with pytest.raises(NotFound):
        status_as_of(session, outfall.id, date(2021, 4, 1), scope=Scope(area_codes=("610100",), basin_codes=("ZZ-99",)))
