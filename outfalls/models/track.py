"""GPS tracks of the foot survey: one row per crew, local day and line of an imported file.

Rows are never deleted or edited (a database trigger refuses it): a wrong track is retired by setting
``retired_at`` once, so coverage figures can be traced back to the files behind them.
"""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Date, DateTime, Float, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from outfalls.db.base import Base
from outfalls.types import CGCS2000


class SurveyTrack(Base):
    """The line a crew walked on one local day (UTC+8), as recorded by a GPS or a phone, from one file."""

    __tablename__ = "survey_tracks"
    __table_args__ = (
        # the same file imported again adds nothing; a retired track no longer blocks a corrected import
        Index(
            "uq_survey_tracks_source_part",
            "source_sha256",
            "part",
            unique=True,
            postgresql_where=text("retired_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    crew: Mapped[str] = mapped_column(String(128), index=True)  # the crew, as named by the uploader
    day: Mapped[date | None] = mapped_column(Date, index=True)  # local day (UTC+8); None for an untimed track
    name: Mapped[str | None] = mapped_column(Text)  # the track's name in the file
    source_name: Mapped[str] = mapped_column(Text)  # the file name as received
    source_sha256: Mapped[str] = mapped_column(String(64))
    part: Mapped[int] = mapped_column(Integer)  # order of this line among those the file yielded
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    point_count: Mapped[int] = mapped_column(Integer)
    length_m: Mapped[float] = mapped_column(Float)  # geodesic, on the GRS80 ellipsoid
    geom: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=CGCS2000, spatial_index=True))
    imported_by: Mapped[str] = mapped_column(String(128))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(String(128))
    retired_reason: Mapped[str | None] = mapped_column(Text)
