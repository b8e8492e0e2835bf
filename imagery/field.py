"""The crews' phone app and the drone candidates: the open verification tasks a crew takes offline (each
candidate with its mark, type guess, note and a small clip of the orthophoto around it), and the records that
decide a candidate on the spot. A confirmation goes through the survey intake and becomes the candidate's
verification (``reconcile_batch``'s ``verifies``); "not an outfall" rejects it as ``reject_candidate`` does. A
candidate decided by someone else meanwhile, or changed since the download, makes the record a conflict: kept as an
observation in the review queue. Every phone record is received here (``sync_record``), the catalogue-only ones
through ``outfalls.field.sync``.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagery.candidates import candidate_of, list_tasks, reject_candidate, still_candidate, task_stops
from imagery.tiles import TRANSPARENT_PNG, tile_png
from outfalls import clock
from outfalls.config import Settings
from outfalls.errors import InvalidInput, NotFound, PermissionDenied
from outfalls.field.records import FieldRecordIn, PhotoSlot, RecordKind, parse_record
from outfalls.field.sync import (
    ACCEPTED,
    SyncResult,
    apply_catalogue_record,
    attach_staged,
    changed_since,
    intake,
    keep,
    photo_stream,
    received,
    staged_photos,
)
from outfalls.models import Outfall
from outfalls.scope import Scope
from outfalls.store import FileStore
from outfalls.survey.reconcile import Held
from outfalls.types import ReviewReason

CLIP_ZOOM = 19  # about 0.25 m a pixel at 35°N: a 256-pixel clip shows some 65 m around the mark


def sync_record(session: Session, store: FileStore, body: Any, *, settings: Settings, actor: str,
                scope: Scope) -> SyncResult:  # fmt: skip
    """Receive one phone record: the answer kept for its id when it was received before, else apply it and keep
    it with its answer (the caller commits both together).

    Raises:
        InvalidInput: the record is refused, with every problem (nothing is kept: mend it and resend it).
        NotFound: its outfall is not in ``scope``. PermissionDenied: a candidate record for an outfall that is no
            drone candidate.
    """
    record = parse_record(body)
    before = received(session, record, actor=actor)
    if before is not None:
        return before
    if record.kind in (RecordKind.VERIFY, RecordKind.REJECT):
        result = apply_candidate_record(session, store, record, settings=settings, actor=actor, scope=scope)
    else:
        result = apply_catalogue_record(session, store, record, settings=settings, actor=actor, scope=scope)
    return keep(session, record, result, actor=actor)


def apply_candidate_record(session: Session, store: FileStore, record: FieldRecordIn, *, settings: Settings,
                           actor: str, scope: Scope) -> SyncResult:  # fmt: skip
    """Confirm a drone candidate with the field record, or reject it as "not an outfall" with a photo.

    Raises:
        NotFound: no such outfall in ``scope``. PermissionDenied: not a drone candidate.
        InvalidInput: refused by the intake (every problem), or a photo has not arrived.
    """
    outfall = session.scalar(select(Outfall).where(Outfall.id == record.outfall_id, *scope.one_row_conditions())
                             .with_for_update())  # fmt: skip
    if outfall is None:
        raise NotFound("outfall does not exist", entity="outfall", id=record.outfall_id or 0)
    mark = candidate_of(session, outfall.id)
    if mark is None:
        raise PermissionDenied("only a drone candidate is verified or rejected this way", id=outfall.id)
    held = changed_since(session, outfall, record)
    if not still_candidate(outfall):
        decided = f"candidate {outfall.name} was decided ({outfall.status.value}) before this record arrived"
        held = Held(ReviewReason.FIELD_CONFLICT, (outfall.id,), decided)
    about = {"核查候选": outfall.id, "航测标记": mark.id}
    if record.kind is RecordKind.VERIFY:
        return intake(session, store, record, settings=settings, actor=actor, scope=scope,
                      verifies=None if held else outfall.id, held=held,
                      extra=about | {"记录类型": "候选核查"})  # fmt: skip
    reason = record.text("reason") or ""
    if held is not None:
        return intake(session, store, record, settings=settings, actor=actor, scope=scope, held=held,
                      extra=about | {"记录类型": "非排污口", "排污口名称": outfall.name, "备注": reason})  # fmt: skip
    photos = staged_photos(session, record, actor=actor)
    site = next((p for p in photos if p.slot == PhotoSlot.SITE.value), None)
    if site is None:
        raise InvalidInput("a photo of the place is needed", field="photos")
    with photo_stream(store, site) as stream:
        attachment = reject_candidate(session, store, outfall.id, stream, site.file_name, reason=reason, actor=actor,
                                      scope=scope, on=clock.day_of(record.captured_at))  # fmt: skip
    site.attachment_id = attachment.id
    others = attach_staged(session, store, [p for p in photos if p is not site], actor=actor, scope=scope,
                           outfall_id=outfall.id)  # fmt: skip
    return SyncResult(record.client_id, record.kind.value, ACCEPTED, f"candidate {outfall.id} rejected: not an outfall",
                      outfall_id=outfall.id, photos=others + 1, details={"rejected": True})  # fmt: skip


# --- what goes offline ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clip:
    """A small orthophoto PNG around a candidate and where the mark sits in it (pixels from the top left)."""

    data_uri: str
    x_px: int
    y_px: int


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    """The web-map tile holding the point, and the point's pixel in it."""
    n = 2**z
    fx = (lon + 180.0) / 360.0 * n
    fy = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    x, y = int(fx), int(fy)
    return x, y, int((fx - x) * 256), int((fy - y) * 256)


def candidate_clip(session: Session, lon: float, lat: float, *, store_dir: Path, cache_dir: Path) -> Clip | None:
    """The orthophoto tile around a candidate at full resolution, or None where no orthophoto covers it."""
    x, y, px, py = _tile_of(lon, lat, CLIP_ZOOM)
    png = tile_png(session, CLIP_ZOOM, x, y, store_dir=store_dir, cache_dir=cache_dir)
    if png == TRANSPARENT_PNG:
        return None
    return Clip("data:image/png;base64," + base64.b64encode(png).decode("ascii"), px, py)


def crew_tasks(session: Session, *, crew: str, scope: Scope, settings: Settings) -> list[dict[str, Any]]:
    """The crew's tasks with stops still open: each candidate with its mark, type guess, note, version and clip."""
    out = []
    versions: dict[int, int] = {}
    for task, _stops, pending in list_tasks(session, scope=scope, crew=crew):
        if not pending:
            continue
        stops = task_stops(session, task.id)
        ids = [s.outfall_id for s in stops if s.outfall_id is not None]
        rows = session.execute(select(Outfall.id, Outfall.version).where(Outfall.id.in_(ids)))
        versions.update({i: v for i, v in rows})
        items = []
        for s in stops:
            if s.kind != "point" or s.status != "candidate" or s.outfall_id is None:
                continue
            clip = candidate_clip(session, s.lon, s.lat, store_dir=settings.imagery.store_dir,
                                  cache_dir=settings.imagery.tile_cache_dir)  # fmt: skip
            items.append(s.as_dict() | {"version": versions.get(s.outfall_id),
                                        "clip": None if clip is None else {"src": clip.data_uri, "x": clip.x_px,
                                                                           "y": clip.y_px}})  # fmt: skip
        out.append({"id": task.id, "name": task.name, "stops": items})
    return out
