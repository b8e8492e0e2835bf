"""The phone app's records on PostGIS: each kept once under the phone's id (a re-sent record or photo adds nothing),
applied through the survey intake, the imagery verification and the case pages' visit, and a record made against a
state that changed meanwhile kept as an observation in the review queue, never written over what changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from geoalchemy2.shape import to_shape
from sqlalchemy.orm import Session

from imagery import candidates
from imagery.field import crew_tasks, sync_record
from outfalls import clock
from outfalls.catalogue.lifecycle import record_event
from outfalls.config import Settings
from outfalls.errors import InvalidInput, NotFound
from outfalls.field import bundle
from outfalls.field.sync import receive_photo
from outfalls.models import (
    Attachment,
    Event,
    FieldPhoto,
    FieldRecord,
    MonitoringVisit,
    Observation,
    Outfall,
    ReviewItem,
    SurveyTrack,
)
from outfalls.scope import Scope
from outfalls.store import FileStore
from outfalls.types import EventKind, OutfallStatus, ReviewReason, SurveyLevel
from tests.db.test_imagery_candidates import reviewed  # noqa: F401 - the reviewed cell with three candidates

PHOTOS = Path(__file__).resolve().parents[1] / "fixtures" / "photos"
XIAN = Scope(area_codes=("610100",))
FOUR = ("near1", "near2", "sign", "far")


def _when(hours: float = 1.0) -> str:
    return (clock.now() - timedelta(hours=hours)).isoformat()


def _new_outfall(client_id: str, lonlat: tuple[float, float], **kw: Any) -> dict[str, Any]:
    return {"client_id": client_id, "kind": "new_outfall", "captured_at": _when(),
            "position": {"lon": lonlat[0], "lat": lonlat[1], "accuracy_m": 4.0, "at": _when()},
            "name": "渭河南岸现场发现排口", "name_provenance": "known", "type": "4.5", "receiving_water": "渭河",
            "discharging": "yes", "colour": "灰", "turbidity": "浑浊", "odour": "微臭", "oil_film": False,
            "photos": list(FOUR), "notes": "桥下"} | kw  # fmt: skip


@pytest.fixture
def store(settings: Settings) -> FileStore:
    return FileStore(settings.storage.store_dir)


@pytest.fixture
def send(session: Session, settings: Settings, store: FileStore) -> Callable[..., Any]:
    """Send a record as crew1 of Xi'an, after its photos (as the app does)."""

    def go(body: dict[str, Any], *, photos: bool = True, actor: str = "crew1") -> Any:
        if photos:
            for slot in body.get("photos", []):
                data = (PHOTOS / ("geoapi_image.jpg" if slot != "far" else "geoapi_flipped_image.jpg")).read_bytes()
                receive_photo(session, store, body["client_id"], slot, data, f"{slot}.jpg", actor=actor)
        return sync_record(session, store, body, settings=settings, actor=actor, scope=XIAN)

    return go


def _counts(session: Session) -> tuple[int, ...]:
    tables = (Observation, Outfall, Event, Attachment, FieldRecord, ReviewItem, MonitoringVisit)
    return tuple(session.scalar(sa.select(sa.func.count()).select_from(m)) or 0 for m in tables)


def test_a_new_outfall_is_stored_once_with_its_event_and_photos(session: Session, send, make_user) -> None:
    make_user("crew1", roles=("crew",), areas=("610100",))
    body = _new_outfall("f-new-0001", (108.9712, 34.3921))
    first = send(body)
    assert (first.status, first.already_received, first.photos) == ("accepted", False, 4)
    outfall = session.get(Outfall, first.outfall_id)
    assert outfall is not None and outfall.found_by is SurveyLevel.FOOT and outfall.name == "渭河南岸现场发现排口"
    obs = session.get(Observation, first.observation_id)
    assert obs is not None and obs.client_id == "f-new-0001" and obs.orig_crs == "EPSG:4326"
    assert obs.attributes["水面油膜"] == "无" and obs.attributes["名称状态"] == "已掌握"
    assert obs.attributes["定位精度米"] == 4
    slots = session.scalars(sa.select(Attachment.meta["field_slot"].astext).where(
        Attachment.outfall_id == outfall.id, Attachment.observation_id == obs.id)).all()
    assert sorted(slots) == sorted(FOUR)
    kinds = session.scalars(sa.select(Event.kind).where(Event.outfall_id == outfall.id).order_by(Event.id)).all()
    assert kinds == [EventKind.CREATED, EventKind.OBSERVATION_LINKED]
    before = _counts(session)
    # the answer was lost on the way back: the phone sends the record (and its photos) again
    again = send(body)
    assert again.already_received and again.outfall_id == first.outfall_id and again.status == "accepted"
    assert _counts(session) == before
    assert session.scalar(sa.select(sa.func.count()).select_from(FieldPhoto)) == 4


def test_a_changed_record_under_a_used_id_is_refused(session: Session, send, make_user, store: FileStore) -> None:
    make_user("crew1", roles=("crew",), areas=("610100",))
    send(_new_outfall("f-new-0002", (108.9712, 34.3921)))
    before = _counts(session)
    with pytest.raises(InvalidInput, match="received before with other content") as err:
        send(_new_outfall("f-new-0002", (108.9712, 34.3921), name="另一个名字"), photos=False)
    assert err.value.params["field"] == "client_id"
    with pytest.raises(InvalidInput, match="another photo"):  # the record is kept with its first photos
        receive_photo(session, store, "f-new-0002", "near1", (PHOTOS / "geoapi_flipped_image.jpg").read_bytes(),
                      "n.jpg", actor="crew1")  # fmt: skip
    assert _counts(session) == before


def test_a_refused_record_is_not_kept_and_goes_through_once_mended(session: Session, send, make_user) -> None:
    make_user("crew1", roles=("crew",), areas=("610100",))
    before = _counts(session)
    yulin = _new_outfall("f-new-0003", (109.73, 38.28))  # Yulin: outside the crew's area
    with pytest.raises(InvalidInput) as err:
        send(yulin)
    assert [e.field for e in err.value.field_errors] == ["position.lon"]
    assert "outside your area" in err.value.field_errors[0].message
    no_photos = _new_outfall("f-new-0004", (108.9712, 34.3921))
    with pytest.raises(InvalidInput, match="has not arrived") as err:
        send(no_photos, photos=False)
    bad = _new_outfall("f-new-0005", (108.9712, 34.3921), discharging="maybe", captured_at="yesterday",
                       position={"lon": 108.97})  # fmt: skip
    with pytest.raises(InvalidInput) as err:
        send(bad, photos=False)
    assert {e.field for e in err.value.field_errors} == {"discharging", "captured_at", "position.lat"}
    assert _counts(session) == before  # nothing of a refused record is kept
    mended = yulin | {"position": {"lon": 108.9712, "lat": 34.3921, "accuracy_m": 6.0}}
    assert send(mended).status == "accepted"


def test_confirming_a_candidate_on_the_spot_verifies_it(session: Session, send, reviewed,  # noqa: F811
                                                        settings: Settings) -> None:  # fmt: skip
    candidates.create_task(session, "crew1", actor="rev", scope=Scope.national())
    [task] = crew_tasks(session, crew="crew1", scope=XIAN, settings=settings)
    stop = task["stops"][0]
    assert stop["version"] and stop["clip"]["src"].startswith("data:image/png;base64,")
    assert 0 <= stop["clip"]["x"] < 256 and 0 <= stop["clip"]["y"] < 256
    body = _new_outfall("f-ver-0001", (stop["lon"], stop["lat"]), kind="verify", outfall_id=stop["outfall_id"],
                        version=stop["version"], name=None, name_provenance="unknown")  # fmt: skip
    result = send(body)
    assert (result.status, result.outfall_id, result.details) == ("accepted", stop["outfall_id"], {"confirmed": True})
    outfall = session.get(Outfall, stop["outfall_id"])
    assert outfall is not None and (outfall.status, outfall.found_by) == (OutfallStatus.SURVEYED, SurveyLevel.DRONE)
    kinds = session.scalars(sa.select(Event.kind).where(Event.outfall_id == outfall.id).order_by(Event.id)).all()
    assert kinds[-1] is EventKind.SURVEYED
    assert send(body).already_received


def test_a_candidate_decided_meanwhile_makes_a_conflict_kept_for_review(session: Session, send, reviewed,  # noqa: F811
                                                                         store: FileStore) -> None:  # fmt: skip
    mark = reviewed["marks"][0]
    candidate = session.get(Outfall, mark.outfall_id)
    assert candidate is not None
    version = candidate.version
    point = to_shape(mark.geom)
    # someone else rejected the candidate after the crew downloaded it
    record_event(session, candidate.id, EventKind.REJECTED, actor="other", scope=Scope.national(),
                 expected_version=version, payload={"reason": "阴影"})  # fmt: skip
    after = (candidate.status, candidate.version)
    body = _new_outfall("f-ver-0002", (point.x, point.y), kind="verify", outfall_id=candidate.id, version=version)
    result = send(body)
    assert result.status == "conflict" and result.review_item_id is not None and result.photos == 4
    item = session.get(ReviewItem, result.review_item_id)
    assert item is not None and item.reason is ReviewReason.FIELD_CONFLICT and item.candidate_ids == [candidate.id]
    assert "was decided (rejected)" in (item.detail or "")
    session.refresh(candidate)
    assert (candidate.status, candidate.version) == after  # nothing written over the other decision
    assert session.get(Observation, result.observation_id) is not None  # the crew's record is kept
    assert send(body).status == "conflict" and send(body).already_received


def test_not_an_outfall_rejects_the_candidate_with_its_photo(session: Session, send, reviewed,  # noqa: F811
                                                             settings: Settings, store: FileStore) -> None:  # fmt: skip
    mark = reviewed["marks"][1]
    candidate = session.get(Outfall, mark.outfall_id)
    assert candidate is not None
    point = to_shape(mark.geom)
    body = {"client_id": "f-rej-0001", "kind": "reject", "captured_at": _when(), "outfall_id": candidate.id,
            "version": candidate.version, "position": {"lon": point.x, "lat": point.y, "accuracy_m": 5},
            "reason": "是灌溉渠闸门", "photos": ["site"]}  # fmt: skip
    with pytest.raises(InvalidInput, match="photo of the place"):
        sync_record(session, store, body | {"photos": []}, settings=settings, actor="crew1", scope=XIAN)
    result = send(body)
    assert result.status == "accepted" and result.details == {"rejected": True}
    session.refresh(candidate)
    assert candidate.status is OutfallStatus.REJECTED
    assert session.scalar(sa.select(Attachment).where(Attachment.outfall_id == candidate.id,
                                                      Attachment.meta["purpose"].astext == "not_an_outfall"))
    with pytest.raises(NotFound):  # not in the crew's area
        sync_record(session, store, body | {"client_id": "f-rej-0002"}, settings=settings, actor="crew1",
                    scope=Scope(area_codes=("610802",)))


def test_a_visit_is_recorded_and_a_stale_one_is_kept_for_review(session: Session, send, make_user,
                                                                  make_outfall) -> None:  # fmt: skip
    make_user("crew1", roles=("crew",), areas=("610100",))
    outfall = make_outfall(lonlat=(108.9712, 34.3921))
    known = {o["id"]: o for o in bundle.known_outfalls(session, scope=XIAN)}
    assert known[outfall.id]["version"] == outfall.version
    body = {"client_id": "f-vis-0001", "kind": "visit", "captured_at": _when(), "outfall_id": outfall.id,
            "version": outfall.version, "position": {"lon": 108.9712, "lat": 34.3921, "accuracy_m": 3},
            "discharge": "discharging", "colour": "黄", "quick_tests": [{"parameter": "cod", "value": 85.0,
                                                                         "unit": "mg/L"}]}  # fmt: skip
    with pytest.raises(InvalidInput) as err:
        send(body | {"quick_tests": [{"parameter": "cod", "value": 85.0, "unit": "g"}]})
    assert err.value.field_errors[0].field == "quick_tests[0].unit"
    result = send(body)
    assert result.status == "accepted" and result.visit_id is not None
    visit = session.get(MonitoringVisit, result.visit_id)
    assert visit is not None and [r.parameter for r in visit.results] == ["cod"]
    session.refresh(outfall)
    stale = body | {"client_id": "f-vis-0002"}  # made against the version downloaded before the first visit
    visits_before = session.scalar(sa.select(sa.func.count()).select_from(MonitoringVisit))
    version = outfall.version
    conflict = send(stale)
    assert conflict.status == "conflict" and conflict.review_item_id is not None
    item = session.get(ReviewItem, conflict.review_item_id)
    assert item is not None and item.reason is ReviewReason.FIELD_CONFLICT and "changed since" in (item.detail or "")
    assert session.scalar(sa.select(sa.func.count()).select_from(MonitoringVisit)) == visits_before
    session.refresh(outfall)
    assert outfall.version == version
    assert session.get(Observation, conflict.observation_id).attributes["快检"] == "cod=85mg/L"  # type: ignore[union-attr]


def test_a_walked_track_counts_once(session: Session, send, make_user, settings: Settings) -> None:
    make_user("crew1", roles=("crew",), areas=("610100",))
    start = clock.now() - timedelta(hours=2)
    points = [[108.95 + i * 0.001, 34.395, (start + timedelta(minutes=i)).isoformat()] for i in range(12)]
    body = {"client_id": "f-trk-0001", "kind": "track", "captured_at": _when(), "points": points}
    result = send(body)
    assert result.status == "accepted" and len(result.track_ids) == 1
    track = session.get(SurveyTrack, result.track_ids[0])
    assert track is not None and track.crew == "crew1" and track.point_count == 12 and track.length_m > 1000
    assert send(body).already_received
    assert session.scalar(sa.select(sa.func.count()).select_from(SurveyTrack)) == 1
