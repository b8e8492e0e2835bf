"""Candidates to verification: accepted marks are grouped into tasks for a crew, ordered as a walking route
along the bank (by river, then by position along the river line), and handed out as GPX, KML, and the CSV/XLSX
table the survey intake reads back. A crew's row near a candidate goes to the review queue, where linking it
verifies the candidate; a crew can also reject a candidate as "not an outfall" with a photo. The yield report
counts each survey level's outcome per basin and per sortie.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import IO, Any
from xml.sax.saxutils import escape

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from imagery.models import ImageryMark, MarkKind, MarkReview, VerificationStop, VerificationTask
from imagery.scope import mark_conditions, sql_filter, task_conditions
from outfalls import clock
from outfalls.catalogue.lifecycle import record_event
from outfalls.errors import InvalidInput, NotFound, PermissionDenied
from outfalls.models import Attachment, Outfall, User, UserRole
from outfalls.registers.formulas import mark_text, neutralise_row
from outfalls.scope import Scope
from outfalls.store import FileStore, attach_file
from outfalls.types import EventKind, OutfallStatus, Role

# The columns of the crews' table, as the survey intake recognises them (outfalls.survey.mapping).
TABLE_COLUMNS = ("记录编号", "经度", "纬度", "排污口名称", "排口类型", "排入水体", "调查人员", "调查时间", "排放状态",
                 "照片", "备注", "路线顺序", "疑似依据")  # fmt: skip


def client_id_of(outfall_id: int) -> str:
    """The record id a crew's row keeps for a candidate, so a re-sent row is recognised."""
    return f"drone-{outfall_id}"


_OPEN = """
    SELECT m.id FROM imagery_marks m
    LEFT JOIN outfalls o ON o.id = m.outfall_id
    LEFT JOIN interpretation_cells c ON c.id = m.cell_id
    LEFT JOIN basins b ON b.id = c.basin_id
    WHERE m.review IN ('accepted', 'edited')
      AND (m.kind = 'area' OR o.status = 'candidate')
      AND NOT EXISTS (SELECT 1 FROM verification_stops s WHERE s.mark_id = m.id)
      AND (CAST(:basin AS text) IS NULL OR b.code = :basin)
      AND {scope}
    ORDER BY m.id
"""
# The walking order: each stop's nearest river line (within ~5 km), the part of the line and the position
# along it; stops far from any river come last, west to east.
_ROUTE = text(
    """
    SELECT m.id,
           (SELECT r.id FROM rivers r WHERE ST_DWithin(r.geom, m.geom, 0.05) ORDER BY r.geom <-> m.geom LIMIT 1)
             AS river_id
    FROM imagery_marks m WHERE m.id = ANY(:ids)
    """
)
_ALONG = text(
    """
    SELECT m.id, d.path[1] AS part,
           ST_LineLocatePoint(d.geom, ST_ClosestPoint(d.geom, ST_PointOnSurface(m.geom))) AS along,
           ST_X(ST_PointOnSurface(m.geom)) AS x
    FROM imagery_marks m, rivers r, LATERAL (SELECT * FROM ST_Dump(r.geom) d
                                             ORDER BY d.geom <-> m.geom LIMIT 1) d
    WHERE m.id = ANY(:ids) AND r.id = :river
    """
)


def _marks_in(column: str, *scopes: Scope) -> str:
    """``column`` limited to the marks every one of ``scopes`` may see, as SQL text."""
    conditions = [c for scope in scopes for c in mark_conditions(scope)]
    return sql_filter(column, select(ImageryMark.id).where(*conditions), is_national=not conditions)


def open_stops(session: Session, *, scope: Scope, basin_code: str | None = None) -> list[int]:
    """Accepted marks of ``scope`` not yet given to a crew: candidates still to verify and sensitive areas."""
    return [int(i) for i in session.scalars(text(_OPEN.format(scope=_marks_in("m.id", scope))), {"basin": basin_code})]


def _open_for(session: Session, scope: Scope, crew_scope: Scope, *, basin_code: str | None) -> list[int]:
    """Open marks both the one handing them out and the crew may see."""
    where = _marks_in("m.id", scope, crew_scope)
    return [int(i) for i in session.scalars(text(_OPEN.format(scope=where)), {"basin": basin_code})]


def crews_for(session: Session, scope: Scope) -> list[str]:
    """The logins of the survey crews whose area overlaps ``scope``: whom its marks can be given to."""
    from outfalls.accounts import scope_of

    crews = select(UserRole.user_id).where(UserRole.role == Role.CREW)
    users = session.scalars(select(User).where(User.id.in_(crews), User.is_active).order_by(User.login))
    chosen = []
    for user in users:
        theirs = scope_of(user)
        if (scope.is_national or theirs.is_national
                or any(scope.covers_area(code) or theirs.covers_area(mine)
                       for code in theirs.area_codes for mine in scope.area_codes)):  # fmt: skip
            chosen.append(user.login)
    return chosen


def walking_order(session: Session, mark_ids: Sequence[int]) -> list[int]:
    """The marks ordered as a walk along the bank: by river, then along each river line."""
    by_river: dict[int | None, list[int]] = {}
    for mark_id, river_id in session.execute(_ROUTE, {"ids": list(mark_ids)}):
        by_river.setdefault(river_id, []).append(mark_id)
    ordered: list[int] = []
    for river_id in sorted(by_river, key=lambda r: (r is None, r or 0)):
        ids = by_river[river_id]
        if river_id is None:
            query = text("SELECT id, ST_X(ST_PointOnSurface(geom)) FROM imagery_marks WHERE id = ANY(:ids)")
            xs: dict[int, float] = {int(i): float(x) for i, x in session.execute(query, {"ids": ids})}
            ordered += sorted(ids, key=lambda i: (xs[i], i))
            continue
        rows = session.execute(_ALONG, {"ids": ids, "river": river_id}).all()
        ordered += [r.id for r in sorted(rows, key=lambda r: (r.part, r.along, r.x, r.id))]
    return ordered


def create_task(session: Session, crew: str, mark_ids: Sequence[int] | None = None, *, actor: str, scope: Scope,
                name: str | None = None, basin_code: str | None = None) -> VerificationTask:  # fmt: skip
    """Give accepted marks of ``scope`` (all open ones of the basin when none are named) to a crew as a walking
    route. Only marks in the crew's own area are given, so the crew sees the whole task.

    Raises:
        NotFound: no such crew user. InvalidInput: the user is not a crew, a mark is not open in ``scope``
            or lies outside the crew's area, or there is nothing to give.
        Conflict: a mark is already in a task (the database refuses it twice).
    """
    from outfalls.accounts import get_user, scope_of

    user = get_user(session, crew)
    if Role.CREW not in {r.role for r in user.roles}:
        raise InvalidInput(f"{user.login} is not a survey crew", field="crew", value=crew)
    crew_scope = scope_of(user)
    available = set(open_stops(session, scope=scope))
    theirs = set(_open_for(session, scope, crew_scope, basin_code=None))
    if mark_ids is not None:
        wanted = list(mark_ids)
        missing = [m for m in wanted if m not in available]
        if missing:
            raise InvalidInput(f"mark {missing[0]} is not an accepted mark waiting for a crew", field="marks")
        elsewhere = [m for m in wanted if m not in theirs]
        if elsewhere:
            raise InvalidInput(f"mark {elsewhere[0]} lies outside the area of {user.login}", field="marks")
    else:
        wanted = _open_for(session, scope, crew_scope, basin_code=basin_code)
    if not wanted:
        raise InvalidInput(f"there are no accepted marks waiting for a crew in the area of {user.login}",
                           field="marks")  # fmt: skip
    task = VerificationTask(name=(name or "").strip() or f"核查任务 {clock.today().isoformat()}", crew=user.login,
                            created_by=actor)  # fmt: skip
    session.add(task)
    session.flush()
    for seq, mark_id in enumerate(walking_order(session, wanted), start=1):
        session.add(VerificationStop(task_id=task.id, seq=seq, mark_id=mark_id))
    session.flush()
    return task


@dataclass(frozen=True, slots=True)
class Stop:
    """A stop of a route: a candidate outfall (with its state now) or a sensitive area."""

    seq: int
    mark_id: int
    kind: str
    outfall_id: int | None
    name: str
    status: str | None
    type_code: str | None
    lon: float
    lat: float
    river: str | None
    note: str | None
    area_kind: str | None
    area_wkt: str | None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)


_STOPS = text(
    """
    SELECT s.seq, m.id AS mark_id, m.kind, m.outfall_id, o.name, o.status,
           coalesce(o.type_code, m.type_guess) AS type_code,
           ST_X(ST_PointOnSurface(m.geom)) AS lon, ST_Y(ST_PointOnSurface(m.geom)) AS lat,
           (SELECT r.name FROM rivers r WHERE ST_DWithin(r.geom, m.geom, 0.05) ORDER BY r.geom <-> m.geom LIMIT 1)
             AS river,
           m.note, m.area_kind, CASE WHEN m.kind = 'area' THEN ST_AsText(m.geom) END AS area_wkt
    FROM verification_stops s JOIN imagery_marks m ON m.id = s.mark_id LEFT JOIN outfalls o ON o.id = m.outfall_id
    WHERE s.task_id = :task ORDER BY s.seq
    """
)


def get_task(session: Session, task_id: int, *, viewer: str, roles: frozenset[Role], scope: Scope) -> VerificationTask:
    """A task of ``scope``, for its crew or for reviewers, analysts, leaders and administrators.

    Raises:
        NotFound: no such task, another crew's, or one with stops outside the scope.
    """
    task = session.scalar(select(VerificationTask).where(VerificationTask.id == task_id, *task_conditions(scope)))
    if task is None or (task.crew != viewer and not roles & {Role.REVIEWER, Role.ANALYST, Role.ADMIN, Role.LEADER}):
        raise NotFound("verification task does not exist", entity="task", id=task_id)
    return task


def task_stops(session: Session, task_id: int) -> list[Stop]:
    """The stops of a task in walking order."""
    return [
        Stop(
            seq=r.seq,
            mark_id=r.mark_id,
            kind=r.kind,
            outfall_id=r.outfall_id,
            name=r.name or f"敏感区域 {r.mark_id}",
            status=r.status,
            type_code=r.type_code,
            lon=float(r.lon),
            lat=float(r.lat),
            river=r.river,
            note=r.note,
            area_kind=r.area_kind,
            area_wkt=r.area_wkt,
        )  # fmt: skip
        for r in session.execute(_STOPS, {"task": task_id})
    ]


_TASKS = """
    SELECT t.id, count(s.id) AS stops,
           count(s.id) FILTER (WHERE o.status = 'candidate') AS pending
    FROM verification_tasks t LEFT JOIN verification_stops s ON s.task_id = t.id
    LEFT JOIN imagery_marks m ON m.id = s.mark_id LEFT JOIN outfalls o ON o.id = m.outfall_id
    WHERE (CAST(:crew AS text) IS NULL OR t.crew = :crew) AND {scope} GROUP BY t.id ORDER BY t.id DESC
"""


def list_tasks(session: Session, *, scope: Scope, crew: str | None = None) -> list[tuple[VerificationTask, int, int]]:
    """Tasks of ``scope`` (of one crew when given), newest first, with their stop count and candidates still to
    verify.
    """
    ids = select(VerificationTask.id).where(*task_conditions(scope))
    where = sql_filter("t.id", ids, is_national=scope.is_national)
    rows = session.execute(text(_TASKS.format(scope=where)), {"crew": crew}).all()
    tasks = {
        t.id: t for t in session.scalars(select(VerificationTask).where(VerificationTask.id.in_([r.id for r in rows])))
    }
    return [(tasks[r.id], int(r.stops), int(r.pending)) for r in rows]


# --- downloads -------------------------------------------------------------------------------------------------


def _table_rows(stops: Sequence[Stop], crew: str) -> list[list[Any]]:
    return [
        [client_id_of(s.outfall_id), round(s.lon, 7), round(s.lat, 7), s.name, s.type_code or "", s.river or "",
         crew, "", "", "", "", s.seq, s.note or ""]
        for s in stops if s.kind == MarkKind.POINT.value and s.outfall_id is not None
    ]  # fmt: skip


def task_csv(stops: Sequence[Stop], crew: str) -> bytes:
    """The candidates as the survey table (UTF-8 with BOM, so Excel reads the Chinese headers); text a
    spreadsheet would run as a formula has a single quote in front.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TABLE_COLUMNS)
    writer.writerows(neutralise_row(row) for row in _table_rows(stops, crew))
    return out.getvalue().encode("utf-8-sig")


def task_xlsx(stops: Sequence[Stop], crew: str) -> bytes:
    """The candidates as the survey table in one XLSX sheet; text is written as text, never as a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "核查"
    ws.append(list(TABLE_COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in _table_rows(stops, crew):
        ws.append(row)
        mark_text(ws[ws.max_row])
    for col, width in zip("ABCDEFGHIJKLM", (16, 13, 13, 26, 9, 14, 12, 18, 10, 16, 20, 9, 24), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def task_gpx(task: VerificationTask, stops: Sequence[Stop]) -> str:
    """Waypoints for the candidates and a route through every stop (sensitive areas at a point inside)."""

    def desc(s: Stop) -> str:
        kind = "疑似排污口" if s.kind == "point" else f"敏感区域（{s.area_kind or ''}）"
        return escape(" · ".join(x for x in (kind, s.river or "", s.note or "") if x))

    wpts = "".join(
        f'  <wpt lat="{s.lat:.7f}" lon="{s.lon:.7f}"><name>{escape(s.name)}</name><desc>{desc(s)}</desc>'
        f"<type>candidate</type></wpt>\n"
        for s in stops if s.kind == "point"
    )  # fmt: skip
    rte = "".join(
        f'    <rtept lat="{s.lat:.7f}" lon="{s.lon:.7f}"><name>{s.seq}. {escape(s.name)}</name>'
        f"<desc>{desc(s)}</desc></rtept>\n"
        for s in stops
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="outfalls" xmlns="http://www.topografix.com/GPX/1/1">\n'
        f"  <metadata><name>{escape(task.name)}</name></metadata>\n{wpts}"
        f"  <rte><name>{escape(task.name)}</name>\n{rte}  </rte>\n</gpx>\n"
    )


def task_kml(task: VerificationTask, stops: Sequence[Stop]) -> str:
    """Candidates as points and sensitive areas as polygons, each numbered in walking order, and the route line."""
    from shapely import wkt

    marks = []
    for s in stops:
        label = f"{s.seq}. {escape(s.name)}"
        note = escape(s.note or "")
        if s.kind == "point":
            geometry = f"<Point><coordinates>{s.lon:.7f},{s.lat:.7f}</coordinates></Point>"
        else:
            ring = " ".join(f"{x:.7f},{y:.7f}" for x, y in wkt.loads(s.area_wkt or "").exterior.coords)
            geometry = f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{ring}</coordinates></LinearRing>" \
                       "</outerBoundaryIs></Polygon>"  # fmt: skip
        marks.append(f"    <Placemark><name>{label}</name><description>{note}</description>{geometry}</Placemark>\n")
    line = " ".join(f"{s.lon:.7f},{s.lat:.7f}" for s in stops)
    route = (f"    <Placemark><name>路线</name><LineString><coordinates>{line}</coordinates></LineString></Placemark>\n"
             if len(stops) > 1 else "")  # fmt: skip
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n'
        f"  <Document><name>{escape(task.name)}</name>\n{''.join(marks)}{route}  </Document>\n</kml>\n"
    )


# --- the crew's rejection --------------------------------------------------------------------------------------


def reject_candidate(session: Session, store: FileStore, outfall_id: int, photo: IO[bytes], photo_name: str, *,
                     reason: str, actor: str, scope: Scope, on: date | None = None) -> Attachment:  # fmt: skip
    """A crew found no outfall at a drone candidate: the candidate is rejected, the photo kept as evidence.

    Raises:
        InvalidInput: no reason or no photo. NotFound: no such outfall in ``scope``.
        PermissionDenied: not a drone candidate. InvalidTransition: no longer a candidate. StaleEdit: changed.
    """
    if not reason.strip():
        raise InvalidInput("say what is there instead of an outfall", field="reason")
    if not photo_name:
        raise InvalidInput("a photo of the place is needed", field="photo")
    outfall = session.scalar(select(Outfall).where(Outfall.id == outfall_id, *scope.one_row_conditions()))
    if outfall is None:
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    mark = session.scalar(select(ImageryMark).where(ImageryMark.outfall_id == outfall_id))
    if mark is None:
        raise PermissionDenied("only a drone candidate is rejected this way", id=outfall_id)
    attachment = attach_file(session, store, photo, name=photo_name, kind="photo", actor=actor, scope=scope,
                             outfall_id=outfall_id, meta={"purpose": "not_an_outfall"})  # fmt: skip
    record_event(session, outfall_id, EventKind.REJECTED, actor=actor, scope=scope, expected_version=outfall.version,
                 on=max(on or clock.today(), outfall.found_on),
                 payload={"reason": reason.strip(), "attachment_id": attachment.id, "mark_id": mark.id,
                          "level": "foot"})  # fmt: skip
    return attachment


# --- the yield of each level -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YieldRow:
    """What one basin (or sortie) yielded: drone candidates and their outcome, and what only feet or experts found."""

    name: str
    marks: int  # suspected outfalls drawn by analysts
    rejected_in_review: int
    sensitive_areas: int
    candidates: int  # drone-found outfalls
    confirmed: int  # ... verified on the ground (any state after candidate)
    rejected: int  # ... found not to be an outfall
    pending: int  # ... still waiting for a crew
    foot_only: int  # outfalls found on foot only (level 2)
    expert_only: int  # outfalls found by experts (level 3)
    public_reports: int  # outfalls that began as a citizen's report (公众举报), whatever became of them
    public_confirmed: int  # ... verified on the ground

    @property
    def confirmed_share(self) -> float | None:
        """Confirmed of decided candidates."""
        decided = self.confirmed + self.rejected
        return round(self.confirmed / decided, 3) if decided else None

    @property
    def ground_share(self) -> float | None:
        """Of all outfalls found, the share found only on foot or by experts."""
        total = self.confirmed + self.foot_only + self.expert_only
        return round((self.foot_only + self.expert_only) / total, 3) if total else None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self) | {"confirmed_share": self.confirmed_share, "ground_share": self.ground_share}


_CONFIRMED = "o.status NOT IN ('candidate', 'rejected', 'merged')"
_YIELD_BASIN = f"""
    WITH marks AS (
      SELECT c.basin_id, count(*) FILTER (WHERE m.kind = 'point') AS marks,
             count(*) FILTER (WHERE m.kind = 'point' AND m.review = 'rejected') AS rejected_in_review,
             count(*) FILTER (WHERE m.kind = 'area' AND m.review IN ('accepted', 'edited')) AS sensitive_areas
      FROM imagery_marks m JOIN interpretation_cells c ON c.id = m.cell_id WHERE {{marks}} GROUP BY c.basin_id),
    found AS (
      SELECT o.basin_id,
             count(*) FILTER (WHERE o.found_by = 'drone') AS candidates,
             count(*) FILTER (WHERE o.found_by = 'drone' AND {_CONFIRMED}) AS confirmed,
             count(*) FILTER (WHERE o.found_by = 'drone' AND o.status = 'rejected') AS rejected,
             count(*) FILTER (WHERE o.found_by = 'drone' AND o.status = 'candidate') AS pending,
             count(*) FILTER (WHERE o.found_by = 'foot' AND {_CONFIRMED}) AS foot_only,
             count(*) FILTER (WHERE o.found_by = 'expert' AND {_CONFIRMED}) AS expert_only,
             count(*) FILTER (WHERE o.found_by = 'public') AS public_reports,
             count(*) FILTER (WHERE o.found_by = 'public' AND {_CONFIRMED}) AS public_confirmed
      FROM outfalls o WHERE {{scope}} GROUP BY o.basin_id)
    SELECT coalesce(b.name, '—') AS name, coalesce(m.marks, 0) AS marks,
           coalesce(m.rejected_in_review, 0) AS rejected_in_review, coalesce(m.sensitive_areas, 0) AS sensitive_areas,
           coalesce(f.candidates, 0) AS candidates, coalesce(f.confirmed, 0) AS confirmed,
           coalesce(f.rejected, 0) AS rejected, coalesce(f.pending, 0) AS pending,
           coalesce(f.foot_only, 0) AS foot_only, coalesce(f.expert_only, 0) AS expert_only,
           coalesce(f.public_reports, 0) AS public_reports, coalesce(f.public_confirmed, 0) AS public_confirmed
    FROM found f FULL JOIN marks m ON m.basin_id = f.basin_id
    LEFT JOIN basins b ON b.id = coalesce(f.basin_id, m.basin_id)
    ORDER BY b.name NULLS LAST
"""
_YIELD_SORTIE = f"""
    SELECT coalesce(s.code, '—') AS name, count(*) FILTER (WHERE m.kind = 'point') AS marks,
           count(*) FILTER (WHERE m.kind = 'point' AND m.review = 'rejected') AS rejected_in_review,
           count(*) FILTER (WHERE m.kind = 'area' AND m.review IN ('accepted', 'edited')) AS sensitive_areas,
           count(o.id) AS candidates, count(o.id) FILTER (WHERE {_CONFIRMED}) AS confirmed,
           count(o.id) FILTER (WHERE o.status = 'rejected') AS rejected,
           count(o.id) FILTER (WHERE o.status = 'candidate') AS pending, 0 AS foot_only, 0 AS expert_only,
           0 AS public_reports, 0 AS public_confirmed
    FROM imagery_marks m LEFT JOIN orthophotos p ON p.id = m.orthophoto_id LEFT JOIN sorties s ON s.id = p.sortie_id
    LEFT JOIN outfalls o ON o.id = m.outfall_id AND {{scope}}
    WHERE {{marks}}
    GROUP BY s.code ORDER BY s.code NULLS LAST
"""


def _scope_sql(session: Session, scope: Scope) -> str:
    """The scope's conditions on ``outfalls o`` as SQL text with literal values (codes are validated digits)."""
    if scope.is_national:
        return "TRUE"
    ids = select(Outfall.id).where(*scope.conditions())
    compiled = ids.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    return f"o.id IN ({compiled})"


def yield_report(session: Session, *, scope: Scope) -> dict[str, list[YieldRow]]:
    """The yield per basin and per sortie (outfalls and marks limited to ``scope``)."""
    where, marks = _scope_sql(session, scope), _marks_in("m.id", scope)
    by_basin = [YieldRow(**r._asdict()) for r in session.execute(text(_YIELD_BASIN.format(scope=where, marks=marks)))]
    by_sortie = [YieldRow(**r._asdict())
                 for r in session.execute(text(_YIELD_SORTIE.format(scope=where, marks=marks)))]  # fmt: skip
    return {"basins": by_basin, "sorties": by_sortie}


def candidate_of(session: Session, outfall_id: int) -> ImageryMark | None:
    """The mark a drone candidate came from, if any."""
    return session.scalar(select(ImageryMark).where(ImageryMark.outfall_id == outfall_id))


def accepted_review(mark: ImageryMark) -> bool:
    """True when the reviewer accepted the mark (as drawn or edited)."""
    return mark.review in (MarkReview.ACCEPTED, MarkReview.EDITED)


def still_candidate(outfall: Outfall) -> bool:
    """True while a crew has not decided the candidate."""
    return outfall.status is OutfallStatus.CANDIDATE
