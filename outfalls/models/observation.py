"""Raw observations (field records as received, never edited), their batches, and their links to
outfalls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    Boolean,
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
from outfalls.models.outfall import Outfall
from outfalls.types import CGCS2000, ObservationSource

_SOURCE = str_enum(ObservationSource, 24)


class ObservationBatch(Base):
    """One upload or import: the file, who sent it, the declared CRS and the outcome."""

    __tablename__ = "observation_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_kind: Mapped[ObservationSource] = mapped_column(_SOURCE)
    file_name: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    declared_crs: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class Observation(Base):
    """A field record as received (a database trigger refuses UPDATE and DELETE)."""

    __tablename__ = "observations"
    __table_args__ = (UniqueConstraint("source_kind", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("observation_batches.id"), index=True)
    source_kind: Mapped[ObservationSource] = mapped_column(_SOURCE)
    client_id: Mapped[str] = mapped_column(String(128))  # unique per source: re-sent records are not duplicated
    author: Mapped[str] = mapped_column(String(128))
    captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    orig_x: Mapped[float] = mapped_column(Float)
    orig_y: Mapped[float] = mapped_column(Float)
    orig_crs: Mapped[str] = mapped_column(String(32))  # "EPSG:4326", "GCJ-02", "BD-09", "EPSG:4498" ...
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=CGCS2000, spatial_index=True))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")

    batch: Mapped[ObservationBatch | None] = relationship()


class ObservationLink(Base):
    """Links an observation to the outfall it describes; a change is also written as an event."""

    __tablename__ = "observation_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id"), index=True)
    outfall_id: Mapped[int] = mapped_column(ForeignKey("outfalls.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    linked_by: Mapped[str] = mapped_column(String(128))
    unlinked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unlinked_by: Mapped[str | None] = mapped_column(String(128))

    observation: Mapped[Observation] = relationship()
    outfall: Mapped[Outfall] = relationship()
