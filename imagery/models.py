"""Drone imagery and its interpretation (level 1 of the three-level survey, 三级排查): flight records (sorties),
orthophotos with the footprint of their valid pixels, the corridor cells analysts interpret, the marks they draw
(suspected outfalls and sensitive areas, 敏感区域) with their review, and the verification tasks sent to crews.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outfalls.db.base import Base, str_enum
from outfalls.types import CGCS2000


class CellStatus(StrEnum):
    """Where the interpretation of a cell stands."""

    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"  # the analyst finished it; waiting for review
    REVIEWED = "reviewed"  # every mark in it was reviewed


class MarkKind(StrEnum):
    """What an analyst drew."""

    POINT = "point"  # a suspected outfall (疑似排污口)
    AREA = "area"  # a sensitive area (敏感区域): walk it although no outfall is visible


class MarkReview(StrEnum):
    """The reviewer's decision on a mark."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    EDITED = "edited"  # accepted with changes by the reviewer
    REJECTED = "rejected"


class Sortie(Base):
    """A flight (架次) as HJ 1233 books it: date, aircraft, altitude, area flown, photos, operator."""

    __tablename__ = "sorties"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # the flight team's sortie number
    flown_on: Mapped[date | None] = mapped_column(Date)
    aircraft_type: Mapped[str | None] = mapped_column(String(128))
    altitude_m: Mapped[float | None] = mapped_column(Float)
    area_km2: Mapped[float | None] = mapped_column(Float)
    length_km: Mapped[float | None] = mapped_column(Float)
    photo_count: Mapped[int | None] = mapped_column(Integer)
    operator: Mapped[str | None] = mapped_column(String(128))
    basin_id: Mapped[int | None] = mapped_column(ForeignKey("basins.id"), index=True)
    river_id: Mapped[int | None] = mapped_column(ForeignKey("rivers.id"), index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Orthophoto(Base):
    """An ingested orthophoto: a Cloud-Optimized GeoTIFF in the imagery store and the footprint of its valid
    pixels (not its bounding box) in CGCS2000.
    """

    __tablename__ = "orthophotos"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # of the file as received
    file_name: Mapped[str] = mapped_column(Text)
    cog_path: Mapped[str] = mapped_column(Text)  # relative to the imagery store
    sortie_id: Mapped[int | None] = mapped_column(ForeignKey("sorties.id"), index=True)
    captured_on: Mapped[date | None] = mapped_column(Date)
    crs: Mapped[str] = mapped_column(Text)  # the file's own CRS (EPSG code when it has one, else WKT)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    band_count: Mapped[int] = mapped_column(Integer)
    band_layout: Mapped[str] = mapped_column(String(64))  # RGB, RGBA, gray …
    mask_kind: Mapped[str] = mapped_column(String(16))  # alpha, nodata, mask, none
    dtype: Mapped[str] = mapped_column(String(16))
    resolution_m: Mapped[float] = mapped_column(Float)  # ground size of a pixel
    size_bytes: Mapped[int] = mapped_column(BigInteger)  # of the COG
    footprint: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=CGCS2000, spatial_index=True))
    footprint_area_m2: Mapped[float] = mapped_column(Float)
    ingested_by: Mapped[str] = mapped_column(String(128))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    sortie: Mapped[Sortie | None] = relationship()


class InterpretationCell(Base):
    """A square of the river corridor (clipped to the imagery) that one analyst interprets."""

    __tablename__ = "interpretation_cells"
    __table_args__ = (UniqueConstraint("basin_id", "grid_srid", "grid_i", "grid_j"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    basin_id: Mapped[int] = mapped_column(ForeignKey("basins.id"), index=True)
    grid_srid: Mapped[int] = mapped_column(Integer)  # the metric CRS the grid was laid in
    grid_i: Mapped[int] = mapped_column(Integer)
    grid_j: Mapped[int] = mapped_column(Integer)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=CGCS2000, spatial_index=True))
    area_m2: Mapped[float] = mapped_column(Float)
    status: Mapped[CellStatus] = mapped_column(str_enum(CellStatus, 16), index=True)
    analyst: Mapped[str | None] = mapped_column(String(128), index=True)
    reviewer: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class ImageryMark(Base):
    """A point (suspected outfall) or polygon (sensitive area) an analyst drew on an orthophoto, and its review.
    An accepted point becomes a candidate outfall (``outfall_id``); the analyst's version is kept in ``original``
    when the reviewer edited it.
    """

    __tablename__ = "imagery_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("interpretation_cells.id"), index=True)
    kind: Mapped[MarkKind] = mapped_column(str_enum(MarkKind, 16))
    geom: Mapped[WKBElement] = mapped_column(Geometry("GEOMETRY", srid=CGCS2000, spatial_index=True))
    orthophoto_id: Mapped[int | None] = mapped_column(ForeignKey("orthophotos.id"), index=True)
    type_guess: Mapped[str | None] = mapped_column(String(32))  # an HJ 1312 code, when the analyst guesses one
    confidence: Mapped[str | None] = mapped_column(String(16))  # low, medium, high
    area_kind: Mapped[str | None] = mapped_column(String(32))  # bridge, dock, woods, industrial, other
    note: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    review: Mapped[MarkReview] = mapped_column(str_enum(MarkReview, 16), index=True)
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(128))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    original: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    outfall_id: Mapped[int | None] = mapped_column(ForeignKey("outfalls.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    cell: Mapped[InterpretationCell] = relationship()


class VerificationTask(Base):
    """Candidates and sensitive areas given to a crew to verify on foot, as a walking route."""

    __tablename__ = "verification_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    crew: Mapped[str] = mapped_column(String(128), index=True)  # the crew's login
    basin_id: Mapped[int | None] = mapped_column(ForeignKey("basins.id"))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class VerificationStop(Base):
    """One stop of a task's route (a candidate or a sensitive area), in walking order."""

    __tablename__ = "verification_stops"
    __table_args__ = (UniqueConstraint("task_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("verification_tasks.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    mark_id: Mapped[int] = mapped_column(ForeignKey("imagery_marks.id"), unique=True)  # in one task at most

    mark: Mapped[ImageryMark] = relationship()
