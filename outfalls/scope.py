"""Regional scope: which outfalls a user may see and change. Every query and write of outfalls takes a
``Scope``; an outfall outside it is "not found", so its existence does not leak.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session, aliased

from outfalls.errors import NotFound
from outfalls.models import AdminArea, Basin, Outfall


def area_prefix(code: str) -> str:
    """The GB/T 2260 prefix shared by an area and everything under it (610000 → 61, 610100 → 6101)."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


@dataclass(frozen=True, slots=True)
class Scope:
    """Everything (national), or the outfalls in any of ``area_codes`` (GB/T 2260 codes of provinces,
    cities or counties) and, when ``basin_codes`` is not empty, in one of those basins or sub-basins.
    """

    is_national: bool = False
    area_codes: tuple[str, ...] = ()
    basin_codes: tuple[str, ...] = ()

    @classmethod
    def national(cls) -> Scope:
        """Everything (national administrators; operators at the command line)."""
        return cls(is_national=True)

    def describe(self) -> str:
        """A short text for lists and logs."""
        if self.is_national:
            return "national"
        return ", ".join([*self.area_codes, *(f"basin {b}" for b in self.basin_codes)]) or "nothing"

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions on ``Outfall`` that keep only what this scope may see (a new list the caller may extend;
        the conditions themselves are built once per scope).
        """
        return list(_conditions(self))

    def one_row_conditions(self) -> list[ColumnElement[bool]]:
        """The same conditions for a statement that reads one outfall by its id: the outfall's own area (and
        basins) looked up by key and matched, which PostgreSQL plans in a tenth of the time the ``IN (SELECT ...)``
        of :meth:`conditions` takes (a semi-join it weighs against the area table); the planning, not the reading,
        was most of a case page's state lookup for a regional user. Per row it costs an index probe, so lists
        keep :meth:`conditions`.
        """
        return list(_conditions(self, one_row=True))

    def covers_area(self, code: str) -> bool:
        """True when the administrative area ``code`` lies inside this scope's areas."""
        if self.is_national:
            return True
        return any(code.startswith(area_prefix(c)) for c in self.area_codes)


@functools.lru_cache(maxsize=2048)
def _conditions(scope: Scope, one_row: bool = False) -> tuple[ColumnElement[bool], ...]:
    """The scope's conditions on ``Outfall``: for lists, the areas (and basins) a scope covers as sets of ids; for
    one outfall (``one_row``), its own area's (and basins') codes looked up by key and matched.
    """
    if scope.is_national:
        return ()
    if not scope.area_codes:
        return (false(),)
    prefixes = [area_prefix(c) + "%" for c in scope.area_codes]
    if one_row:
        # aliases correlated to the outfall alone: a statement that joins the area or basin tables itself (the
        # case page names the outfall's areas) keeps its own rows of them
        area, basin = aliased(AdminArea), aliased(Basin)
        area_code = select(area.code).where(area.id == Outfall.admin_area_id).correlate(Outfall).scalar_subquery()
        cond: list[ColumnElement[bool]] = [or_(*(area_code.like(p) for p in prefixes))]
        if scope.basin_codes:
            cond.append(or_(*(select(basin.code).where(basin.id == b).correlate(Outfall).scalar_subquery()
                              .in_(scope.basin_codes) for b in (Outfall.basin_id, Outfall.sub_basin_id))))  # fmt: skip
        return tuple(cond)
    areas = select(AdminArea.id).where(or_(*(AdminArea.code.like(p) for p in prefixes)))
    cond = [Outfall.admin_area_id.in_(areas)]
    if scope.basin_codes:
        basins = select(Basin.id).where(Basin.code.in_(scope.basin_codes))
        cond.append(or_(Outfall.basin_id.in_(basins), Outfall.sub_basin_id.in_(basins)))
    return tuple(cond)


def require_visible(session: Session, outfall_id: int, scope: Scope) -> None:
    """Raise ``NotFound`` unless the outfall exists and lies in ``scope``.

    Raises:
        NotFound: no such outfall, or one outside the scope (the same message for both).
    """
    found = session.scalar(select(Outfall.id).where(Outfall.id == outfall_id, *scope.one_row_conditions()))
    if found is None:
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
