"""Attachments: photos and documents in the content-addressed store, with their metadata here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from outfalls.db.base import Base


class Attachment(Base):
    """A file attached to an outfall, an observation or an event; the bytes live at ``store/ab/cd/<sha256>``."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(128))
    original_name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))  # photo, document, track ...
    outfall_id: Mapped[int | None] = mapped_column(ForeignKey("outfalls.id"), index=True)
    observation_id: Mapped[int | None] = mapped_column(ForeignKey("observations.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    meta: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
