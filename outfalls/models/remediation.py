"""Remediation (整治) and closing out (销号): plans, progress, completion and acceptance as append-only records,
and the closing gate per category as data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from outfalls.db.base import Base, str_enum
from outfalls.types import RemediationCategory, RemediationStep


class ClosingRule(Base):
    """What closing out (销号) needs for one remediation category."""

    __tablename__ = "closing_rules"

    category: Mapped[RemediationCategory] = mapped_column(str_enum(RemediationCategory), primary_key=True)
    needs_traced: Mapped[bool] = mapped_column(Boolean)
    needs_completion_evidence: Mapped[bool] = mapped_column(Boolean)
    needs_followup_sample: Mapped[bool] = mapped_column(Boolean)
    needs_acceptance: Mapped[bool] = mapped_column(Boolean)  # by a user other than the one who completed it


class RemediationRecord(Base):
    """One step of an outfall's remediation (a database trigger refuses UPDATE and DELETE)."""

    __tablename__ = "remediation_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    outfall_id: Mapped[int] = mapped_column(ForeignKey("outfalls.id"), index=True)
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id"), unique=True)
    step: Mapped[RemediationStep] = mapped_column(str_enum(RemediationStep, 16))
    on: Mapped[date] = mapped_column(Date)
    category: Mapped[RemediationCategory | None] = mapped_column(str_enum(RemediationCategory))
    measures: Mapped[str | None] = mapped_column(Text)
    responsible_party: Mapped[str | None] = mapped_column(String(256))
    deadline: Mapped[date | None] = mapped_column(Date)
    is_quick_fix: Mapped[bool | None] = mapped_column(Boolean)  # 立行立改, or staged works
    merge_into_id: Mapped[int | None] = mapped_column(ForeignKey("outfalls.id"))
    progress_pct: Mapped[int | None] = mapped_column(Integer)
    evidence: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")  # attachment ids
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
