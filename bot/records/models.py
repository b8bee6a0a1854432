"""The records tables (SQLAlchemy declarative models) and the plain records the rest of casebot
passes around: an answered question as kept, as read back, and the scope an instructor may read.

The schema itself is built and upgraded by the Alembic migrations in `bot/records/migrations/`;
these models describe its current (head) revision, and a test checks that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.answer import Turn


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone; this restores it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if dialect.name != "sqlite" else value.astimezone(UTC).replace(
            tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base of every casebot table (records, and LTI in bot.lti.models)."""


class AnswerRow(Base):
    """One answered question. No IP address or user agent is ever stored."""

    __tablename__ = "casebot_answers"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    case_id: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    # The earlier turns as JSON, so an exported row replays the same follow-up question.
    history: Mapped[str] = mapped_column(Text, default="[]")
    history_turns: Mapped[int] = mapped_column(Integer, default=0)
    answer: Mapped[str] = mapped_column(Text)
    abstained: Mapped[bool] = mapped_column(Boolean)
    cited_paragraphs: Mapped[str] = mapped_column(String(2000), default="[]")
    backend: Mapped[str] = mapped_column(String(200))
    latency_ms: Mapped[float] = mapped_column(Float)
    channel: Mapped[str] = mapped_column(String(16))
    session_id: Mapped[str] = mapped_column(String(64))
    # An LTI user only as a keyed hash (HMAC), never the platform's id itself.
    user_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Where an LTI launch came from (the platform's issuer and the course's context id): an
    # instructor launched from one course reads only that course's records. None outside LTI.
    platform: Mapped[str | None] = mapped_column(String(512), nullable=True)
    course: Mapped[str | None] = mapped_column(String(255), nullable=True)
    guided: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What the answer cited, text included (JSON): the record still shows what the student read
    # after the case is re-read and its paragraph numbers move. Server defaults let a replica of
    # the previous release keep inserting during a rolling upgrade.
    citations: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")

    __table_args__ = (Index("ix_casebot_answers_case_time", "case_id", "asked_at"),
                      Index("ix_casebot_answers_scope", "case_id", "platform", "course"))


class FeedbackRow(Base):
    """A student's rating of one answer (the latest rating replaces an earlier one)."""

    __tablename__ = "casebot_feedback"
    answer_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("casebot_answers.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SecretRow(Base):
    """Keys an earlier casebot kept in the database. Only read: the pseudonym key of a database
    made before CASEBOT_SECRET ("user-hash-key"), so existing pseudonyms keep their students."""

    __tablename__ = "casebot_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class RevokedSessionRow(Base):
    """A signed session that was signed out before it expired (kept until it would have)."""

    __tablename__ = "casebot_revoked_sessions"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class CitedPassage:
    """A passage an answer cited, as it read when the answer was given."""

    paragraph: int
    label: str
    text: str
    # The page, or [first, last], of a case read from pages; None for a case without pages.
    page: int | list[int] | None = None


@dataclass(frozen=True)
class AnswerRecord:
    """What is kept of one answered question."""

    id: str
    asked_at: datetime
    case_id: str
    question: str
    history: tuple[Turn, ...]
    answer: str
    abstained: bool
    cited_paragraphs: tuple[int, ...]
    backend: str
    latency_ms: float
    channel: str
    session_id: str
    user_hash: str | None = None
    platform: str | None = None
    course: str | None = None
    guided: bool = False
    citations: tuple[CitedPassage, ...] = ()


@dataclass(frozen=True)
class StoredAnswer:
    """A record read back, with its rating if a student gave one."""

    record: AnswerRecord
    rating: str | None = None
    comment: str = ""


@dataclass(frozen=True)
class RecordScope:
    """The records one LTI instructor session may read: one case, from one platform and course."""

    case_id: str
    platform: str
    course: str
