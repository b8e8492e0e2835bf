"""Foot-survey intake: saved column mappings and the review queue of rows reconciliation could not decide."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outfalls.db.base import Base, str_enum
from outfalls.models.observation import Observation
from outfalls.types import ReviewReason, ReviewStatus


class SurveyMapping(Base):
    """A named column mapping (field → column) saved for the next upload from the same tool."""

    __tablename__ = "survey_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ReviewItem(Base):
    """An accepted survey row that reconciliation did not link by itself: a person links it to one of the
    candidate outfalls or creates a new outfall from it.
    """

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id"), unique=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("observation_batches.id"), index=True)
    reason: Mapped[ReviewReason] = mapped_column(str_enum(ReviewReason, 32))
    candidate_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list, server_default="{}")
    detail: Mapped[str | None] = mapped_column(Text)
    # Rows of one upload that may be one outfall are decided together: the smallest observation id of the group.
    cluster_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[ReviewStatus] = mapped_column(str_enum(ReviewStatus, 16), index=True)
    resolution: Mapped[str | None] = mapped_column(String(32))
    outfall_id: Mapped[int | None] = mapped_column(ForeignKey("outfalls.id"))  # where the row ended up
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    observation: Mapped[Observation] = relationship()
