"""Giving local codes (and names, when missing) to confirmed outfalls by the coding rule: in a stable order, each
as a ``coded`` event, never reusing a code (every code given is kept in ``issued_codes``, a merged outfall's too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.transitions import ACTIVE, apply_transition
from outfalls.errors import InvalidInput
from outfalls.models import AdminArea, Basin, Event, IssuedCode, Outfall
from outfalls.public.coding import CodeParts, CodingRule, NameParts
from outfalls.scope import Scope, area_prefix
from outfalls.types import AdminLevel, CodeProvenance, EventKind, OutfallStatus

CODED_STATES = tuple(s.value for s in (*ACTIVE, OutfallStatus.CLOSED))
# One assignment at a time: two at once would draw the same next sequence.
_LOCK = text("SELECT pg_advisory_xact_lock(72500014)")


@dataclass(frozen=True, slots=True)
class Coded:
    """A code given (or, in a dry run, that would be given)."""

    outfall_id: int
    code: str
    name: str | None  # the name given, when the outfall had none


@dataclass(frozen=True, slots=True)
class Skipped:
    """An outfall left without a code, and why."""

    outfall_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class CodeAssignment:
    """What ``assign_codes`` did."""

    dry_run: bool
    rule: str
    assigned: list[Coded] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)


_DETAILS = text("""
    SELECT o.id, o.type_scheme, o.type_code, o.name_provenance, cl.label_zh, a.code AS area_code, a.name AS area_name,
           a.level AS area_level, r.code AS river_code, r.name AS river_name, side.bank
    FROM outfalls o
    LEFT JOIN admin_areas a ON a.id = o.admin_area_id
    LEFT JOIN rivers r ON r.id = o.river_id
    LEFT JOIN code_lists cl ON cl.scheme = o.type_scheme AND cl.code = o.type_code
    LEFT JOIN LATERAL (
      -- the side of the nearest part of the river line, looking the way it is drawn (downstream)
      SELECT CASE WHEN ST_Distance(o.geom::geography, d.geom::geography) > :bank_max_m THEN NULL
                  WHEN (ST_X(p.b) - ST_X(p.a)) * (ST_Y(o.geom) - ST_Y(p.a))
                       - (ST_Y(p.b) - ST_Y(p.a)) * (ST_X(o.geom) - ST_X(p.a)) > 0 THEN 'left' ELSE 'right' END AS bank
      FROM (SELECT (ST_Dump(r.geom)).geom) d(geom)
      CROSS JOIN LATERAL (SELECT ST_LineLocatePoint(d.geom, o.geom) AS f,
                                 least(0.5, 20 / greatest(ST_Length(d.geom::geography), 1)) AS step) loc
      CROSS JOIN LATERAL (SELECT ST_LineInterpolatePoint(d.geom, greatest(loc.f - loc.step, 0)) AS a,
                                 ST_LineInterpolatePoint(d.geom, least(loc.f + loc.step, 1)) AS b) p
      ORDER BY d.geom <-> o.geom LIMIT 1
    ) side ON r.id IS NOT NULL
    WHERE o.id = ANY(:ids)
    ORDER BY o.found_on, o.id
""")


def _targets(session: Session, area: str | None, basin: str | None, scope: Scope) -> Select[Any]:
    query = select(Outfall.id).where(Outfall.status.in_(CODED_STATES), Outfall.local_code.is_(None),
                                     *scope.conditions())  # fmt: skip
    if area is not None:
        if session.scalar(select(AdminArea.id).where(AdminArea.code == area)) is None:
            raise InvalidInput(f"no administrative area has the code {area!r}", field="area", value=area)
        areas = select(AdminArea.id).where(AdminArea.code.like(area_prefix(area) + "%"))
        query = query.where(Outfall.admin_area_id.in_(areas))
    if basin is not None:
        if session.scalar(select(Basin.id).where(Basin.code == basin)) is None:
            raise InvalidInput(f"no basin or sub-basin has the code {basin!r}", field="basin", value=basin)
        basins = select(Basin.id).where(Basin.code == basin)
        query = query.where(or_(Outfall.basin_id.in_(basins), Outfall.sub_basin_id.in_(basins)))
    return query


def assign_codes(
    session: Session, rule: CodingRule, *, actor: str, area: str | None = None, basin: str | None = None,
    bank_max_m: float = 500.0, dry_run: bool = False, scope: Scope | None = None,
) -> CodeAssignment:  # fmt: skip
    """Give a local code to every confirmed outfall of the area/basin that has none, oldest first (found on, id).

    The sequence of a prefix continues after the highest ever given in it, and skips codes other outfalls already
    carry, so no code is given twice. An outfall whose name is not known (暂不掌握) is named by the rule too.

    Returns:
        The codes given (a dry run writes nothing and says what would be given) and the outfalls left out, with why.

    Raises:
        InvalidInput: an unknown area or basin code.
    """
    scope = scope or Scope.national()
    ids = list(session.scalars(_targets(session, area, basin, scope)))
    result = CodeAssignment(dry_run=dry_run, rule=rule.code_template)
    if not ids:
        return result
    session.execute(_LOCK)
    next_seq: dict[str, int] = {}
    for row in session.execute(_DETAILS, {"ids": ids, "bank_max_m": bank_max_m}):
        if row.area_code is None or row.area_level != AdminLevel.COUNTY.value:
            result.skipped.append(Skipped(row.id, "no county: the outfall lies outside the counties loaded"))
            continue
        if row.type_scheme != "HJ1312":
            result.skipped.append(Skipped(row.id, f"type {row.type_scheme} {row.type_code} is not an HJ 1312 type"))
            continue
        try:
            prefix = rule.prefix(CodeParts(area=row.area_code, type_code=row.type_code, river=row.river_code))
        except InvalidInput as err:
            result.skipped.append(Skipped(row.id, err.message))
            continue
        seq = next_seq.get(prefix) or _first_free(session, prefix)
        code = rule.code(prefix, seq)
        while _taken(session, code):
            seq += 1
            code = rule.code(prefix, seq)
        next_seq[prefix] = seq + 1
        name = None
        if row.name_provenance == CodeProvenance.UNKNOWN.value:
            bank = {"left": rule.left_bank, "right": rule.right_bank}.get(row.bank or "", "")
            name = rule.name(NameParts(row.area_name, row.label_zh or row.type_code, row.river_name or "", bank), seq)
        result.assigned.append(Coded(row.id, code, name))
        if not dry_run:
            _record(session, row.id, code, name, prefix, seq, rule=rule.code_template, actor=actor)
    return result


def _first_free(session: Session, prefix: str) -> int:
    return int(session.scalar(select(func.coalesce(func.max(IssuedCode.seq), 0)).where(IssuedCode.prefix == prefix))
               or 0) + 1  # fmt: skip


def _taken(session: Session, code: str) -> bool:
    """Whether an outfall carries the code already (typed in or imported), or it was ever given."""
    return bool(session.scalar(select(Outfall.id).where(Outfall.local_code == code).limit(1))
                or session.scalar(select(IssuedCode.id).where(IssuedCode.code == code)))  # fmt: skip


def _record(session: Session, outfall_id: int, code: str, name: str | None, prefix: str, seq: int, *, rule: str,
            actor: str) -> None:  # fmt: skip
    outfall = session.get(Outfall, outfall_id, with_for_update=True)
    if outfall is None:
        return
    apply_transition(outfall.status, EventKind.CODED)
    payload: dict[str, Any] = {"local_code": code, "rule": rule}
    outfall.local_code = code
    outfall.local_code_provenance = CodeProvenance.KNOWN
    if name is not None:
        payload |= {"name": name, "previous_name": outfall.name}
        outfall.name, outfall.name_provenance = name, CodeProvenance.KNOWN
    outfall.updated_at = clock.now()
    event = Event(outfall_id=outfall.id, kind=EventKind.CODED, payload=payload, actor=actor,
                  effective_at=clock.event_time(clock.today()), outfall_version=outfall.version + 1)  # fmt: skip
    session.add(event)
    session.flush()
    session.add(IssuedCode(code=code, prefix=prefix, seq=seq, outfall_id=outfall.id, event_id=event.id))
    session.flush()
