"""Source tracing (溯源): who and what is behind an outfall, as recorded at each tracing (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outfalls.db.base import Base, str_enum
from outfalls.types import TraceMethod


class TraceRecord(Base):
    """One tracing result for an outfall; a later record supersedes it, nothing is edited."""

    __tablename__ = "trace_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    outfall_id: Mapped[int] = mapped_column(ForeignKey("outfalls.id"), index=True)
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id"), unique=True)
    traced_on: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    method: Mapped[TraceMethod] = mapped_column(str_enum(TraceMethod, 16))  # 资料 / 人工排查 / 技术溯源
    technique: Mapped[str | None] = mapped_column(String(64))  # pipe robot, dye, water-quality fingerprint ...
    sewage_source: Mapped[str | None] = mapped_column(Text)  # 污水来源
    use_status: Mapped[str | None] = mapped_column(String(64))  # 使用状态
    environmental_risk: Mapped[str | None] = mapped_column(Text)  # 环境风险隐患
    is_government_default: Mapped[bool] = mapped_column(Boolean, default=False)  # 政府兜底
    government_reason: Mapped[str | None] = mapped_column(Text)
    is_complete: Mapped[bool] = mapped_column(Boolean)  # met the programme's "traced" rule when recorded
    notes: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    parties: Mapped[list[TraceParty]] = relationship(order_by="TraceParty.id", lazy="selectin")


class TraceParty(Base):
    """A source or responsible party found by a tracing; exactly one per record is the main one."""

    __tablename__ = "trace_parties"

    id: Mapped[int] = mapped_column(primary_key=True)
    trace_id: Mapped[int] = mapped_column(ForeignKey("trace_records.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)  # 统一社会信用代码 (GB 32100-2015)
    industry: Mapped[str | None] = mapped_column(String(128))  # 行业类别
    description: Mapped[str | None] = mapped_column(Text)  # what it discharges / its role
    share_pct: Mapped[float | None] = mapped_column(Float)
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)  # 主要责任主体
