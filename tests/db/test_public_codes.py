"""Local codes by the coding rule: confirmed outfalls only, oldest first, as coded events, never a code twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls.config import Settings
from outfalls.errors import InvalidInput
from outfalls.models import Event, IssuedCode, Outfall
from outfalls.public.assign import assign_codes
from outfalls.public.coding import CodingRule
from outfalls.scope import Scope
from outfalls.survey.reconcile import merge_outfalls
from outfalls.types import CodeProvenance, EventKind, SurveyLevel

LINTONG = (109.20, 34.44)  # 临潼区 610115, 700 m from the Wei river


def codes(session: Session, settings: Settings, **kw: object):  # type: ignore[no-untyped-def]
    return assign_codes(session, CodingRule.of(settings.coding), actor="officer", **kw)  # type: ignore[arg-type]


def test_confirmed_outfalls_get_codes_in_a_stable_order_as_events(
    session: Session, settings: Settings, make_outfall: Callable[..., Outfall]
) -> None:
    later = make_outfall(lonlat=LINTONG, found_on=date(2022, 6, 1), type_code="4.8")
    earlier = make_outfall(lonlat=LINTONG, found_on=date(2022, 5, 1), type_code="4.8",
                           name="未命名", name_provenance=CodeProvenance.UNKNOWN)  # fmt: skip
    candidate = make_outfall(lonlat=LINTONG, found_by=SurveyLevel.DRONE, type_code="4.8")
    coded = make_outfall(lonlat=LINTONG, type_code="4.8", local_code="610115-480-0001")

    dry = codes(session, settings, area="610115", dry_run=True)
    assert [(c.outfall_id, c.code) for c in dry.assigned] == [(earlier.id, "610115-480-0002"),
                                                            (later.id, "610115-480-0003")]  # fmt: skip
    assert session.scalar(select(func.count()).select_from(IssuedCode)) == 0  # a dry run writes nothing

    done = codes(session, settings, area="610115", bank_max_m=1000.0)
    assert [c.code for c in done.assigned] == ["610115-480-0002", "610115-480-0003"]  # 0001 is carried already
    assert candidate.id not in {c.outfall_id for c in done.assigned} and coded.local_code == "610115-480-0001"
    session.refresh(earlier)
    assert earlier.local_code == "610115-480-0002" and earlier.local_code_provenance is CodeProvenance.KNOWN
    # the outfall had no name: the rule's name, with the river and bank it lies on (700 m from the Wei: the dry
    # run's 500 m tell no bank)
    assert dry.assigned[0].name == "临潼区渭河2#城镇雨洪排口"
    assert earlier.name == "临潼区渭河左岸2#城镇雨洪排口" or earlier.name == "临潼区渭河右岸2#城镇雨洪排口"
    assert done.assigned[0].name == earlier.name and done.assigned[1].name is None  # a known name is kept
    event = session.scalars(select(Event).where(Event.outfall_id == earlier.id, Event.kind == EventKind.CODED)).one()
    assert event.payload["local_code"] == "610115-480-0002" and event.payload["previous_name"] == "未命名"
    assert event.outfall_version == earlier.version
    # nothing left to code: a second run gives nothing, and a code once given never changes
    assert codes(session, settings, area="610115").assigned == []


def test_a_merged_outfalls_code_is_retired_not_reused(
    session: Session, settings: Settings, make_outfall: Callable[..., Outfall]
) -> None:
    a = make_outfall(lonlat=LINTONG, type_code="1.1.1")
    b = make_outfall(lonlat=LINTONG, type_code="1.1.1")
    codes(session, settings, area="610115")
    session.refresh(b)
    assert b.local_code == "610115-111-0002"
    session.refresh(a)
    merge_outfalls(session, a.id, b.id, actor="t", scope=Scope.national(), keep_version=a.version,
                   absorb_version=b.version, reason="the same pipe")  # fmt: skip
    session.refresh(b)
    assert b.local_code == "610115-111-0002"  # it keeps its code, retired with it
    c = make_outfall(lonlat=LINTONG, type_code="1.1.1")
    (given,) = codes(session, settings, area="610115").assigned
    assert given.outfall_id == c.id and given.code == "610115-111-0003"


def test_unknown_area_or_basin_is_refused(session: Session, settings: Settings) -> None:
    with pytest.raises(InvalidInput) as err:
        codes(session, settings, area="999999")
    assert err.value.params["field"] == "area"
    with pytest.raises(InvalidInput) as err:
        codes(session, settings, basin="XX")
    assert err.value.params["field"] == "basin"
