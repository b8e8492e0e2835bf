"""Records sent from the crews' phones (the offline field app): each kept once by the id the phone made for it,
with the answer it got, and the photos that arrived for it one by one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from outfalls.db.base import Base


class FieldRecord(Base):
    """A record the phone sent and the server acknowledged: the same client id sent again gets the same answer."""

    __tablename__ = "field_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), unique=True)  # made on the phone
    kind: Mapped[str] = mapped_column(String(24))  # new_outfall, verify, reject, visit, track
    actor: Mapped[str] = mapped_column(String(128), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the record as sent
    outcome: Mapped[str] = mapped_column(String(16))  # accepted or conflict (a refused record is not kept)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")


class FieldPhoto(Base):
    """A photo of a phone record, received before its record; attached when the record is applied."""

    __tablename__ = "field_photos"
    __table_args__ = (UniqueConstraint("client_id", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))  # the record's
    slot: Mapped[str] = mapped_column(String(16))  # near1, near2, sign, far, site
    actor: Mapped[str] = mapped_column(String(128))
    file_name: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id", ondelete="SET NULL"))
