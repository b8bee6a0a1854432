"""The records database: engine from a SQLAlchemy URL, the tables, and a schema that upgrades itself.

Any SQLAlchemy 2 URL works; the default is a SQLite file in the data folder, and PostgreSQL is
reached through `postgresql+psycopg://user:password@host:port/dbname`. Several casebot replicas may
share one PostgreSQL database: creating and upgrading the schema happens under an advisory lock, so
two servers starting together do not race.

Each component keeps its schema version in `casebot_schema` (one row per component, e.g. `records`),
so other modules (LTI registrations) can add their own tables on the same engine and version them
independently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.errors import DatabaseError

log = logging.getLogger("casebot.records")

SCHEMA_VERSION = 1
COMPONENT = "records"
# An arbitrary constant naming casebot's schema lock among PostgreSQL advisory locks.
_ADVISORY_LOCK_KEY = 0x6361_7365_626F_74


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
    """The declarative base of every casebot table (records, and LTI registrations)."""


class SchemaVersion(Base):
    """One row per component: the schema version its tables are at."""

    __tablename__ = "casebot_schema"
    component: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


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
    # An LTI launch's platform (issuer) and course (context id); NULL for chat, embed and API.
    platform: Mapped[str | None] = mapped_column(String(512), nullable=True)
    course: Mapped[str | None] = mapped_column(String(255), nullable=True)

    __table_args__ = (Index("ix_casebot_answers_case_time", "case_id", "asked_at"),)


class FeedbackRow(Base):
    """A student's rating of one answer (the latest rating replaces an earlier one)."""

    __tablename__ = "casebot_feedback"
    answer_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("casebot_answers.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SecretRow(Base):
    """Random keys shared by every replica through the database (e.g. the LTI user-id hash key)."""

    __tablename__ = "casebot_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class RevokedSessionRow(Base):
    """A signed-out instructor session: refused until it would have expired anyway."""

    __tablename__ = "casebot_revoked_sessions"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


RECORD_TABLES: tuple[Table, ...] = (AnswerRow.__table__, FeedbackRow.__table__,  # type: ignore[assignment]
                                    SecretRow.__table__, RevokedSessionRow.__table__)
# Upgrades from version N to N + 1, run in order inside the schema lock; none yet.
UPGRADES: dict[int, Callable[[Any], None]] = {}


def default_database_url(data_dir: Path) -> str:
    """The SQLite file `<data_dir>/records.sqlite3` as a SQLAlchemy URL."""
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / 'records.sqlite3'}"


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable database URL)"


def check_url(url: str) -> None:
    """ValueError when `url` is not a database URL casebot can use here (bad form, unknown
    database, or its driver not installed); nothing is connected to."""
    if not url:
        return
    try:
        dialect = make_url(url).get_dialect()
    except Exception as error:
        raise ValueError(f"CASEBOT_DATABASE_URL is not a usable database URL "
                         f"({describe_url(url)}): {error}") from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        hint = " (pip install 'casebot[postgresql]')" if dialect.name == "postgresql" else ""
        raise ValueError(f"The driver for {describe_url(url)} is not installed{hint}: {error}") from None


def open_engine(url: str) -> Engine:
    """An Engine for `url` (SQLite files get their folder, WAL and a busy timeout)."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise DatabaseError(f"Not a database URL: {describe_url(url)} ({error})") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # The background writer and request threads share the engine.
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            # WAL lets the dashboard read while an answer is being written; foreign keys for
            # the feedback cascade on purge.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    except Exception as error:  # an unknown dialect or a missing driver
        raise DatabaseError(f"Cannot use {describe_url(url)}: {error}") from None


def lock_schema(connection: Connection) -> None:
    """Hold casebot's schema lock until `connection`'s transaction ends (PostgreSQL; elsewhere a
    no-op): replicas starting together on one database create tables one at a time, the others wait
    and then find them done, instead of failing on PostgreSQL's catalogue with a duplicate type."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})


def ensure_schema(engine: Engine, component: str = COMPONENT, tables: tuple[Table, ...] = RECORD_TABLES,
                  version: int = SCHEMA_VERSION,
                  upgrades: dict[int, Callable[[Any], None]] | None = None) -> None:
    """Create `component`'s tables, or upgrade them to `version`; DatabaseError when the database
    holds a newer schema than this code knows."""
    upgrades = UPGRADES if upgrades is None else upgrades
    try:
        with engine.begin() as connection:
            lock_schema(connection)
            version_table: Table = SchemaVersion.__table__  # type: ignore[assignment]
            Base.metadata.create_all(connection, tables=[version_table, *tables])
            with Session(bind=connection) as session:
                row = session.scalar(select(SchemaVersion).where(SchemaVersion.component == component))
                if row is None:
                    session.add(SchemaVersion(component=component, version=version))
                elif row.version > version:
                    raise DatabaseError(
                        f"The database's {component} schema is version {row.version}, newer than "
                        f"this casebot's {version}: upgrade casebot.")
                else:
                    for step in range(row.version, version):
                        log.info("upgrading the %s schema from version %d", component, step)
                        upgrades[step](connection)
                    row.version = version
                session.flush()
    except DatabaseError:
        raise
    except Exception as error:
        raise DatabaseError(f"Cannot open the records database {describe_url(str(engine.url))}: "
                            f"{error}") from error


def schema_version(engine: Engine, component: str = COMPONENT) -> int | None:
    """The stored schema version of `component`, None when it has no tables yet."""
    with Session(engine) as session:
        try:
            return session.scalar(select(SchemaVersion.version).where(
                SchemaVersion.component == component))
        except Exception:
            return None
