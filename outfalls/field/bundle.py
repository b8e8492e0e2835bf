"""What the phone app takes offline from the catalogue: the known outfalls of the crew's area (with the version
each was downloaded at, so a record made against it can tell whether it changed meanwhile) and the reference
lines (rivers, area boundaries) to walk by.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls.models import Outfall
from outfalls.scope import Scope
from outfalls.types import OutfallStatus

MAX_OUTFALLS = 20_000

def known_outfalls(session: Session, *, scope: Scope) -> list[dict[str, Any]]:
    """The outfalls of ``scope`` a crew may meet (not rejected or merged away), with their version."""
    rows = session.execute(
        select(Outfall.id, Outfall.name, Outfall.national_code, Outfall.local_code, Outfall.status,
               Outfall.type_code, Outfall.receiving_water, Outfall.version, func.ST_X(Outfall.geom),
               func.ST_Y(Outfall.geom))
        .where(*scope.conditions(), Outfall.status.not_in([OutfallStatus.REJECTED, OutfallStatus.MERGED]))
        .order_by(Outfall.id).limit(MAX_OUTFALLS)
    )  # fmt: skip
    return [{"id": r[0], "name": r[1], "national_code": r[2], "local_code": r[3], "status": r[4].value,
             "type_code": r[5], "receiving_water": r[6], "version": r[7], "lon": round(float(r[8]), 7),
             "lat": round(float(r[9]), 7)} for r in rows]  # fmt: skip


def outfall_types(session: Session) -> list[dict[str, str]]:
    """The HJ 1312-2023 types a crew chooses from."""
    from outfalls.catalogue.queries import TYPE_SCHEME
    from outfalls.models import CodeListEntry

    rows = session.execute(select(CodeListEntry.code, CodeListEntry.label_zh, CodeListEntry.label_en)
                           .where(CodeListEntry.scheme == TYPE_SCHEME).order_by(CodeListEntry.sort_order))  # fmt: skip
    return [{"code": c, "zh": zh, "en": en} for c, zh, en in rows]
