"""The outfall (排污口): the reconciled entity, with current state denormalised from its events."""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outfalls.db.base import Base, str_enum
from outfalls.models.reference import AdminArea, Basin, River
from outfalls.types import CGCS2000, CodeProvenance, OutfallStatus, RemediationCategory, SurveyLevel

# 16 hex digits (64 bits) of randomness: no two of a national catalogue collide in practice.
PUBLIC_REF_SQL = "substr(md5(random()::text || clock_timestamp()::text), 1, 16)"


class Outfall(Base):
    """A reconciled outfall; every change to it is an event written in the same transaction."""

    __tablename__ = "outfalls"
    __table_args__ = (
        ForeignKeyConstraint(
            ["type_scheme", "type_code"],
            ["code_lists.scheme", "code_lists.code"],
            name="fk_outfalls_type_code_lists",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # 国家统一赋码 and the provincial/municipal code; often unknown at first.
    national_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    national_code_provenance: Mapped[CodeProvenance] = mapped_column(str_enum(CodeProvenance, 16))
    local_code: Mapped[str | None] = mapped_column(String(64), index=True)
    local_code_provenance: Mapped[CodeProvenance] = mapped_column(str_enum(CodeProvenance, 16))
    name: Mapped[str] = mapped_column(String(256))
    name_provenance: Mapped[CodeProvenance] = mapped_column(str_enum(CodeProvenance, 16))
    type_scheme: Mapped[str] = mapped_column(String(32))
    type_code: Mapped[str] = mapped_column(String(32))
    type_raw: Mapped[str | None] = mapped_column(Text)  # the type as written in the field record
    receiving_water: Mapped[str | None] = mapped_column(String(128))  # 排入水体
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=CGCS2000, spatial_index=True))
    basin_id: Mapped[int | None] = mapped_column(ForeignKey("basins.id"), index=True)
    sub_basin_id: Mapped[int | None] = mapped_column(ForeignKey("basins.id"), index=True)
    river_id: Mapped[int | None] = mapped_column(ForeignKey("rivers.id"))
    admin_area_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"), index=True)
    # True when a person set basin/river/area by hand, so spatial derivation leaves them alone.
    location_overridden: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    found_by: Mapped[SurveyLevel] = mapped_column(str_enum(SurveyLevel, 16), index=True)
    found_on: Mapped[date] = mapped_column(Date)
    status: Mapped[OutfallStatus] = mapped_column(str_enum(OutfallStatus), index=True)
    status_since: Mapped[date] = mapped_column(Date)
    is_discharging: Mapped[bool | None] = mapped_column(Boolean)
    last_sampled_on: Mapped[date | None] = mapped_column(Date)
    # The limits the outfall's results are judged against (e.g. GB3838-2002 / III), and the latest verdict.
    limit_standard: Mapped[str | None] = mapped_column(String(32))
    limit_grade: Mapped[str | None] = mapped_column(String(16))
    exceeds_limit: Mapped[bool | None] = mapped_column(Boolean)
    responsible_party: Mapped[str | None] = mapped_column(String(256))
    remediation_category: Mapped[RemediationCategory | None] = mapped_column(str_enum(RemediationCategory))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("outfalls.id"))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # The case officer (login) who works the case and the deadline they were given; set by ``assigned`` and
    # ``deadline_set`` events.
    assigned_to: Mapped[str | None] = mapped_column(String(64), index=True)
    case_deadline: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # The outfall's public reference (sign board QR code, public page): random, so the catalogue cannot be walked;
    # drawn by the database for every new row, and never changed.
    public_ref: Mapped[str] = mapped_column(String(16), unique=True, server_default=text(PUBLIC_REF_SQL))
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    basin: Mapped[Basin | None] = relationship(foreign_keys=[basin_id])
    sub_basin: Mapped[Basin | None] = relationship(foreign_keys=[sub_basin_id])
    river: Mapped[River | None] = relationship()
    admin_area: Mapped[AdminArea | None] = relationship()
