"""Events: the append-only history of every outfall (a database trigger refuses UPDATE and DELETE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outfalls.db.base import Base, str_enum
from outfalls.models.outfall import Outfall
from outfalls.types import EventKind


class Event(Base):
    """One change to an outfall: what (kind + payload), who, when recorded and when effective."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_outfall_id_effective_at", "outfall_id", "effective_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    outfall_id: Mapped[int] = mapped_column(ForeignKey("outfalls.id"))
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind, 32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When the change happened in the world (a survey date, say); as-of queries use this.
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The outfall's version after this event (1 for ``created``); NULL for events recorded before it was kept.
    # A refused stale edit lists the events with a version above the one the edit was based on.
    outfall_version: Mapped[int | None] = mapped_column(Integer)

    outfall: Mapped[Outfall] = relationship()
