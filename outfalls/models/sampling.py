"""Monitoring (监测): parameters, the limits of standards, site visits and their results (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outfalls.db.base import Base, str_enum
from outfalls.types import DischargeState, FlowState, SampleMethod


class Parameter(Base):
    """A monitored parameter (pH, COD, NH3-N, TN, TP are mandatory for outfalls) and its unit."""

    __tablename__ = "parameters"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label_zh: Mapped[str] = mapped_column(String(64))
    label_en: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(16))  # "" for pH
    is_mandatory: Mapped[bool] = mapped_column(Boolean, default=False)
    min_valid: Mapped[float | None] = mapped_column(Float)  # physically possible range, to catch typos
    max_valid: Mapped[float | None] = mapped_column(Float)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class StandardLimit(Base):
    """One limit of a standard and grade, e.g. GB 3838-2002 class III: COD ≤ 20 mg/L."""

    __tablename__ = "standard_limits"
    __table_args__ = (UniqueConstraint("standard", "grade", "parameter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    standard: Mapped[str] = mapped_column(String(32))
    grade: Mapped[str] = mapped_column(String(16))
    label_zh: Mapped[str] = mapped_column(String(128))
    label_en: Mapped[str] = mapped_column(String(128))
    parameter: Mapped[str] = mapped_column(ForeignKey("parameters.code"))
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)


class MonitoringVisit(Base):
    """A monitoring visit to an outfall as recorded (a database trigger refuses UPDATE and DELETE)."""

    __tablename__ = "monitoring_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    outfall_id: Mapped[int] = mapped_column(ForeignKey("outfalls.id"), index=True)
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id"), unique=True)
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    discharge: Mapped[DischargeState] = mapped_column(str_enum(DischargeState, 16))
    not_possible_reason: Mapped[str | None] = mapped_column(Text)
    flow: Mapped[FlowState] = mapped_column(str_enum(FlowState, 16))
    flow_m3s: Mapped[float | None] = mapped_column(Float)
    colour: Mapped[str | None] = mapped_column(String(64))
    turbidity: Mapped[str | None] = mapped_column(String(64))
    odour: Mapped[str | None] = mapped_column(String(64))
    oil_film: Mapped[bool | None] = mapped_column(Boolean)
    limit_standard: Mapped[str | None] = mapped_column(String(32))  # the limits the results were judged against
    limit_grade: Mapped[str | None] = mapped_column(String(16))
    exceedances: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    results: Mapped[list[SampleResult]] = relationship(
        order_by="SampleResult.id", lazy="selectin", back_populates="visit"
    )


class SampleResult(Base):
    """One measured value of a visit (a field quick test or a laboratory result); append-only."""

    __tablename__ = "sample_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("monitoring_visits.id"), index=True)
    parameter: Mapped[str] = mapped_column(ForeignKey("parameters.code"))
    value: Mapped[float | None] = mapped_column(Float)  # None when below the detection limit
    below_detection: Mapped[bool] = mapped_column(Boolean, default=False)
    detection_limit: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    method: Mapped[SampleMethod] = mapped_column(str_enum(SampleMethod, 16))
    lab: Mapped[str | None] = mapped_column(String(128))
    sampled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    limit_min: Mapped[float | None] = mapped_column(Float)
    limit_max: Mapped[float | None] = mapped_column(Float)
    exceeds: Mapped[bool | None] = mapped_column(Boolean)  # None: no applicable limit

    visit: Mapped[MonitoringVisit] = relationship(back_populates="results")
