"""Reference data: basins and sub-basins, rivers, administrative areas, and code lists."""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outfalls.db.base import Base, str_enum
from outfalls.types import CGCS2000, AdminLevel, BasinLevel


class Basin(Base):
    """A basin (流域) or sub-basin (子流域); sub-basins point to their basin."""

    __tablename__ = "basins"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str | None] = mapped_column(String(128))
    level: Mapped[BasinLevel] = mapped_column(str_enum(BasinLevel, 16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("basins.id"), index=True)
    area_km2: Mapped[float | None]
    source: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=CGCS2000, spatial_index=True))

    parent: Mapped[Basin | None] = relationship(remote_side=[id])


class River(Base):
    """A river (河流) as one multi-line per name, with the basin it mostly lies in."""

    __tablename__ = "rivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    basin_id: Mapped[int | None] = mapped_column(ForeignKey("basins.id"), index=True)
    sub_basin_id: Mapped[int | None] = mapped_column(ForeignKey("basins.id"), index=True)
    length_km: Mapped[float | None]
    source: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTILINESTRING", srid=CGCS2000, spatial_index=True))

    basin: Mapped[Basin | None] = relationship(foreign_keys=[basin_id])
    sub_basin: Mapped[Basin | None] = relationship(foreign_keys=[sub_basin_id])


class AdminArea(Base):
    """An administrative area (行政区) with its GB/T 2260 code (six digits) and parent."""

    __tablename__ = "admin_areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    level: Mapped[AdminLevel] = mapped_column(str_enum(AdminLevel, 16), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"), index=True)
    code_version: Mapped[str] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=CGCS2000, spatial_index=True), nullable=True
    )

    parent: Mapped[AdminArea | None] = relationship(remote_side=[id])


class CodeListEntry(Base):
    """One value of a versioned code list, e.g. the HJ 1312-2023 outfall type tree."""

    __tablename__ = "code_lists"
    __table_args__ = (UniqueConstraint("scheme", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(32))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer)
    label_zh: Mapped[str] = mapped_column(String(128))
    label_en: Mapped[str] = mapped_column(String(128))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class AreaPart(Base):
    """Small pieces (``ST_Subdivide``) of basin and administrative polygons, rebuilt on every reference
    load: point-in-polygon on a few hundred vertices instead of tens of thousands keeps the derivation of
    an outfall's basin and area fast at national scale.
    """

    __tablename__ = "area_parts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # basin, sub_basin, admin
    ref_id: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer, default=0)  # admin: 0 = most detailed level
    geom: Mapped[WKBElement] = mapped_column(Geometry("POLYGON", srid=CGCS2000, spatial_index=True))
