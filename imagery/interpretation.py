"""Marks on the imagery and their review: an analyst draws suspected outfalls (points: type guess, confidence,
note) and sensitive areas (敏感区域, polygons: bridges, docks, woods, industrial parks) in their cell, on the newest
orthophoto under the mark; a reviewer who is not the analyst accepts, edits or rejects (with a reason) each one.
An accepted point becomes a candidate outfall found by drone. Agreement is reported per analyst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely import Point, Polygon
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from imagery.cells import get_cell
from imagery.models import CellStatus, ImageryMark, InterpretationCell, MarkKind, MarkReview, Orthophoto
from imagery.scope import cell_conditions, mark_conditions, sql_filter
from outfalls import clock
from outfalls.catalogue.lifecycle import NewOutfall, create_outfalls
from outfalls.errors import Conflict, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from outfalls.models import CodeListEntry
from outfalls.scope import Scope
from outfalls.types import CGCS2000, SurveyLevel

CONFIDENCE = ("low", "medium", "high")
AREA_KINDS = ("bridge", "dock", "woods", "industrial", "tidal_flat", "other")
UNKNOWN_TYPE_CODE = "9"  # HJ 1312-2023: 暂无法确定


@dataclass(frozen=True, slots=True)
class MarkInput:
    """What an analyst (or a reviewer's edit) gives for a mark; geometry as GeoJSON in lon/lat."""

    geometry: dict[str, Any]
    type_guess: str | None = None
    confidence: str | None = None
    area_kind: str | None = None
    note: str | None = None


def _geometry(kind: MarkKind, geojson: dict[str, Any]) -> BaseGeometry:
    try:
        geom = shape(geojson)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as err:
        raise InvalidInput("the mark's geometry is not valid GeoJSON", field="geometry") from err
    want = Point if kind is MarkKind.POINT else Polygon
    if not isinstance(geom, want) or geom.is_empty:
        raise InvalidInput(f"a {kind.value} mark needs a {want.__name__} geometry, not {geom.geom_type}",
                           field="geometry")  # fmt: skip
    if isinstance(geom, Polygon) and (not geom.is_valid or geom.area == 0):
        raise InvalidInput("the area's outline crosses itself or has no area", field="geometry")
    lon_w, lat_s, lon_e, lat_n = geom.bounds
    if not (-180 <= lon_w <= lon_e <= 180 and -90 <= lat_s <= lat_n <= 90):
        raise InvalidInput("the mark's coordinates are outside the valid range", field="geometry")
    return geom


def _check_values(kind: MarkKind, values: MarkInput) -> None:
    if values.confidence is not None and values.confidence not in CONFIDENCE:
        raise InvalidInput(f"confidence must be one of {', '.join(CONFIDENCE)}", field="confidence")
    if kind is MarkKind.AREA and values.area_kind is not None and values.area_kind not in AREA_KINDS:
        raise InvalidInput(f"area kind must be one of {', '.join(AREA_KINDS)}", field="area_kind")


def _check_type(session: Session, code: str | None) -> str | None:
    code = (code or "").strip() or None
    if code is not None:
        known = session.scalar(text("SELECT 1 FROM code_lists WHERE scheme = 'HJ1312' AND code = :c"), {"c": code})
        if known is None:
            raise InvalidInput(f"unknown outfall type {code!r} in code list HJ1312", field="type_guess", value=code)
    return code


_UNDER = text(
    """
    SELECT id FROM orthophotos WHERE ST_Intersects(footprint, ST_GeomFromEWKT(:g))
    ORDER BY captured_on DESC NULLS LAST, id DESC LIMIT 1
    """
)
_INSIDE = text("SELECT ST_Intersects(geom, ST_GeomFromEWKT(:g)) FROM interpretation_cells WHERE id = :cell")


def _orthophoto_under(session: Session, geom: BaseGeometry) -> int:
    found = session.scalar(_UNDER, {"g": f"SRID={CGCS2000};{geom.wkt}"})
    if found is None:
        raise InvalidInput("there is no imagery under this mark", field="geometry")
    return int(found)


def _editable_by_author(session: Session, mark_id: int, actor: str, scope: Scope) -> ImageryMark:
    mark = get_mark(session, mark_id, scope=scope)
    if mark.author != actor:
        raise PermissionDenied("analysts change only their own marks", id=mark_id)
    if mark.review is not MarkReview.PENDING or mark.cell.status not in (CellStatus.IN_PROGRESS, CellStatus.DONE):
        raise InvalidTransition("the mark was already reviewed", id=mark_id)
    return mark


def get_mark(session: Session, mark_id: int, *, scope: Scope) -> ImageryMark:
    """A mark by id, within ``scope``.

    Raises:
        NotFound: no such mark, or one in a cell outside the scope.
    """
    mark = session.scalar(select(ImageryMark).where(ImageryMark.id == mark_id, *mark_conditions(scope)))
    if mark is None:
        raise NotFound("mark does not exist", entity="mark", id=mark_id)
    return mark


def add_mark(session: Session, cell_id: int, kind: MarkKind, values: MarkInput, *, actor: str,
             scope: Scope) -> ImageryMark:  # fmt: skip
    """Draw a mark in a cell the analyst is working on; it records the orthophoto under it (the newest).

    Raises:
        NotFound: no such cell in ``scope``. PermissionDenied: not the cell's analyst.
        InvalidTransition: the cell is not in progress.
        InvalidInput: a geometry of the wrong kind, outside the cell or without imagery; a bad value.
    """
    cell = get_cell(session, cell_id, scope=scope)
    if cell.analyst != actor:
        raise PermissionDenied("analysts mark only the cells they work on", id=cell_id)
    if cell.status is not CellStatus.IN_PROGRESS:
        raise InvalidTransition(f"the cell is {cell.status.value}: marks are drawn while it is in progress",
                                status=cell.status.value)  # fmt: skip
    geom = _geometry(kind, values.geometry)
    _check_values(kind, values)
    if not session.scalar(_INSIDE, {"g": f"SRID={CGCS2000};{geom.wkt}", "cell": cell_id}):
        raise InvalidInput("the mark lies outside the cell", field="geometry")
    orthophoto_id = _orthophoto_under(session, geom)
    mark = ImageryMark(
        cell_id=cell_id, kind=kind, geom=from_shape(geom, srid=CGCS2000), orthophoto_id=orthophoto_id,
        type_guess=_check_type(session, values.type_guess) if kind is MarkKind.POINT else None,
        confidence=values.confidence, area_kind=values.area_kind if kind is MarkKind.AREA else None,
        note=(values.note or "").strip() or None, author=actor, review=MarkReview.PENDING,
    )  # fmt: skip
    session.add(mark)
    session.flush()
    return mark


def update_mark(session: Session, mark_id: int, values: MarkInput, *, actor: str, scope: Scope) -> ImageryMark:
    """Change one's own mark before it is reviewed.

    Raises:
        NotFound, PermissionDenied, InvalidTransition, InvalidInput: as ``add_mark``.
    """
    mark = _editable_by_author(session, mark_id, actor, scope)
    _apply(session, mark, values)
    return mark


def _apply(session: Session, mark: ImageryMark, values: MarkInput) -> None:
    geom = _geometry(mark.kind, values.geometry)
    _check_values(mark.kind, values)
    mark.geom = from_shape(geom, srid=CGCS2000)
    mark.orthophoto_id = _orthophoto_under(session, geom)
    if mark.kind is MarkKind.POINT:
        mark.type_guess = _check_type(session, values.type_guess)
    else:
        mark.area_kind = values.area_kind
    mark.confidence = values.confidence
    mark.note = (values.note or "").strip() or None
    mark.updated_at = datetime.now(UTC)
    session.flush()


def delete_mark(session: Session, mark_id: int, *, actor: str, scope: Scope) -> None:
    """Delete one's own mark before it is reviewed.

    Raises:
        NotFound, PermissionDenied, InvalidTransition: as ``update_mark``.
    """
    mark = _editable_by_author(session, mark_id, actor, scope)
    session.delete(mark)
    session.flush()


def mark_dict(mark: ImageryMark) -> dict[str, Any]:
    """A mark as a GeoJSON feature."""
    return {
        "type": "Feature",
        "id": mark.id,
        "geometry": mapping(to_shape(mark.geom)),
        "properties": {
            "id": mark.id, "kind": mark.kind.value, "cell_id": mark.cell_id, "orthophoto_id": mark.orthophoto_id,
            "type_guess": mark.type_guess, "confidence": mark.confidence, "area_kind": mark.area_kind,
            "note": mark.note, "author": mark.author, "review": mark.review.value, "review_reason": mark.review_reason,
            "reviewed_by": mark.reviewed_by, "outfall_id": mark.outfall_id, "version": mark.version,
        },
    }  # fmt: skip


def cell_marks(session: Session, cell_id: int, *, scope: Scope) -> list[ImageryMark]:
    """The marks of a cell, oldest first.

    Raises:
        NotFound: no such cell in ``scope``.
    """
    get_cell(session, cell_id, scope=scope)
    return list(session.scalars(select(ImageryMark).where(ImageryMark.cell_id == cell_id).order_by(ImageryMark.id)))


def review_mark(session: Session, mark_id: int, decision: str, *, actor: str, scope: Scope,
                reason: str | None = None, edit: MarkInput | None = None) -> ImageryMark:  # fmt: skip
    """Accept, edit (accept with changes) or reject a mark. An accepted suspected outfall becomes a candidate
    outfall (state ``candidate``, found by drone) on the day the image was taken.

    Raises:
        NotFound: no such mark in ``scope``. PermissionDenied: the reviewer drew the mark.
        InvalidTransition: the cell is not done yet. Conflict: the mark was already decided.
        InvalidInput: an unknown decision, a rejection without a reason, an edit without values.
    """
    if decision not in ("accept", "edit", "reject"):
        raise InvalidInput("the decision is accept, edit or reject", field="decision", value=decision)
    mark = get_mark(session, mark_id, scope=scope)
    if mark.author == actor:
        raise PermissionDenied("a mark is reviewed by someone other than its analyst", id=mark_id)
    if mark.cell.status is not CellStatus.DONE:
        raise InvalidTransition("marks are reviewed once the analyst has finished the cell",
                                status=mark.cell.status.value)  # fmt: skip
    if mark.review is not MarkReview.PENDING:
        raise Conflict(f"the mark was already {mark.review.value} by {mark.reviewed_by}", id=mark_id)
    if decision == "reject":
        if not (reason or "").strip():
            raise InvalidInput("say why the mark is rejected", field="reason")
        mark.review = MarkReview.REJECTED
    elif decision == "edit":
        if edit is None:
            raise InvalidInput("an edit needs the changed mark", field="geometry")
        mark.original = mark_dict(mark)
        _apply(session, mark, edit)
        mark.review = MarkReview.EDITED
    else:
        mark.review = MarkReview.ACCEPTED
    mark.review_reason = (reason or "").strip() or None
    mark.reviewed_by, mark.reviewed_at = actor, datetime.now(UTC)
    if mark.review is not MarkReview.REJECTED and mark.kind is MarkKind.POINT:
        mark.outfall_id = _candidate(session, mark, actor)
    session.flush()
    return mark


def _candidate(session: Session, mark: ImageryMark, actor: str) -> int:
    point = to_shape(mark.geom)
    photo = session.get(Orthophoto, mark.orthophoto_id) if mark.orthophoto_id else None
    found_on = (photo.captured_on if photo else None) or clock.today()
    [outfall_id] = create_outfalls(session, [NewOutfall(
        lonlat=(point.x, point.y), name=f"无人机疑似排口 {mark.cell_id}-{mark.id}", type_code=mark.type_guess or
        UNKNOWN_TYPE_CODE, found_by=SurveyLevel.DRONE, found_on=found_on,
    )], actor=actor)  # fmt: skip
    return outfall_id


@dataclass(frozen=True, slots=True)
class Agreement:
    """How often a reviewer agreed with an analyst's marks."""

    analyst: str
    marks: int
    reviewed: int
    accepted: int
    edited: int
    rejected: int

    @property
    def agreement(self) -> float | None:
        """Share of reviewed marks accepted unchanged (None before any review)."""
        return round(self.accepted / self.reviewed, 3) if self.reviewed else None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {"analyst": self.analyst, "marks": self.marks, "reviewed": self.reviewed, "accepted": self.accepted,
                "edited": self.edited, "rejected": self.rejected, "agreement": self.agreement}  # fmt: skip


_AGREEMENT = """
    SELECT author, count(*) AS marks, count(*) FILTER (WHERE review <> 'pending') AS reviewed,
           count(*) FILTER (WHERE review = 'accepted') AS accepted, count(*) FILTER (WHERE review = 'edited') AS edited,
           count(*) FILTER (WHERE review = 'rejected') AS rejected
    FROM imagery_marks WHERE {scope} GROUP BY author ORDER BY author
"""


def agreement_by_analyst(session: Session, *, scope: Scope) -> list[Agreement]:
    """Marks (in the cells of ``scope``), decisions and the share accepted unchanged, per analyst."""
    where = sql_filter("id", select(ImageryMark.id).where(*mark_conditions(scope)), is_national=scope.is_national)
    return [
        Agreement(r.author, r.marks, r.reviewed, r.accepted, r.edited, r.rejected)
        for r in session.execute(text(_AGREEMENT.format(scope=where)))
    ]


def cells_to_review(session: Session, *, reviewer: str, scope: Scope) -> list[InterpretationCell]:
    """Done cells of ``scope`` waiting for review by someone other than their analyst."""
    return list(session.scalars(
        select(InterpretationCell).where(InterpretationCell.status == CellStatus.DONE,
                                         InterpretationCell.analyst != reviewer, *cell_conditions(scope))
        .order_by(InterpretationCell.done_at)
    ))  # fmt: skip


@dataclass(frozen=True, slots=True)
class TypeChoice:
    """An HJ 1312 outfall type (一级) an analyst can guess."""

    code: str
    label_zh: str
    label_en: str


def type_choices(session: Session) -> list[TypeChoice]:
    """The HJ 1312 一级 types offered for a suspected outfall, by code."""
    rows = session.execute(
        select(CodeListEntry.code, CodeListEntry.label_zh, CodeListEntry.label_en)
        .where(CodeListEntry.scheme == "HJ1312", CodeListEntry.level <= 1)
        .order_by(CodeListEntry.code)
    )
    return [TypeChoice(code, zh, en) for code, zh, en in rows]
