"""The records and LTI schema under Alembic, on SQLite and on a real PostgreSQL: an empty database
gets the head revision, a database made before Alembic is adopted with every row, replicas
starting together upgrade one at a time, and the models agree with the migrations."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import Engine, text

from bot.errors import DatabaseError
from bot.lti.models import InstructorGrant, list_platforms, redeem_instructor_ticket
from bot.records.database import default_database_url, open_engine
from bot.records.models import Base
from bot.records.repository import RecordStore, keyed_user_hash
from bot.records.schema import VERSION_TABLE, current_revision, head_revision, upgrade_schema

SECRET = "s" * 64

# The tables casebot made before Alembic (records schema version 1, and the LTI tables), as its
# SQLAlchemy models emitted them.
OLD_SCHEMA = """
CREATE TABLE casebot_schema (component VARCHAR(64) NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (component));
CREATE TABLE casebot_answers (id VARCHAR(32) NOT NULL, asked_at TIMESTAMP WITH TIME ZONE NOT NULL,
    case_id VARCHAR(200) NOT NULL, question TEXT NOT NULL, history TEXT NOT NULL,
    history_turns INTEGER NOT NULL, answer TEXT NOT NULL, abstained BOOLEAN NOT NULL,
    cited_paragraphs VARCHAR(2000) NOT NULL, backend VARCHAR(200) NOT NULL, latency_ms FLOAT NOT NULL,
    channel VARCHAR(16) NOT NULL, session_id VARCHAR(64) NOT NULL, user_hash VARCHAR(64),
    PRIMARY KEY (id));
CREATE INDEX ix_casebot_answers_asked_at ON casebot_answers (asked_at);
CREATE INDEX ix_casebot_answers_case_time ON casebot_answers (case_id, asked_at);
CREATE TABLE casebot_feedback (answer_id VARCHAR(32) NOT NULL, rating VARCHAR(8) NOT NULL,
    comment TEXT NOT NULL, rated_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (answer_id),
    FOREIGN KEY(answer_id) REFERENCES casebot_answers (id) ON DELETE CASCADE);
CREATE TABLE casebot_secrets (name VARCHAR(64) NOT NULL, value VARCHAR(128) NOT NULL,
    PRIMARY KEY (name));
CREATE TABLE lti_platforms (id INTEGER NOT NULL, issuer VARCHAR(512) NOT NULL,
    client_id VARCHAR(255) NOT NULL, deployment_ids TEXT NOT NULL, auth_login_url VARCHAR(1024) NOT NULL,
    auth_token_url VARCHAR(1024) NOT NULL, jwks_url VARCHAR(1024) NOT NULL, frame_origins TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id),
    CONSTRAINT uq_lti_platform UNIQUE (issuer, client_id));
CREATE TABLE lti_tool_keys (kid VARCHAR(128) NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    retired_until TIMESTAMP WITH TIME ZONE, PRIMARY KEY (kid));
CREATE TABLE lti_login_states (state VARCHAR(128) NOT NULL, nonce VARCHAR(128) NOT NULL,
    issuer VARCHAR(512) NOT NULL, client_id VARCHAR(255) NOT NULL,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (state));
CREATE TABLE lti_used_nonces (key VARCHAR(64) NOT NULL, expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (key));
CREATE TABLE lti_deep_links (id VARCHAR(128) NOT NULL, issuer VARCHAR(512) NOT NULL,
    client_id VARCHAR(255) NOT NULL, deployment_id VARCHAR(255) NOT NULL,
    return_url VARCHAR(2048) NOT NULL, data TEXT, expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (id));
CREATE TABLE lti_instructor_tickets (ticket_hash VARCHAR(64) NOT NULL, issuer VARCHAR(512) NOT NULL,
    "user" VARCHAR(64) NOT NULL, case_id VARCHAR(255) NOT NULL,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (ticket_hash));
"""
OLD_KEY = "ab" * 32
TICKET = "ticket-made-before-alembic"
OLD_ROWS = f"""
INSERT INTO casebot_schema (component, version) VALUES ('records', 1);
INSERT INTO casebot_answers VALUES ('a1', '2026-12-01 10:00:00', 'case-a', 'How much?', '[]', 0,
    '$700 million [¶12].', FALSE, '[12]', 'extractive', 41.7, 'lti', 'session-1',
    '{keyed_user_hash(OLD_KEY, "student-1")}');
INSERT INTO casebot_answers VALUES ('a2', '2026-12-01 11:00:00', 'case-a', 'Who?', '[]', 0,
    'Volkswagen [¶3].', FALSE, '[3]', 'extractive', 30.0, 'chat', 'session-2', NULL);
INSERT INTO casebot_feedback VALUES ('a1', 'down', 'too short', '2026-12-01 10:01:00');
INSERT INTO casebot_secrets VALUES ('user-hash-key', '{OLD_KEY}');
INSERT INTO lti_platforms VALUES (1, 'https://lms.example.edu', 'client-1', '["d1"]',
    'https://lms.example.edu/auth', 'https://lms.example.edu/token', 'https://lms.example.edu/jwks',
    '[]', '2026-11-01 09:00:00');
INSERT INTO lti_instructor_tickets VALUES (
    '{__import__("hashlib").sha256(TICKET.encode()).hexdigest()}', 'https://lms.example.edu',
    'teacher-1', 'case-a', '2099-01-01 00:00:00');
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.server)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty SQLite file, or a fresh database on a real PostgreSQL."""
    if request.param == "sqlite":
        return default_database_url(tmp_path / "data")
    return str(request.getfixturevalue("postgres_url"))


def _run(engine: Engine, script: str) -> None:
    with engine.begin() as connection:
        for statement in script.split(";"):
            if statement.strip():
                connection.execute(text(statement))


def test_an_empty_database_gets_the_head_revision(database_url: str) -> None:
    engine = open_engine(database_url)
    assert current_revision(engine) is None
    upgrade_schema(engine)
    assert current_revision(engine) == head_revision()
    tables = set(sqlalchemy.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) | {VERSION_TABLE} == tables
    upgrade_schema(engine)  # idempotent: a restart or a second replica changes nothing
    assert current_revision(engine) == head_revision()


def test_a_database_made_before_alembic_is_adopted_with_every_row(database_url: str) -> None:
    engine = open_engine(database_url)
    _run(engine, OLD_SCHEMA)
    _run(engine, OLD_ROWS)
    store = RecordStore(engine, secret=SECRET).create()
    assert current_revision(engine) == head_revision()
    rows = store.answers("case-a")
    assert [r.record.id for r in rows] == ["a1", "a2"]
    first = rows[0].record
    assert (first.question, first.cited_paragraphs, rows[0].rating, rows[0].comment) == (
        "How much?", (12,), "down", "too short")
    assert first.asked_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
    # The new columns have their defaults on the old rows.
    assert (first.guided, first.citations, first.platform, first.course) == (False, (), None, None)
    # The stored pseudonym key still finds the student: purge by their user id removes their row.
    assert store.purge_user("student-1") == 1 and [r.record.id for r in store.answers()] == ["a2"]
    (platform,) = list_platforms(engine)
    assert platform.issuer == "https://lms.example.edu" and platform.deployment_ids == ("d1",)
    assert redeem_instructor_ticket(engine, TICKET) == InstructorGrant(
        "https://lms.example.edu", "teacher-1", "case-a", course="")
    assert "casebot_schema" not in sqlalchemy.inspect(engine).get_table_names()


def test_a_database_with_only_the_lti_tables_gets_the_records_tables(tmp_path: Path) -> None:
    # Records off before Alembic: the server made only the LTI tables.
    engine = open_engine(default_database_url(tmp_path))
    _run(engine, "CREATE TABLE lti_platforms" + OLD_SCHEMA.split("CREATE TABLE lti_platforms", 1)[1])
    upgrade_schema(engine)
    assert set(Base.metadata.tables) <= set(sqlalchemy.inspect(engine).get_table_names())


def test_a_revision_this_casebot_lacks_is_refused(tmp_path: Path) -> None:
    engine = open_engine(default_database_url(tmp_path))
    upgrade_schema(engine)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(DatabaseError, match="upgrade casebot"):
        upgrade_schema(engine)


def test_the_models_agree_with_the_migrations(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = open_engine(database_url)
    upgrade_schema(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, Base.metadata)
                       if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)]
    assert differences == []


def test_replicas_starting_together_on_one_database_all_upgrade_the_schema(database_url: str) -> None:
    # Unlocked, concurrent CREATE TABLEs on PostgreSQL fail on its catalogue ("duplicate key ...
    # pg_type_typname_nsp_index"): it failed in 10 rounds of 10 with six starters. On SQLite they
    # fail with "table ... already exists". Each starter has its own engine, as each replica (or
    # the server's LTI tool and its records writer) has, and all start at one barrier.
    postgres_url = database_url
    starters = 6
    barrier = threading.Barrier(starters)
    failures: list[Exception] = []

    def start_replica() -> None:
        engine = open_engine(postgres_url)
        try:
            barrier.wait(timeout=60)
            upgrade_schema(engine)
        except Exception as error:  # collected, and asserted on below
            failures.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start_replica) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not [thread for thread in threads if thread.is_alive()], "a starter is still waiting"
    assert failures == []
    engine = open_engine(postgres_url)
    try:
        assert current_revision(engine) == head_revision()
        assert set(Base.metadata.tables) <= set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.subprocess
def test_processes_starting_together_on_one_sqlite_file_all_upgrade_the_schema(tmp_path: Path) -> None:
    # Separate processes (a server and `casebot questions`, say) share no lock in memory: SQLite's
    # own write lock, taken before the first DDL, is what keeps them from creating a table twice.
    import subprocess
    import sys

    url = default_database_url(tmp_path)
    gate = tmp_path / "go"
    script = ("import pathlib, sys, time\n"
              "from bot.records.database import open_engine\n"
              "from bot.records.schema import upgrade_schema\n"
              "engine = open_engine(sys.argv[1])\n"
              "pathlib.Path(sys.argv[2] + '.' + sys.argv[3]).touch()\n"
              "while not pathlib.Path(sys.argv[2]).exists():\n"
              "    time.sleep(0.01)\n"  # a start line the processes wait at, as at a barrier
              "upgrade_schema(engine)\n")
    starters = [subprocess.Popen([sys.executable, "-c", script, url, str(gate), str(i)],
                                 stderr=subprocess.PIPE, text=True) for i in range(4)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.*"))) < len(starters) and time.monotonic() < deadline:
        time.sleep(0.01)  # every starter imported and waiting at the line
    gate.touch()
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in starters]
    assert [code for code, _ in outcomes] == [0] * 4, outcomes
    assert current_revision(open_engine(url)) == head_revision()
