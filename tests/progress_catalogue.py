"""The small hand-computed catalogue of the progress tests (shared by the domain, web and CLI tests).

P1 = Xi'an 未央区 on the Wei, P2 = Hanzhong 汉台区 on the Han, P3 = 未央区 away from any river, P4 = Baoji 渭滨区
on the Wei:

    A  P1 foot    found 2023-03-01, traced 06-01, remediation planned 09-01, remediated 11-15, closed 2024-02-01
    B  P1 foot    found 2023-03-01, traced 2023-12-20 (recorded through record_event)
    C  P3 drone   found 2023-04-01, rejected 2023-05-01
    D  P4 foot    found 2023-02-01, merged 2023-10-01
    E  P2 foot    found 2023-05-01, sampled 05-10, traced 2024-03-01
    F  P2 drone   found 2024-01-10 (still a candidate)
    G  P4 foot    found 2024-06-01

``add_stray_on_the_wei`` adds S where the Wei (渭河, whose sub-basin is 渭河流域 HH-08) runs through the
sub-basin 龙门至三门峡 (HH-07) before it meets the Yellow River: found 2023-03-01, traced 2023-06-01.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls, record_event
from outfalls.models import Outfall
from outfalls.progress import add_target
from outfalls.scope import Scope
from outfalls.types import EventKind, SurveyLevel

ALL = Scope.national()
P1, P2, P3, P4 = (108.94, 34.40), (107.03, 33.07), (109.0, 34.3), (107.1, 34.36)
STRAY = (110.0163, 34.6340)  # on the Wei, in 龙门至三门峡 (HH-07)


def _h(kind: EventKind, on: str) -> HistoryItem:
    return HistoryItem(kind, date.fromisoformat(on))


def build_catalogue(session: Session) -> dict[str, int]:
    """Create outfalls A..G (see the module docstring); returns their ids by letter."""
    k, foot, drone = EventKind, SurveyLevel.FOOT, SurveyLevel.DRONE
    spec = {
        "A": (P1, foot, "2023-03-01", (_h(k.TRACED, "2023-06-01"), _h(k.REMEDIATION_PLANNED, "2023-09-01"),
                                       _h(k.REMEDIATED, "2023-11-15"), _h(k.CLOSED, "2024-02-01"))),
        "B": (P1, foot, "2023-03-01", ()),
        "C": (P3, drone, "2023-04-01", (_h(k.REJECTED, "2023-05-01"),)),
        "D": (P4, foot, "2023-02-01", (_h(k.MERGED, "2023-10-01"),)),
        "E": (P2, foot, "2023-05-01", (_h(k.SAMPLED, "2023-05-10"), _h(k.TRACED, "2024-03-01"))),
        "F": (P2, drone, "2024-01-10", ()),
        "G": (P4, foot, "2024-06-01", ()),
    }  # fmt: skip
    items = [
        NewOutfall(lonlat=ll, name=f"进度测试{letter}", type_code="4.8", found_by=by,
                   found_on=date.fromisoformat(on), history=history)
        for letter, (ll, by, on, history) in spec.items()
    ]  # fmt: skip
    ids = dict(zip(spec, create_outfalls(session, items, actor="tester"), strict=True))
    version = session.scalar(select(Outfall.version).where(Outfall.id == ids["B"]))
    record_event(session, ids["B"], k.TRACED, actor="t", scope=ALL, expected_version=int(version or 1),
                 on=date(2023, 12, 20))  # fmt: skip
    return ids


def add_provincial_targets(session: Session) -> None:
    """Shaanxi: 90 % traced by end-2023, lowered to 50 % from 2023-07-01; Xi'an: 60 % by 2023-09-30, withdrawn
    from 2024-01-01.
    """
    for code, deadline, share, since in [
        ("610000", date(2023, 12, 31), 0.9, date(2023, 1, 1)),
        ("610000", date(2023, 12, 31), 0.5, date(2023, 7, 1)),
        ("610100", date(2023, 9, 30), 0.6, date(2023, 1, 1)),
        ("610100", date(2023, 9, 30), None, date(2024, 1, 1)),
    ]:
        add_target(session, scope_kind="area", scope_code=code, metric="traced", deadline=deadline, share=share,
                   actor="admin", scope=ALL, effective_on=since, note="省级方案")  # fmt: skip


def add_stray_on_the_wei(session: Session) -> int:
    """Create outfall S (see the module docstring): on the Wei but outside the Wei's sub-basin; returns its id."""
    item = NewOutfall(lonlat=STRAY, name="进度测试S", type_code="4.8", found_by=SurveyLevel.FOOT,
                      found_on=date(2023, 3, 1), history=(_h(EventKind.TRACED, "2023-06-01"),))  # fmt: skip
    (oid,) = create_outfalls(session, [item], actor="tester")
    return oid
