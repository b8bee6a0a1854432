"""The records database: an engine from a SQLAlchemy URL, the schema lock, and casebot's own
errors for a database that fails.

Any SQLAlchemy 2 URL works; the default is a SQLite file in the data folder, and PostgreSQL is
reached through `postgresql+psycopg://user:password@host:port/dbname`. Several casebot replicas may
share one PostgreSQL database: the schema is upgraded (bot.records.schema) under an advisory lock,
so two servers starting together do not race.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import DatabaseError

# Seconds to wait for a PostgreSQL server to answer a new connection: a healthy one answers in
# milliseconds, even across a data centre.
CONNECT_TIMEOUT_S = 5
# An arbitrary constant naming casebot's schema lock among PostgreSQL advisory locks.
_ADVISORY_LOCK_KEY = 0x6361_7365_626F_74


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


def create_private_file(path: Path) -> None:
    """Make `path` an empty file readable by its owner only (0600), in a folder only its owner may
    enter (0700), unless it exists: the records hold what students asked. SQLite gives its -wal and
    -shm files the mode of the database file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def open_engine(url: str) -> Engine:
    """An Engine for `url` (SQLite files get their folder, WAL and a busy timeout)."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise DatabaseError(f"Not a database URL: {describe_url(url)} ({error})") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            create_private_file(Path(parsed.database).expanduser())
        # The background writer and request threads share the engine.
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30},
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            # WAL lets the dashboard read while an answer is being written; foreign keys for
            # the feedback cascade on purge.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # libpq waits for a host that drops packets as long as TCP does (minutes): the server's start,
    # and any LTI page that tries the database again, would wait as long.
    timeout = ({"connect_timeout": CONNECT_TIMEOUT_S}
               if parsed.get_driver_name() in ("psycopg", "psycopg2") else {})
    try:
        # hide_parameters: an error message never carries a student's question into the log.
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5,
                             hide_parameters=True, connect_args=timeout)
    except Exception as error:  # an unknown dialect or a missing driver
        raise DatabaseError(f"Cannot use {describe_url(url)}: {error}") from None


def lock_schema(connection: Connection) -> None:
    """Hold casebot's schema lock until `connection`'s transaction ends: replicas starting together
    on one database create tables one at a time, the others wait and then find them done, instead
    of failing (on PostgreSQL's catalogue with a duplicate type, on SQLite with a table that
    already exists). PostgreSQL: an advisory lock. SQLite: its write lock, taken now (the Python
    driver would start no transaction before DDL at all); others wait for it (busy timeout)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


P = ParamSpec("P")
R = TypeVar("R")


def database_errors(function: Callable[P, R]) -> Callable[P, R]:
    """`function` raising DatabaseError where SQLAlchemy raised (the database is down, full or
    read-only): callers handle casebot's own error, and the web layer answers 503."""
    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except SQLAlchemyError as error:
            raise DatabaseError(f"The records database failed: {error}") from error

    return wrapper
