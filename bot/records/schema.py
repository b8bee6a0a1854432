"""The records and LTI schema, versioned by Alembic and upgraded by casebot itself at start.

The migrations are package data (`bot/records/migrations/`) run on a connection casebot opens, so
nobody needs an alembic.ini. Revision 1 is the schema casebot made before Alembic: on a database
made then it creates only what is missing and keeps every row, so such a database is adopted.
Replicas starting together upgrade one at a time under the schema lock (PostgreSQL advisory lock).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from bot.errors import DatabaseError
from bot.records.database import describe_url, lock_schema

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Alembic's bookkeeping table, named for casebot: a shared PostgreSQL database may hold another
# application's `alembic_version`.
VERSION_TABLE = "casebot_alembic_version"
# Alembic's migration context is module-global (`alembic.context`): two upgrades in one process
# (the LTI tool and the records writer at start) must not run at the same time, whatever database.
_ALEMBIC = threading.Lock()


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this casebot knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None, "the migrations have no head"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None before casebot's first upgrade of it."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade_schema(engine: Engine) -> None:
    """Create the schema, adopt one made before Alembic, or upgrade it to the head revision;
    DatabaseError when the database cannot be reached or holds a revision this casebot lacks."""
    from alembic import command
    from alembic.util import CommandError

    try:
        with _ALEMBIC, engine.begin() as connection:
            lock_schema(connection)
            command.upgrade(_config(connection), "head")
    except DatabaseError:
        raise
    except CommandError as error:
        # An unknown revision: a newer casebot upgraded this database.
        raise DatabaseError(f"The records database {describe_url(str(engine.url))} has a schema "
                            f"this casebot does not know ({error}): upgrade casebot.") from None
    except Exception as error:
        raise DatabaseError(f"Cannot open the records database {describe_url(str(engine.url))}: "
                            f"{error}") from error


class Schema:
    """The schema of one engine, upgraded on first need: `ready()` tries again on each call until
    an upgrade succeeds (a database down at start is upgraded once it is up), then costs nothing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ready = False
        self._lock = threading.Lock()

    @property
    def is_ready(self) -> bool:
        """Whether this process has upgraded (or found current) the schema."""
        return self._ready

    def ready(self) -> Engine:
        """The engine, its schema upgraded; DatabaseError when that cannot be done now."""
        if not self._ready:
            with self._lock:
                if not self._ready:
                    upgrade_schema(self.engine)
                    self._ready = True
        return self.engine
