"""Background jobs (large uploads, later large exports): what to do, who asked, progress and the outcome, so
the page that started one can be closed and reopened, and a job cut off by a restart says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from outfalls.db.base import Base, str_enum
from outfalls.types import JobStatus


class Job(Base):
    """One background job; its work is done in a single transaction, so a failed or killed job changes nothing."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus, 16), index=True)
    input_name: Mapped[str | None] = mapped_column(Text)
    input_sha256: Mapped[str | None] = mapped_column(String(64))  # the uploaded file, in the file store
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    message: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_by: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
