"""Receiving the phone app's records: nothing lost, nothing twice.

A record is kept once under the id the phone made for it (``field_records``), with the answer it got; the same
id sent again gets that answer again and changes nothing, so a sync cut off after the server stored a record
completes on retry. Photos arrive one by one before their record (``field_photos``, once per record and slot)
and are attached when the record is applied. A record is applied through the same domain functions as the survey
intake (a new outfall, a confirmed candidate), the imagery verification (``imagery.field``) and the case pages (a
site visit), so there is one set of rules. A record made against a state that changed before it arrived (the
outfall changed since it was downloaded) is a conflict: it is kept as an observation and put in the review queue,
never lost and never written over what changed. A refused record is not kept: the crew mends it and resends it.
"""

from __future__ import annotations

import io
import mimetypes
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from outfalls.cases.sampling import ResultInput, VisitInput, record_visit
from outfalls.config import Settings
from outfalls.errors import FieldError, InvalidInput, NotFound
from outfalls.field.records import FieldRecordIn, PhotoSlot, RecordKind, record_table
from outfalls.models import FieldPhoto, FieldRecord, Observation, ObservationLink, Outfall, ReviewItem
from outfalls.scope import Scope, require_visible
from outfalls.store import FileStore
from outfalls.survey.intake import import_table
from outfalls.survey.photos import attach_photo, read_photo
from outfalls.survey.reconcile import Held
from outfalls.types import DischargeState, ObservationSource, ReviewReason, SampleMethod

ACCEPTED = "accepted"
CONFLICT = "conflict"
MAX_PHOTO_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SyncResult:
    """The answer to one record: ``status`` accepted or conflict (a refusal is an ``InvalidInput`` instead)."""

    client_id: str
    kind: str
    status: str
    message: str
    outfall_id: int | None = None
    observation_id: int | None = None
    review_item_id: int | None = None
    visit_id: int | None = None
    track_ids: tuple[int, ...] = ()
    photos: int = 0
    already_received: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self) | {"track_ids": list(self.track_ids)}


def lock_record(session: Session, client_id: str) -> None:
    """Serialise everything about one phone record until the transaction ends (two tabs syncing at once)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:id, 1014))"), {"id": client_id})


def received(session: Session, record: FieldRecordIn, *, actor: str) -> SyncResult | None:
    """The answer given when this record was received before, or None for a new record.

    Raises:
        InvalidInput: the id was used before by another user, or for another record (``conflicting_resend``).
    """
    lock_record(session, record.client_id)
    kept = session.scalar(select(FieldRecord).where(FieldRecord.client_id == record.client_id))
    if kept is None:
        return None
    if kept.actor != actor or kept.body != record.body:
        raise InvalidInput(
            f"record {record.client_id} was received before with other content; the record received first is "
            "kept: give a changed record a new id", field="client_id", reason="conflicting_resend",
        )  # fmt: skip
    return SyncResult(**{**kept.result, "track_ids": tuple(kept.result.get("track_ids", ())),
                         "already_received": True})  # fmt: skip


def kept_answer(session: Session, client_id: str, *, actor: str) -> dict[str, Any] | None:
    """The answer kept for one of ``actor``'s records, or None when it was not received."""
    kept = session.scalar(select(FieldRecord).where(FieldRecord.client_id == client_id, FieldRecord.actor == actor))
    return None if kept is None else kept.result | {"already_received": True}


def keep(session: Session, record: FieldRecordIn, result: SyncResult, *, actor: str) -> SyncResult:
    """Keep the record and its answer under the phone's id (the caller commits both with the record's effects)."""
    stored = result.as_dict() | {"already_received": False}
    session.add(FieldRecord(client_id=record.client_id, kind=record.kind.value, actor=actor, body=record.body,
                            outcome=result.status, result=stored))  # fmt: skip
    session.flush()
    return result


# --- photos --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StagedPhoto:
    """A photo received for a record."""

    client_id: str
    slot: str
    sha256: str
    size_bytes: int
    already_received: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)


def receive_photo(session: Session, store: FileStore, client_id: str, slot: str, data: bytes, name: str, *,
                  actor: str) -> StagedPhoto:  # fmt: skip
    """Keep one photo of a phone record until its record arrives; the same photo sent again adds nothing, and a
    photo of a record not yet received may be replaced (the crew retook it).

    Raises:
        InvalidInput: an unknown slot, an empty, oversized or unreadable photo, a photo sent by another user, or a
            different photo for a record already received.
    """
    from outfalls.field.records import CLIENT_ID

    if not CLIENT_ID.fullmatch(client_id):
        raise InvalidInput("not a record id of the phone app", field="client_id")
    try:
        PhotoSlot(slot)
    except ValueError as err:
        raise InvalidInput(f"unknown photo slot {slot!r}", field="slot", value=slot) from err
    if not data:
        raise InvalidInput("the photo is empty", field="file")
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(f"a photo has at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB", field="file")
    read_photo(data, name)  # refuses what is not an image
    lock_record(session, client_id)
    stored = store.put(io.BytesIO(data))
    photo = session.scalar(select(FieldPhoto).where(FieldPhoto.client_id == client_id, FieldPhoto.slot == slot))
    if photo is not None:
        if photo.actor != actor:
            raise InvalidInput("this record id belongs to another user", field="client_id")
        if photo.sha256 == stored.sha256:
            return StagedPhoto(client_id, slot, photo.sha256, photo.size_bytes, True)
        if photo.attachment_id is not None or _is_kept(session, client_id):
            raise InvalidInput("the record was received with another photo; the photo received first is kept",
                               field="file", reason="conflicting_resend")  # fmt: skip
        photo.sha256, photo.size_bytes, photo.file_name = stored.sha256, stored.size_bytes, name
    else:
        if _is_kept(session, client_id):
            raise InvalidInput("the record was received without this photo", field="slot", value=slot)
        photo = FieldPhoto(client_id=client_id, slot=slot, actor=actor, file_name=name, sha256=stored.sha256,
                           size_bytes=stored.size_bytes,
                           media_type=mimetypes.guess_type(name)[0] or "image/jpeg")  # fmt: skip
        session.add(photo)
    session.flush()
    return StagedPhoto(client_id, slot, stored.sha256, stored.size_bytes, False)


def _is_kept(session: Session, client_id: str) -> bool:
    return session.scalar(select(FieldRecord.id).where(FieldRecord.client_id == client_id)) is not None


def received_photos(session: Session, client_id: str, *, actor: str) -> list[str]:
    """The slots of a record whose photo has arrived (so a resumed sync sends only the rest)."""
    return list(session.scalars(select(FieldPhoto.slot).where(FieldPhoto.client_id == client_id,
                                                              FieldPhoto.actor == actor).order_by(FieldPhoto.slot)))


def staged_photos(session: Session, record: FieldRecordIn, *, actor: str) -> list[FieldPhoto]:
    """The record's photos, all arrived.

    Raises:
        InvalidInput: a photo the record lists has not arrived (send it first).
    """
    photos = {p.slot: p for p in session.scalars(select(FieldPhoto).where(FieldPhoto.client_id == record.client_id,
                                                                          FieldPhoto.actor == actor))}  # fmt: skip
    missing = [s.value for s in record.photos if s.value not in photos]
    if missing:
        raise InvalidInput(f"photo {', '.join(missing)} has not arrived: send the photos before the record",
                           field="photos", reason="photo_missing")  # fmt: skip
    return [photos[s.value] for s in record.photos]


def attach_staged(session: Session, store: FileStore, photos: list[FieldPhoto], *, actor: str, scope: Scope,
                  observation_id: int | None = None, outfall_id: int | None = None) -> int:  # fmt: skip
    """Attach the record's photos to its observation and/or outfall, as the survey intake attaches a crew's photos."""
    for photo in photos:
        with store.open(photo.sha256) as f:
            data = f.read()
        info = read_photo(data, photo.file_name)
        attachment = attach_photo(session, store, data, info, actor=actor, scope=scope, observation_id=observation_id,
                                  outfall_id=outfall_id, meta={"field_slot": photo.slot,
                                                               "client_id": photo.client_id})  # fmt: skip
        photo.attachment_id = attachment.id
    session.flush()
    return len(photos)


def photo_stream(store: FileStore, photo: FieldPhoto) -> IO[bytes]:
    """The bytes of a received photo."""
    return store.open(photo.sha256)


# --- applying a record ---------------------------------------------------------------------------------------


def crew_of(record: FieldRecordIn, actor: str) -> str:
    """Who walked: the crew the record names, else the user who sent it."""
    return record.text("crew") or actor


def intake(session: Session, store: FileStore, record: FieldRecordIn, *, settings: Settings, actor: str,
           scope: Scope, verifies: int | None = None, held: Held | None = None,
           extra: Mapping[str, Any] | None = None) -> SyncResult:  # fmt: skip
    """Store the record through the survey intake (validated, reconciled, the photos attached) and say where it
    went: a new outfall, an outfall it was added to (or the candidate it verified), or the review queue.

    Raises:
        InvalidInput: the intake refused the record (every problem with its field), or a photo is missing.
    """
    photos = staged_photos(session, record, actor=actor)
    report = import_table(
        session, record_table(record, crew=crew_of(record, actor), extra=extra), settings=settings, actor=actor,
        crew=crew_of(record, actor), crs="EPSG:4326", file_name=f"field:{record.client_id}", scope=scope,
        verifies={record.client_id: verifies} if verifies is not None else None,
        held={record.client_id: held} if held is not None else None,
    )  # fmt: skip
    if report.rejected:
        raise InvalidInput.of([FieldError(_field_name(p.field), p.message, p.code, _plain(p.params))
                               for p in report.rejected])  # fmt: skip
    observation_id = session.scalar(select(Observation.id).where(
        Observation.source_kind == ObservationSource.FOOT_SURVEY, Observation.client_id == record.client_id))
    if observation_id is None:
        raise NotFound("the record's observation was not stored", entity="observation", id=record.client_id)
    outfall_id = session.scalar(select(ObservationLink.outfall_id).where(
        ObservationLink.observation_id == observation_id, ObservationLink.unlinked_at.is_(None)))
    review = session.scalar(select(ReviewItem).where(ReviewItem.observation_id == observation_id))
    count = attach_staged(session, store, photos, actor=actor, scope=Scope.national(), observation_id=observation_id,
                          outfall_id=outfall_id)  # fmt: skip
    status = CONFLICT if held is not None else ACCEPTED
    if review is not None:
        message = f"kept and queued for review: {review.detail or review.reason.value}"
        details: dict[str, Any] = {"reason": review.reason.value, "candidate_ids": list(review.candidate_ids)}
    elif report.new_outfalls:
        message, details = f"new outfall {outfall_id}", {"new_outfall": True}
    elif verifies is not None:
        message, details = f"candidate {outfall_id} confirmed", {"confirmed": True}
    else:
        message, details = f"added to outfall {outfall_id}", {"linked": True}
    return SyncResult(record.client_id, record.kind.value, status, message, outfall_id=outfall_id,
                      observation_id=observation_id, review_item_id=review.id if review else None, photos=count,
                      details=details)  # fmt: skip


_RECORD_FIELDS = {"lon": "position.lon", "lat": "position.lat", "surveyed_at": "captured_at", "row": "",
                  "photos": "photos", "discharge": "discharging"}  # fmt: skip


def _field_name(intake_field: str) -> str:
    """The intake's field name as the phone's record names it."""
    return _RECORD_FIELDS.get(intake_field, intake_field)


def _plain(params: Mapping[str, Any]) -> dict[str, str | int | float]:
    return {k: v for k, v in params.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}


def changed_since(session: Session, outfall: Outfall, record: FieldRecordIn) -> Held | None:
    """A conflict when the outfall changed after the crew downloaded it (its version moved on), else None."""
    if record.version == outfall.version:
        return None
    return Held(ReviewReason.FIELD_CONFLICT, (outfall.id,),
                f"{outfall.name} changed since the crew's download (version {record.version} → {outfall.version}): "
                f"the {record.kind.value} record was not applied")  # fmt: skip


def apply_visit(session: Session, store: FileStore, record: FieldRecordIn, *, settings: Settings, actor: str,
                scope: Scope) -> SyncResult:  # fmt: skip
    """A site visit to a known outfall, recorded as the case page records it (discharge state, quick tests).

    Raises:
        NotFound: no such outfall in ``scope``. InvalidInput: bad values (each with its field).
    """
    if record.outfall_id is None:
        raise InvalidInput("outfall_id is required", field="outfall_id")
    require_visible(session, record.outfall_id, scope)
    outfall = session.get(Outfall, record.outfall_id, with_for_update=True)
    if outfall is None:  # pragma: no cover - require_visible found it
        raise NotFound("outfall does not exist", entity="outfall", id=record.outfall_id)
    if (held := changed_since(session, outfall, record)) is not None:
        return intake(session, store, record, settings=settings, actor=actor, scope=scope, held=held,
                      extra=visit_attributes(record, outfall))  # fmt: skip
    v = record.values
    units = _units(session)
    visit = VisitInput(
        visited_at=record.captured_at, discharge=DischargeState(v["discharge"]),
        not_possible_reason=v.get("not_possible_reason"), colour=v.get("colour"), turbidity=v.get("turbidity"),
        odour=v.get("odour"), oil_film=v.get("oil_film"), notes=v.get("notes"),
        results=tuple(ResultInput(parameter=t.parameter, value=t.value, unit=t.unit or units.get(t.parameter, ""),
                                  method=SampleMethod.FIELD_QUICK) for t in record.quick_tests),
    )  # fmt: skip
    photos = staged_photos(session, record, actor=actor)
    try:
        row = record_visit(session, outfall.id, visit, actor=actor, scope=scope, expected_version=outfall.version)
    except InvalidInput as err:
        raise InvalidInput.of([_visit_error(e) for e in err.field_errors]) from err
    count = attach_staged(session, store, photos, actor=actor, scope=scope, outfall_id=outfall.id)
    return SyncResult(record.client_id, record.kind.value, ACCEPTED, f"visit recorded on outfall {outfall.id}",
                      outfall_id=outfall.id, visit_id=row.id, photos=count)  # fmt: skip


def _units(session: Session) -> dict[str, str]:
    from outfalls.cases.sampling import parameters

    return {p.code: p.unit for p in parameters(session)}


def _visit_error(e: FieldError) -> FieldError:
    """The case page's field name as the phone's record names it (``results[i]`` → ``quick_tests[i]``)."""
    name = e.field.replace("results", "quick_tests", 1).replace("visited_at", "captured_at")
    return FieldError(name, e.message, e.reason, e.params)


def visit_attributes(record: FieldRecordIn, outfall: Outfall) -> dict[str, Any]:
    """What a visit that could not be applied keeps with its observation, for the person who reviews it."""
    v = record.values
    tests = "; ".join(f"{t.parameter}={t.value:g}{t.unit}" for t in record.quick_tests)
    return {"记录类型": "现场走访", "排污口名称": outfall.name, "排放状态": v.get("discharge"), "快检": tests or None,
            "颜色": v.get("colour"), "浑浊度": v.get("turbidity"), "气味": v.get("odour"), "备注": v.get("notes"),
            "走访排污口": outfall.id}  # fmt: skip


def apply_track(session: Session, record: FieldRecordIn, *, settings: Settings, actor: str,
                scope: Scope) -> SyncResult:  # fmt: skip
    """The walked line, stored as the track upload stores a GPX file, so it counts in coverage.

    Raises:
        InvalidInput: the track is refused (outside the region or the crew's area, too short …).
    """
    from outfalls.survey.tracks import import_tracks

    report = import_tracks(session, track_gpx(record).encode(), f"{record.client_id}.gpx", crew=crew_of(record, actor),
                           actor=actor, bbox=settings.region.bbox, scope=scope)  # fmt: skip
    ids = tuple(t.id for t in report.tracks)
    km = sum(t.length_m for t in report.tracks) / 1000
    return SyncResult(record.client_id, record.kind.value, ACCEPTED, f"track of {km:.2f} km stored", track_ids=ids)


def track_gpx(record: FieldRecordIn) -> str:
    """The walked points as a GPX track (WGS84, with their times)."""
    points = "".join(
        f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}">' + (f"<time>{when.isoformat()}</time>" if when else "") + "</trkpt>"
        for lon, lat, when in record.points
    )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="outfalls field" '
            'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>现场App轨迹</name>'
            f"<trkseg>{points}</trkseg></trk></gpx>\n")  # fmt: skip


def apply_catalogue_record(session: Session, store: FileStore, record: FieldRecordIn, *, settings: Settings,
                           actor: str, scope: Scope) -> SyncResult:  # fmt: skip
    """Apply a record that needs only the catalogue: a new outfall, a site visit or a track.

    Raises:
        InvalidInput: refused, with every problem. NotFound: an outfall not in ``scope``.
        PermissionDenied: a record kind this function does not apply (candidates are ``imagery.field``'s).
    """
    from outfalls.errors import PermissionDenied

    if record.kind is RecordKind.NEW_OUTFALL:
        return intake(session, store, record, settings=settings, actor=actor, scope=scope)
    if record.kind is RecordKind.VISIT:
        return apply_visit(session, store, record, settings=settings, actor=actor, scope=scope)
    if record.kind is RecordKind.TRACK:
        return apply_track(session, record, settings=settings, actor=actor, scope=scope)
    raise PermissionDenied(f"a {record.kind.value} record is applied with the imagery", kind=record.kind.value)
