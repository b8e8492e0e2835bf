"""Public disclosure (信息公开) and public reports (公众举报): the codes the coding rule has given (never reused),
citizens' reports with their photos, and each report's own history of steps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from outfalls.db.base import Base, str_enum
from outfalls.types import CGCS2000, ReportStatus


class IssuedCode(Base):
    """A local code the coding rule gave: kept for ever, so that a code is never given twice (a merged outfall's
    code is retired with it, not reused). ``prefix`` is the code without its sequence, ``seq`` the sequence.
    """

    __tablename__ = "issued_codes"
    __table_args__ = (Index("ix_issued_codes_prefix_seq", "prefix", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    outfall_id: Mapped[int] = mapped_column(ForeignKey("outfalls.id"), index=True)
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id"))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PublicReport(Base):
    """A citizen's report of a discharge (举报): where, what, up to four photos, an optional contact that is never
    shown publicly; ``receipt`` is the code the citizen looks its state up with.
    """

    __tablename__ = "public_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[ReportStatus] = mapped_column(str_enum(ReportStatus, 16), index=True)
    description: Mapped[str] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=CGCS2000, spatial_index=True))
    location_source: Mapped[str] = mapped_column(String(16))  # gps (the phone's position) or map (a point picked)
    contact: Mapped[str | None] = mapped_column(String(128))  # personal data: officers only
    outfall_ref: Mapped[str | None] = mapped_column(String(16))  # the public page it was sent from, if any
    admin_area_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"), index=True)
    basin_id: Mapped[int | None] = mapped_column(ForeignKey("basins.id"), index=True)
    outfall_id: Mapped[int | None] = mapped_column(ForeignKey("outfalls.id"), index=True)  # linked, or its candidate
    close_reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class PublicReportPhoto(Base):
    """A report's photo, re-encoded (only position and time kept of its EXIF), in the file store."""

    __tablename__ = "public_report_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("public_reports.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lon: Mapped[float | None]
    lat: Mapped[float | None]


class PublicReportEvent(Base):
    """One step in a report's handling (received, linked, candidate, closed): append-only."""

    __tablename__ = "public_report_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("public_reports.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
