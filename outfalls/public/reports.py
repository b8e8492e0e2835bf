"""Public reports (公众举报): a citizen reports a discharge with a description, a position and up to four photos,
and gets a receipt to follow it; the case officers of the area where it lies work the queue: link it to an
outfall (the outfall's history records it), turn it into a candidate for a crew to verify (found by public report),
or close it with a reason. Every step is a report event, and the outfall's own events where one is concerned.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path

from sqlalchemy import ColumnElement, Float, false, func, or_, select, text
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.lifecycle import NewOutfall, create_outfalls, record_event
from outfalls.config import PublicSettings
from outfalls.errors import FieldError, InvalidInput, InvalidTransition, NotFound, StaleEdit
from outfalls.models import AdminArea, Attachment, Basin, Outfall, PublicReport, PublicReportEvent, PublicReportPhoto
from outfalls.public.photos import MAX_PIXELS, clean_photo
from outfalls.scope import Scope, area_prefix, require_visible
from outfalls.store import FileStore
from outfalls.types import CGCS2000, CodeProvenance, EventKind, OutfallStatus, ReportStatus, SurveyLevel

RECEIPT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud over the phone
RECEIPT_LENGTH = 10
UNKNOWN_TYPE = "9"  # HJ 1312 暂无法确定: a citizen cannot tell the type
CLOSE_REASONS = (ReportStatus.NOT_OUTFALL, ReportStatus.DUPLICATE)
OPEN = (ReportStatus.RECEIVED,)


@dataclass(frozen=True, slots=True)
class ReportPhoto:
    """A photo as sent: its file name and bytes."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What a citizen sends."""

    description: str
    lon: float | None
    lat: float | None
    location_source: str = "map"  # gps or map
    contact: str | None = None
    outfall_ref: str | None = None
    photos: tuple[ReportPhoto, ...] = ()


def _receipt() -> str:
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))


def _event(session: Session, report: PublicReport, kind: str, actor: str, **payload: object) -> None:
    session.add(PublicReportEvent(report_id=report.id, kind=kind, actor=actor, payload=payload))


def submit_report(session: Session, item: ReportInput, settings: PublicSettings, *, store_dir: Path,
                  bbox: tuple[float, float, float, float]) -> PublicReport:  # fmt: skip
    """Receive a report: checked, photos re-encoded into the file store, placed in its area and basin.

    Raises:
        InvalidInput: every mistake at once (no description or too long, no position or one outside the
            deployment's territory ``bbox``, too many or too large photos, a file that is not a photo).
    """
    problems: list[FieldError] = []
    description = (item.description or "").strip()
    if not description:
        problems.append(FieldError("description", "say what you saw", "required"))
    elif len(description) > settings.max_description_chars:
        problems.append(FieldError("description", f"at most {settings.max_description_chars} characters",
                                   "too_long", {"high": settings.max_description_chars}))  # fmt: skip
    lon, lat = item.lon, item.lat
    if lon is None or lat is None or not (math.isfinite(lon) and math.isfinite(lat)):
        problems.append(FieldError("location", "give the position: your phone's, or a point on the map", "required"))
    elif not (bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]):
        problems.append(FieldError("location", "the position is outside the area this service covers",
                                   "outside_region"))  # fmt: skip
    contact = (item.contact or "").strip() or None
    if contact is not None and len(contact) > 128:
        problems.append(FieldError("contact", "at most 128 characters", "too_long", {"high": 128}))
    if item.location_source not in ("gps", "map"):
        problems.append(FieldError("location", "the position is from the phone (gps) or the map", "choice"))
    if len(item.photos) > settings.max_photos:
        problems.append(FieldError("photos", f"at most {settings.max_photos} photos", "too_many",
                                   {"high": settings.max_photos}))  # fmt: skip
    cleaned = []
    for photo in item.photos[: settings.max_photos]:
        if len(photo.data) > settings.max_photo_bytes:
            problems.append(FieldError("photos", f"{photo.name[:80]} is larger than "
                                       f"{settings.max_photo_bytes // (1024 * 1024)} MB", "too_large",
                                       {"name": photo.name[:80], "high": settings.max_photo_bytes // (1024 * 1024)}))
            continue
        try:
            cleaned.append(clean_photo(photo.data, photo.name, max_px=settings.photo_max_px))
        except InvalidInput as err:
            reason = str(err.params.get("reason") or "not_photo")
            params: dict[str, str | int | float] = {"name": photo.name[:80]}
            if reason == "too_many_pixels":
                params["high"] = MAX_PIXELS // 1_000_000
            problems.append(FieldError("photos", err.message, reason, params))
    if problems or lon is None or lat is None:
        raise InvalidInput.of(problems)
    point = f"SRID={CGCS2000};POINT({lon!r} {lat!r})"
    area_id = session.scalar(text(
        "SELECT id FROM admin_areas WHERE ST_Contains(geom, ST_GeomFromEWKT(:p)) "
        "ORDER BY CASE level WHEN 'county' THEN 0 WHEN 'city' THEN 1 ELSE 2 END LIMIT 1"), {"p": point})  # fmt: skip
    basin_id = session.scalar(text("SELECT id FROM basins WHERE level = 'basin' AND ST_Contains(geom, "
                                   "ST_GeomFromEWKT(:p)) LIMIT 1"), {"p": point})  # fmt: skip
    report = PublicReport(receipt=_receipt(), status=ReportStatus.RECEIVED, description=description, geom=point,
                          location_source=item.location_source, contact=contact,
                          outfall_ref=(item.outfall_ref or "").strip()[:16] or None, admin_area_id=area_id,
                          basin_id=basin_id, version=1)  # fmt: skip
    session.add(report)
    session.flush()
    store = FileStore(store_dir)
    for clean in cleaned:
        stored = store.put(BytesIO(clean.data))
        session.add(PublicReportPhoto(report_id=report.id, sha256=stored.sha256, size_bytes=stored.size_bytes,
                                      taken_at=clean.taken_at, lon=clean.lon, lat=clean.lat))  # fmt: skip
    _event(session, report, "received", "public", photos=len(cleaned), location_source=item.location_source)
    session.flush()
    return report


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the receipt page tells the citizen (nothing personal, nothing of other reports)."""

    receipt: str
    status: ReportStatus
    received_at: datetime
    outfall_ref: str | None  # the public page of the outfall it concerns, once confirmed


def report_receipt(session: Session, receipt: str) -> Receipt:
    """The state of the report with this receipt; a candidate's fate shows through (confirmed, not an outfall).

    Raises:
        NotFound: no report has this receipt.
    """
    report = session.scalar(select(PublicReport).where(PublicReport.receipt == receipt.strip().upper()[:16]))
    if report is None:
        raise NotFound("no report has this receipt", entity="report")
    status, ref = report.status, None
    if report.outfall_id is not None:
        outfall = session.get(Outfall, report.outfall_id)
        if outfall is not None and status in (ReportStatus.CHECKING, ReportStatus.CONFIRMED):
            if outfall.status is OutfallStatus.REJECTED:
                status = ReportStatus.NOT_OUTFALL
            elif outfall.status is OutfallStatus.MERGED:
                status = ReportStatus.DUPLICATE
            elif outfall.status is not OutfallStatus.CANDIDATE:
                status, ref = ReportStatus.CONFIRMED, outfall.public_ref
    return Receipt(report.receipt, status, report.received_at, ref)


def _in_scope(scope: Scope) -> list[ColumnElement[bool]]:
    """Reports lie in the scope's areas (and basins): the officers of the area where a report lies see it."""
    if scope.is_national:
        return []
    if not scope.area_codes:
        return [false()]
    areas = select(AdminArea.id).where(or_(*(AdminArea.code.like(area_prefix(c) + "%") for c in scope.area_codes)))
    cond: list[ColumnElement[bool]] = [PublicReport.admin_area_id.in_(areas)]
    if scope.basin_codes:
        basins = select(Basin.id).where(Basin.code.in_(scope.basin_codes))
        cond.append(PublicReport.basin_id.in_(basins))
    return cond


@dataclass(frozen=True, slots=True)
class QueuedReport:
    """A report as the officers' queue lists it."""

    report: PublicReport
    area: str | None
    lon: float
    lat: float
    photos: list[int] = field(default_factory=list)  # photo ids
    events: list[PublicReportEvent] = field(default_factory=list)


def report_queue(session: Session, *, scope: Scope, status: ReportStatus | None = ReportStatus.RECEIVED,
                 limit: int = 200) -> list[QueuedReport]:  # fmt: skip
    """The reports of the scope's areas (open ones by default), newest first."""
    query = (select(PublicReport, AdminArea.name, text("ST_X(public_reports.geom)"), text("ST_Y(public_reports.geom)"))
             .outerjoin(AdminArea, AdminArea.id == PublicReport.admin_area_id).where(*_in_scope(scope))
             .order_by(PublicReport.received_at.desc(), PublicReport.id.desc()).limit(limit))  # fmt: skip
    if status is not None:
        query = query.where(PublicReport.status == status)
    rows = session.execute(query).all()
    photos: dict[int, list[int]] = {}
    for pid, rid in session.execute(select(PublicReportPhoto.id, PublicReportPhoto.report_id).where(
            PublicReportPhoto.report_id.in_([r[0].id for r in rows])).order_by(PublicReportPhoto.id)):  # fmt: skip
        photos.setdefault(rid, []).append(pid)
    return [QueuedReport(r, area, float(x), float(y), photos.get(r.id, [])) for r, area, x, y in rows]


def get_report(session: Session, report_id: int, *, scope: Scope) -> QueuedReport:
    """One report of the scope with its photos and steps.

    Raises:
        NotFound: no such report in ``scope``.
    """
    row = session.execute(
        select(PublicReport, AdminArea.name, text("ST_X(public_reports.geom)"), text("ST_Y(public_reports.geom)"))
        .outerjoin(AdminArea, AdminArea.id == PublicReport.admin_area_id)
        .where(PublicReport.id == report_id, *_in_scope(scope))
    ).first()
    if row is None:
        raise NotFound("report does not exist", entity="report", id=report_id)
    report, area, x, y = row
    photos = list(session.scalars(select(PublicReportPhoto.id).where(PublicReportPhoto.report_id == report.id)
                                  .order_by(PublicReportPhoto.id)))  # fmt: skip
    events = list(session.scalars(select(PublicReportEvent).where(PublicReportEvent.report_id == report.id)
                                  .order_by(PublicReportEvent.id)))  # fmt: skip
    return QueuedReport(report, area, float(x), float(y), photos, events)


NEARBY_M = 500.0  # how far from the report's point an officer is offered outfalls to link it to


@dataclass(frozen=True, slots=True)
class NearbyOutfall:
    """An outfall a report may concern, as the officer chooses it: by name and code, not by internal number."""

    id: int
    name: str
    code: str | None  # the national code, else the local one
    public_ref: str
    status: OutfallStatus
    distance_m: float
    cited: bool  # the citizen reported it from this outfall's public page or sign board


def nearby_outfalls(session: Session, item: QueuedReport, *, scope: Scope, radius_m: float = NEARBY_M,
                    limit: int = 8) -> list[NearbyOutfall]:  # fmt: skip
    """The outfalls of ``scope`` the report may concern: the one whose public page it was sent from first, then
    the nearest within ``radius_m`` metres of the report's point; never a rejected or merged one.
    """
    point = f"SRID={CGCS2000};POINT({item.lon!r} {item.lat!r})"
    cited = (item.report.outfall_ref or "").strip().lower()
    here = func.geography(func.ST_GeomFromEWKT(point))
    distance = func.ST_Distance(func.geography(Outfall.geom), here, type_=Float).label("d")
    near = func.ST_DWithin(func.geography(Outfall.geom), here, radius_m)
    is_cited = Outfall.public_ref == cited
    rows = session.execute(
        select(Outfall.id, Outfall.name, Outfall.national_code, Outfall.local_code, Outfall.public_ref,
               Outfall.status, distance)
        .where(or_(near, is_cited) if cited else near, *scope.conditions(),
               Outfall.status.not_in((OutfallStatus.REJECTED, OutfallStatus.MERGED)))
        .order_by(is_cited.desc() if cited else Outfall.id.is_(None), distance, Outfall.id)
        .limit(limit)
    ).all()  # fmt: skip
    return [NearbyOutfall(r.id, r.name, r.national_code or r.local_code, r.public_ref, r.status, float(r.d),
                          bool(cited) and r.public_ref == cited) for r in rows]  # fmt: skip


def find_outfall(session: Session, given: str, *, scope: Scope) -> int:
    """The id of the outfall of ``scope`` an officer names by its national or local code, its public code (the
    sign board's), or its number in the catalogue.

    Raises:
        InvalidInput: nothing given, or several outfalls carry that local code (``field="outfall"``).
        NotFound: no outfall of the scope carries it.
    """
    value = given.strip()
    if not value:
        raise InvalidInput("choose the outfall the report concerns, or give its code", field="outfall",
                           reason="required")  # fmt: skip
    named = [Outfall.national_code == value, Outfall.local_code == value, Outfall.public_ref == value.lower()]
    if value.isdigit() and len(value) < 12:
        named.append(Outfall.id == int(value))
    found = list(session.scalars(select(Outfall.id).where(or_(*named), *scope.conditions()).limit(2)))
    if not found:
        raise NotFound(f"no outfall of your area has the code {value[:40]!r}", entity="outfall", ref=value[:40])
    if len(found) > 1:
        raise InvalidInput(f"several outfalls carry the code {value[:40]!r}: give the national code",
                           field="outfall", reason="ambiguous", value=value[:40])  # fmt: skip
    return found[0]


def report_photo(session: Session, report_id: int, photo_id: int, *, scope: Scope) -> PublicReportPhoto:
    """A photo of a report of the scope.

    Raises:
        NotFound: no such report or photo in ``scope``.
    """
    get_report(session, report_id, scope=scope)
    photo = session.get(PublicReportPhoto, photo_id)
    if photo is None or photo.report_id != report_id:
        raise NotFound("photo does not exist", entity="photo", id=photo_id)
    return photo


def _open_report(session: Session, report_id: int, scope: Scope, expected_version: int) -> PublicReport:
    report = get_report(session, report_id, scope=scope).report
    if report.version != expected_version:
        raise StaleEdit("the report was handled by someone else meanwhile; reload it", id=report_id,
                        current=report.version)  # fmt: skip
    if report.status not in OPEN:
        raise InvalidTransition(f"the report is already {report.status.value}", status=report.status.value)
    return report


def link_report(session: Session, report_id: int, outfall_id: int, *, actor: str, scope: Scope,
                expected_version: int) -> PublicReport:  # fmt: skip
    """The report concerns a known outfall: the outfall's history records it (``report_linked``).

    Raises:
        NotFound: no such report or outfall in ``scope``.
        StaleEdit: the report changed since ``expected_version``.
        InvalidTransition: the report is no longer open, or the outfall was rejected or merged away.
    """
    report = _open_report(session, report_id, scope, expected_version)
    require_visible(session, outfall_id, scope)
    outfall = session.get(Outfall, outfall_id)
    if outfall is None:
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    record_event(session, outfall_id, EventKind.REPORT_LINKED, actor=actor, scope=scope,
                 expected_version=outfall.version, payload={"report": report.receipt,
                                                            "description": report.description[:500]})  # fmt: skip
    report.status, report.outfall_id = ReportStatus.CONFIRMED, outfall_id
    _event(session, report, "linked", actor, outfall_id=outfall_id)
    session.flush()
    return report


def report_to_candidate(session: Session, report_id: int, *, actor: str, scope: Scope,
                        expected_version: int) -> Outfall:  # fmt: skip
    """Turn the report into a candidate outfall for a crew to verify, found by public report (its own provenance
    in the yield statistics); the report's photos go with it.

    Raises:
        NotFound: no such report in ``scope``.
        StaleEdit: the report changed since ``expected_version``.
        InvalidTransition: the report is no longer open.
    """
    report = _open_report(session, report_id, scope, expected_version)
    detail = get_report(session, report_id, scope=scope)
    (oid,) = create_outfalls(session, [NewOutfall(
        lonlat=(detail.lon, detail.lat), name=f"公众举报{report.receipt}", name_provenance=CodeProvenance.UNKNOWN,
        type_code=UNKNOWN_TYPE, type_raw=report.description[:500], found_by=SurveyLevel.PUBLIC,
        found_on=clock.day_of(report.received_at))], actor=actor)  # fmt: skip
    outfall = session.get(Outfall, oid)
    if outfall is None:
        raise NotFound("outfall does not exist", entity="outfall", id=oid)
    for photo in session.scalars(select(PublicReportPhoto).where(PublicReportPhoto.report_id == report.id)):
        session.add(Attachment(sha256=photo.sha256, size_bytes=photo.size_bytes, media_type="image/jpeg",
                               original_name=f"report-{report.receipt}-{photo.id}.jpg", kind="photo",
                               outfall_id=oid, created_by=actor, meta={"public_report": report.receipt}))  # fmt: skip
    report.status, report.outfall_id = ReportStatus.CHECKING, oid
    _event(session, report, "candidate", actor, outfall_id=oid)
    session.flush()
    return outfall


def close_report(session: Session, report_id: int, reason: ReportStatus, *, note: str | None, actor: str,
                 scope: Scope, expected_version: int) -> PublicReport:  # fmt: skip
    """Close the report: not an outfall, or a duplicate of another report; ``note`` says why.

    Raises:
        NotFound: no such report in ``scope``.
        InvalidInput: a reason other than not_outfall or duplicate.
        StaleEdit: the report changed since ``expected_version``.
        InvalidTransition: the report is no longer open.
    """
    if reason not in CLOSE_REASONS:
        raise InvalidInput("close a report as not an outfall or a duplicate", field="reason", reason="choice")
    report = _open_report(session, report_id, scope, expected_version)
    report.status, report.close_reason = reason, (note or "").strip()[:2000] or None
    _event(session, report, "closed", actor, reason=reason.value, note=report.close_reason)
    session.flush()
    return report
