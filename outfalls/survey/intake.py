"""Importing a survey table: validate every row, store the valid new rows as immutable observations in one
batch, reconcile them into outfalls, attach the photos that came with them, and report row by row.

All of it happens on the caller's transaction: the caller commits once, so an import that fails (or a process
that is killed) leaves nothing behind, and rejected rows never touch the database. Rows received before (same
client id — or, without one, the same content) are counted as already received and add nothing; a row whose
client id was received before with other content (its position as written or any of its values) is rejected
as ``conflicting_resend`` and the record first received stays as it was. The datum declared for an upload is
the uploader's reading of the file, not part of a record.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import String, any_, cast, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from outfalls.config import Settings
from outfalls.db.bulk import copy_lines
from outfalls.errors import InvalidInput
from outfalls.models import CodeListEntry, Observation, ObservationBatch, Outfall
from outfalls.scope import Scope, area_prefix
from outfalls.survey.mapping import ColumnMapping, require_position
from outfalls.survey.readers import RawTable
from outfalls.survey.reconcile import Held, Reconciliation, reconcile_batch
from outfalls.survey.validate import RowProblem, SurveyRow, TypeResolver, validate
from outfalls.types import CGCS2000, ObservationSource

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(slots=True)
class ImportReport:
    """What an import did; ``as_dict`` is the ``--json`` contract of ``outfalls survey import``."""

    batch_id: int | None
    rows: int
    accepted: int
    rejected: list[RowProblem]
    already_received: int
    new_outfalls: int
    linked: int
    queued_for_review: int
    warnings: list[RowProblem] = field(default_factory=list)
    source: str = ""
    crs: str = ""
    notes: list[str] = field(default_factory=list)
    photos: dict[str, int] = field(default_factory=dict)  # attached / unmatched / ambiguous / unreadable
    photo_problems: list[dict[str, Any]] = field(default_factory=list)
    outfall_ids: list[int] = field(default_factory=list)  # new or linked, for the map

    @property
    def rejected_rows(self) -> int:
        """How many rows were rejected (a row may have several problems)."""
        return len({p.row for p in self.rejected})

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "batch_id": self.batch_id,
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": [p.as_dict() for p in self.rejected],
            "already_received": self.already_received,
            "new_outfalls": self.new_outfalls,
            "linked": self.linked,
            "queued_for_review": self.queued_for_review,
            "warnings": [p.as_dict() for p in self.warnings],
            "source": self.source,
            "crs": self.crs,
            "notes": self.notes,
            "photos": self.photos,
            "photo_problems": self.photo_problems,
            "outfall_ids": self.outfall_ids,
        }


def type_resolver(session: Session) -> TypeResolver:
    """The type vocabularies of the code lists (HJ 1312-2023 and the legacy provincial lists)."""
    rows = session.execute(select(CodeListEntry.scheme, CodeListEntry.code, CodeListEntry.label_zh,
                                  CodeListEntry.label_en))  # fmt: skip
    return TypeResolver((s, c, zh, en) for s, c, zh, en in rows)


# What the intake adds to a record's attributes; the rest is the record as the crew sent it.
_INTAKE_KEYS = frozenset({"_row", "_source", "_type"})


def _content(x: float, y: float, attributes: Mapping[str, Any]) -> tuple[float, float, Any]:
    """A record's content as sent: its position as written (a GIS file's points are not among its values) and
    its values.
    """
    values = {k: _as_sent(v) for k, v in json.loads(json.dumps(dict(attributes))).items() if k not in _INTAKE_KEYS}
    return x, y, {k: v for k, v in values.items() if v != ""}  # an empty cell and a missing one say the same


def _sent(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A record's values as stored, without what the intake adds."""
    return {k: v for k, v in attributes.items() if k not in _INTAKE_KEYS}


def _as_received(row: SurveyRow) -> tuple[float, float, dict[str, Any]] | None:
    """A text row as ``_resent`` compares it first: the same position and the same text need no reading as sent
    (None for a row with other values: ``1 == True`` in Python, not as sent).
    """
    values = _sent(row.attributes)
    if not all(v is None or v.__class__ is str for v in values.values()):
        return None
    return row.x, row.y, values


def _as_sent(value: Any) -> str:
    """A value as a person reads it: a table app writes ``1`` where a CSV holds ``"1"``, ``1.0`` for ``1``, an ISO
    moment with ``T`` where a CSV has a space; the same record re-sent from another app compares equal.
    """
    if value is None:
        return ""
    text_value = str(value).strip()
    try:
        number = float(text_value)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return str(int(number)) if number.is_integer() else repr(number)
    try:
        return datetime.fromisoformat(text_value).isoformat()
    except ValueError:
        return text_value


def _resent(session: Session, rows: list[SurveyRow]) -> tuple[list[SurveyRow], int, list[RowProblem]]:
    """Split rows whose client id was received before from the new ones.

    Returns:
        The new rows, how many were received before with the same content (already received), and a
        ``conflicting_resend`` problem for each row whose id was received before with other content.
    """
    ids = [r.client_id for r in rows]
    received = {cid: (batch_id, (x, y, _sent(attributes))) for cid, batch_id, x, y, attributes in
                session.execute(select(Observation.client_id, Observation.batch_id, Observation.orig_x,
                                       Observation.orig_y, Observation.attributes).where(
                    Observation.source_kind == ObservationSource.FOOT_SURVEY,
                    Observation.client_id == any_(cast(ids, ARRAY(String)))))}  # fmt: skip
    new, conflicts, same = [], [], 0
    for r in rows:
        if r.client_id not in received:
            new.append(r)
            continue
        batch_id, content = received[r.client_id]
        if content == _as_received(r) or _content(r.x, r.y, r.attributes) == _content(*content):
            same += 1
            continue
        where = f" in upload {batch_id}" if batch_id is not None else ""
        conflicts.append(RowProblem(r.row, "client_id", "conflicting_resend",
                                    f"record {r.client_id} was received before{where} with other content; the "
                                    "record received first is kept: give a changed record a new id",
                                    {"client_id": r.client_id, "batch_id": batch_id}))  # fmt: skip
    return new, same, conflicts


def _duplicate_codes(session: Session, rows: list[SurveyRow]) -> tuple[list[SurveyRow], list[RowProblem]]:
    """A national code given twice in the file is refused for the second row (codes are unique)."""
    seen: dict[str, int] = {}
    kept, problems = [], []
    for r in rows:
        code = r.national_code
        if code and code in seen:
            problems.append(RowProblem(r.row, "national_code", "duplicate_code",
                                       f"national code {code} is also given in row {seen[code]}",
                                       {"same_as": seen[code], "value": code}))  # fmt: skip
            continue
        if code:
            seen[code] = r.row
        kept.append(r)
    return kept, problems


_OUTSIDE_SCOPE = text(
    """
    SELECT p.i FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, i)
    WHERE NOT EXISTS (
        SELECT 1 FROM area_parts ap JOIN admin_areas a ON a.id = ap.ref_id
        WHERE ap.kind = 'admin' AND a.code LIKE ANY(CAST(:prefixes AS text[]))
          AND ST_Intersects(ap.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4490)))
    OR (CAST(:basins AS text[]) <> '{}' AND NOT EXISTS (
        SELECT 1 FROM area_parts bp JOIN basins b ON b.id = bp.ref_id
        WHERE bp.kind IN ('basin', 'sub_basin') AND b.code = ANY(CAST(:basins AS text[]))
          AND ST_Intersects(bp.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4490))))
    """
)


def _within_scope(
    session: Session, rows: list[SurveyRow], scope: Scope | None
) -> tuple[list[SurveyRow], list[RowProblem]]:
    """Rows outside a regional uploader's area are refused: they belong to another county's crews."""
    if scope is None or scope.is_national or not rows:
        return rows, []
    outside = {int(i) - 1 for i in session.scalars(_OUTSIDE_SCOPE, {
        "lons": [r.lon for r in rows], "lats": [r.lat for r in rows],
        "prefixes": [area_prefix(c) + "%" for c in scope.area_codes], "basins": list(scope.basin_codes)})}  # fmt: skip
    problems = [RowProblem(r.row, "lon", "outside_your_area",
                           f"({r.lon:.6f}, {r.lat:.6f}) is outside your area ({scope.describe()})",
                           {"scope": scope.describe()}) for i, r in enumerate(rows) if i in outside]  # fmt: skip
    return [r for i, r in enumerate(rows) if i not in outside], problems


_P = ParamSpec("_P")
_R = TypeVar("_R")
_paused = 0  # imports running with the cyclic collector paused
_pause_lock = threading.Lock()
_was_enabled = True


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while an import runs (and as it was once the last one ends): an
    import makes hundreds of thousands of rows, dicts and records that all live until it ends, and every full
    collection walks all of them again (a fifth of the import's Python time at 10^5 rows). Reference counting
    still frees everything an import drops; it makes no cycles worth collecting.
    """
    global _paused, _was_enabled
    with _pause_lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pause_lock:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()


def _with_collector_paused(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """``func`` run with the cyclic collector paused."""

    @functools.wraps(func)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _collector_paused():
            return func(*args, **kwargs)

    return paused


@_with_collector_paused
def import_table(
    session: Session,
    table: RawTable,
    *,
    settings: Settings,
    actor: str,
    crew: str | None = None,
    crs: str | None = None,
    mapping: Mapping[str, str] | None = None,
    file_name: str | None = None,
    file_sha256: str | None = None,
    progress: Progress | None = None,
    is_demo: bool = False,
    scope: Scope | None = None,
    verifies: Mapping[str, int] | None = None,
    held: Mapping[str, Held] | None = None,
) -> ImportReport:
    """Import the rows of ``table`` as foot-survey observations and reconcile them; the caller commits.
    With a regional ``scope`` (a county crew's), rows outside it are rejected (``outside_your_area``).
    ``verifies`` and ``held`` (by client id) are the field app's: the drone candidate a record confirms on the
    spot, and records that go to the review queue whatever lies near (see ``reconcile_batch``).

    Raises:
        UnusableFile: the table cannot be used at all (no coordinates, no CRS for a GIS file …).
        InvalidInput: an unknown CRS or mapping field.
    """
    step = progress or (lambda _stage, _done, _total: None)
    columns = ColumnMapping.for_table(table, mapping)
    require_position(table, columns)
    result = validate(table, columns, crs=crs, region=settings.region, types=type_resolver(session))
    step("validated", result.total, result.total)
    valid, code_problems = _duplicate_codes(session, result.rows)
    valid, scope_problems = _within_scope(session, valid, scope)
    new_rows, already_received, resent_problems = _resent(session, valid)
    rejected = sorted([*result.rejected, *code_problems, *scope_problems, *resent_problems],
                      key=lambda p: (p.row, p.field))  # fmt: skip
    new_row_numbers = {r.row for r in new_rows}
    report = ImportReport(
        batch_id=None, rows=result.total, accepted=len(new_rows), rejected=rejected,
        already_received=already_received, new_outfalls=0, linked=0, queued_for_review=0,
        warnings=[w for w in result.warnings if w.row in new_row_numbers], source=table.source,
        crs=result.crs, notes=[*table.notes, *result.notes],
    )  # fmt: skip
    if not new_rows:
        return report
    batch = ObservationBatch(
        source_kind=ObservationSource.FOOT_SURVEY, file_name=file_name or table.source, file_sha256=file_sha256,
        declared_crs=result.crs, actor=actor, row_count=result.total, accepted_count=len(new_rows),
        rejected_count=report.rejected_rows, is_demo=is_demo, report={},
    )  # fmt: skip
    session.add(batch)
    session.flush()
    report.batch_id = batch.id
    ids = _store_observations(session, new_rows, batch_id=batch.id, crs=result.crs, author=crew or actor,
                              is_demo=is_demo)  # fmt: skip
    step("stored", len(new_rows), len(new_rows))
    outcome: Reconciliation = reconcile_batch(
        session, batch.id, list(zip(ids, new_rows, strict=True)), radius_m=settings.reconcile.radius_m, actor=actor,
        same_batch_m=settings.reconcile.same_batch_m, is_demo=is_demo, progress=step,
        verifies={oid: verifies[r.client_id] for oid, r in zip(ids, new_rows, strict=True)
                  if verifies and r.client_id in verifies},
        held={oid: held[r.client_id] for oid, r in zip(ids, new_rows, strict=True) if held and r.client_id in held},
    )  # fmt: skip
    report.new_outfalls, report.linked, report.queued_for_review = outcome.created, outcome.linked, outcome.queued
    report.outfall_ids = outcome.outfall_ids
    if table.photos:
        _attach_photos(session, settings, table, ids, new_rows, outcome, report, actor=actor)
    batch.report = report.as_dict() | {"crew": crew}
    session.flush()
    return report


# New rows are staged whole with one COPY (a temporary table without indexes) and written by one INSERT ... SELECT,
# which takes their ids from the sequence, makes their points and returns each id with its client id (unique per
# source). The COPY text is built a column at a time.
_STAGE_OBSERVATIONS = text(
    """
    CREATE TEMPORARY TABLE observation_stage (client_id text, author text, captured_at timestamptz, orig_x float8,
                                              orig_y float8, lon float8, lat float8, attributes jsonb)
    ON COMMIT DROP
    """
)
_INSERT_OBSERVATIONS = text(
    f"""
    INSERT INTO observations (id, batch_id, source_kind, client_id, author, captured_at, orig_x, orig_y, orig_crs,
                              geom, attributes, is_demo)
    SELECT nextval(pg_get_serial_sequence('observations', 'id')), :batch_id, :source, client_id, author, captured_at,
           orig_x, orig_y, :crs, ST_SetSRID(ST_MakePoint(lon, lat), {CGCS2000}), attributes, :is_demo
    FROM observation_stage
    RETURNING client_id, id
    """
)


def _store_observations(session: Session, rows: list[SurveyRow], *, batch_id: int, crs: str, author: str,
                        is_demo: bool) -> list[int]:  # fmt: skip
    """Write the rows as observations and return their ids in the rows' order."""
    session.execute(_STAGE_OBSERVATIONS)
    # Sent a block at a time: the server reads one block while the next is formatted here.
    blocks = (_stage_lines(rows[start : start + _STAGE_BLOCK], author) for start in range(0, len(rows), _STAGE_BLOCK))
    copy_lines(session, "observation_stage", _STAGE_COLUMNS, blocks)
    inserted = session.execute(_INSERT_OBSERVATIONS, {
        "batch_id": batch_id, "source": ObservationSource.FOOT_SURVEY.value, "crs": crs, "is_demo": is_demo,
    })  # fmt: skip
    ids: dict[str, int] = {client_id: oid for client_id, oid in inserted}
    session.execute(text("DROP TABLE observation_stage"))
    return [ids[r.client_id] for r in rows]


_STAGE_BLOCK = 5_000  # rows formatted at a time
_STAGE_COLUMNS = ("client_id", "author", "captured_at", "orig_x", "orig_y", "lon", "lat", "attributes")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _stage_lines(rows: list[SurveyRow], author: str) -> str:
    """The rows in COPY's text format, built a column at a time: numbers by ``repr`` (exact), times in ISO form,
    the attributes by one JSON encoder reused for every row; text is escaped only in a column that needs it.
    """
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is not None:  # the C encoder, made once: JSONEncoder.encode would make one for every row
        encode = make(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, False)
        attributes = ["".join(encode(r.attributes, 0)) for r in rows]
    else:  # pragma: no cover - a Python without the json C extension
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
        attributes = [dumps(r.attributes) for r in rows]
    columns = [
        _copy_escaped([r.client_id for r in rows]),
        _copy_escaped([r.surveyor or author for r in rows]),
        [r.captured_at.isoformat() if r.captured_at is not None else "\\N" for r in rows],
        list(map(repr, [r.x for r in rows])), list(map(repr, [r.y for r in rows])),
        list(map(repr, [r.lon for r in rows])), list(map(repr, [r.lat for r in rows])),
        _copy_escaped(attributes),  # JSON escapes control characters itself: at most a backslash to double
    ]  # fmt: skip
    return "".join([line + "\n" for line in map("\t".join, zip(*columns, strict=True))])


def _copy_escaped(values: list[str]) -> list[str]:
    """Text values as COPY's text format reads them: a column without special characters is left as it is."""
    joined = "".join(values)
    if "\\" not in joined and "\t" not in joined and "\n" not in joined and "\r" not in joined:
        return values
    return [v.translate(_COPY_ESCAPES) for v in values]


def _attach_photos(
    session: Session, settings: Settings, table: RawTable, ids: list[int], rows: list[SurveyRow],
    outcome: Reconciliation, report: ImportReport, *, actor: str,
) -> None:  # fmt: skip
    """Attach the photos of a bundle to their records (by file name, else by place and time) and outfalls."""
    from outfalls.scope import Scope
    from outfalls.store import FileStore
    from outfalls.survey.photos import RecordForPhotos, attach_photo, match_photos, read_photo

    store = FileStore(settings.storage.store_dir)
    infos, datas = [], []
    counts = {"attached": 0, "unmatched": 0, "ambiguous": 0, "unreadable": 0}
    for photo in table.photos:
        try:
            infos.append(read_photo(photo.data, photo.name))
            datas.append(photo.data)
        except InvalidInput as err:
            counts["unreadable"] += 1
            report.photo_problems.append({"photo": photo.name, "code": "unreadable", "message": err.message})
    records = [RecordForPhotos(index=i, lon=r.lon, lat=r.lat, captured_at=r.captured_at, photo_names=r.photo_names)
               for i, r in enumerate(rows)]  # fmt: skip
    matches = match_photos(records, infos, max_distance_m=settings.survey.photo_max_distance_m,
                           max_minutes=settings.survey.photo_max_minutes)  # fmt: skip
    for info, data, match in zip(infos, datas, matches, strict=True):
        if match.record is None:
            key = "ambiguous" if match.how == "ambiguous" else "unmatched"
            counts[key] += 1
            report.photo_problems.append({"photo": info.name, "code": key, "message": _PHOTO_MESSAGES[key]})
            continue
        observation_id = ids[match.record]
        attach_photo(session, store, data, info, actor=actor, scope=Scope.national(), observation_id=observation_id,
                     outfall_id=outcome.outfall_of.get(observation_id),
                     meta={"matched_by": match.how, "row": rows[match.record].row})  # fmt: skip
        counts["attached"] += 1
    report.photos = counts


_PHOTO_MESSAGES = {
    "unmatched": "no record names this photo and none is near enough in place and time",
    "ambiguous": "two records are about equally near; name the photo in the record's photo column",
}


def outfalls_of_batch(session: Session, batch_id: int) -> list[Outfall]:
    """The outfalls the rows of a batch were linked to (new or existing)."""
    from outfalls.models import ObservationLink

    return list(session.scalars(
        select(Outfall).join(ObservationLink, ObservationLink.outfall_id == Outfall.id)
        .join(Observation, Observation.id == ObservationLink.observation_id)
        .where(Observation.batch_id == batch_id, ObservationLink.unlinked_at.is_(None)).order_by(Outfall.id)
    ))  # fmt: skip
