"""Progress: targets (目标任务) with their history, and the milestones of each outfall that progress counts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Float, Identity, Index, Integer, SmallInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from outfalls.db.base import Base


class ProgressTarget(Base):
    """One version of a target: ``share`` of the outfalls in a scope reach ``metric`` by ``deadline``.

    Append-only (a database trigger refuses UPDATE and DELETE): a changed target is a new row with a later
    ``effective_on``, so progress as of an earlier date still uses the target then in force. A row without a
    share withdraws the target from its ``effective_on``.
    """

    __tablename__ = "progress_targets"
    __table_args__ = (Index("ix_progress_targets_scope", "scope_kind", "scope_code", "metric", "deadline"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(16))  # all, basin, sub_basin, river, area
    scope_code: Mapped[str | None] = mapped_column(String(64))  # basin, river or GB/T 2260 code; NULL for all
    metric: Mapped[str] = mapped_column(String(32))
    deadline: Mapped[date] = mapped_column(Date)
    share: Mapped[float | None] = mapped_column(Float)  # 0..1; NULL withdraws the target
    effective_on: Mapped[date] = mapped_column(Date)  # as-of dates from this day on use this version
    note: Mapped[str | None] = mapped_column(Text)  # the document that set it, say
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OutfallMilestone(Base):
    """The first day each outfall reached each stage, derived from its events by database triggers (on
    ``events`` inserts and on changes of the outfall's location), so that progress as of any date is one scan
    of one narrow row per outfall instead of a replay of tens of millions of events.

    No foreign key: rows come only from events, which reference their outfall and are never deleted.
    Days are UTC calendar days of ``events.effective_at`` (field dates are stored at 04:00 UTC, noon in China).
    """

    __tablename__ = "outfall_milestones"

    outfall_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    basin_id: Mapped[int | None] = mapped_column(Integer)
    sub_basin_id: Mapped[int | None] = mapped_column(Integer)
    river_id: Mapped[int | None] = mapped_column(Integer)
    admin_area_id: Mapped[int | None] = mapped_column(Integer)
    found_on: Mapped[date | None] = mapped_column(Date)  # the created event
    rejected_on: Mapped[date | None] = mapped_column(Date)
    merged_on: Mapped[date | None] = mapped_column(Date)
    surveyed_on: Mapped[date | None] = mapped_column(Date)  # surveyed or any later stage
    sampled_on: Mapped[date | None] = mapped_column(Date)  # first sampling visit
    traced_on: Mapped[date | None] = mapped_column(Date)  # traced or any later stage
    remediating_on: Mapped[date | None] = mapped_column(Date)
    remediated_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)


class AreaStateDay(Base):
    """How many outfalls entered (+) or left (−) a state on a day, per location (0 = none), kept from
    ``outfall_milestones`` by a trigger (revision 0018); the row dated ``infinity`` holds the current count,
    so the count of a past day is that row minus the changes after the day, and today's needs no scan.
    """

    __tablename__ = "area_state_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    admin_area_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    basin_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sub_basin_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    river_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False)


class AreaMilestoneDay(Base):
    """How many outfalls of the progress denominator started (+) or stopped (−) counting in a metric on a day,
    per location (0 = none), kept from ``outfall_milestones`` by a trigger (revision 0018); metric ``found``
    counts the outfalls found that day. The row dated ``infinity`` holds the current count, as in
    ``area_state_days``.
    """

    __tablename__ = "area_milestone_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    admin_area_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    basin_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sub_basin_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    river_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False)


class AreaMilestoneMonth(Base):
    """The changes of ``area_milestone_days`` summed by month (``month`` is its first day), kept by the same
    trigger (revision 0018): the monthly trend and a past day's progress sum a few rows per location and month.
    """

    __tablename__ = "area_milestone_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    admin_area_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    basin_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sub_basin_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    river_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False)


class AreaMilestoneYear(Base):
    """The changes of ``area_milestone_days`` summed by year (``year`` is its first day), kept by the same trigger
    (revision 0025): a past day's progress subtracts a few rows per location and year after it, then the months
    of its own year, instead of every month since.
    """

    __tablename__ = "area_milestone_years"

    year: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    admin_area_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    basin_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sub_basin_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    river_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False)


class MilestoneCountBacklog(Base):
    """Milestone rows whose changes to the counts per area and day are still to be added (revision 0026): a
    statement writing many milestone rows at once (a bulk import) leaves them here, signed (+1 the new row, −1 the
    old one), instead of upserting the counts in its own transaction, and ``outfalls.progress.backlog.fold`` adds
    them in short transactions after its commit. While a row waits, progress reads count the milestones instead.
    """

    __tablename__ = "milestone_count_backlog"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sign: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    admin_area_id: Mapped[int | None] = mapped_column(Integer)
    basin_id: Mapped[int | None] = mapped_column(Integer)
    sub_basin_id: Mapped[int | None] = mapped_column(Integer)
    river_id: Mapped[int | None] = mapped_column(Integer)
    found_on: Mapped[date | None] = mapped_column(Date)
    rejected_on: Mapped[date | None] = mapped_column(Date)
    merged_on: Mapped[date | None] = mapped_column(Date)
    surveyed_on: Mapped[date | None] = mapped_column(Date)
    sampled_on: Mapped[date | None] = mapped_column(Date)
    traced_on: Mapped[date | None] = mapped_column(Date)
    remediating_on: Mapped[date | None] = mapped_column(Date)
    remediated_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
