"""规范化建设 (HJ 1309-2023): the checklist of an outfall that is kept, as append-only check records."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from outfalls.db.base import Base, str_enum
from outfalls.types import StandardisationItem


class StandardisationCheck(Base):
    """One check of one checklist item; the latest check of each item is its current state."""

    __tablename__ = "standardisation_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    outfall_id: Mapped[int] = mapped_column(ForeignKey("outfalls.id"), index=True)
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id"))
    item: Mapped[StandardisationItem] = mapped_column(str_enum(StandardisationItem, 24))
    is_done: Mapped[bool] = mapped_column(Boolean)
    on: Mapped[date] = mapped_column(Date)
    evidence: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
