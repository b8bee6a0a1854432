"""Revision 1: the schema casebot made before Alembic (records tables version 1, and the LTI tables).

On an empty database it creates everything. On a database made by that casebot it creates only
the tables that are missing (records off made no records tables; `casebot questions` made no LTI
ones) and leaves the others, rows and all: the database is adopted, not rebuilt. The tables are
written out here as they were, not taken from the models, which describe the newest revision.
"""

import sqlalchemy as sa
from alembic import op

from bot.errors import DatabaseError

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


TABLES: dict[str, tuple[sa.Column | sa.Constraint, ...]] = {
    "casebot_schema": (
        sa.Column("component", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False)),
    "casebot_answers": (
        sa.Column("id", sa.String(32), primary_key=True),
        _when("asked_at"),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("history", sa.Text, nullable=False),
        sa.Column("history_turns", sa.Integer, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("abstained", sa.Boolean, nullable=False),
        sa.Column("cited_paragraphs", sa.String(2000), nullable=False),
        sa.Column("backend", sa.String(200), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("user_hash", sa.String(64), nullable=True)),
    "casebot_feedback": (
        sa.Column("answer_id", sa.String(32), sa.ForeignKey("casebot_answers.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        _when("rated_at")),
    "casebot_secrets": (
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False)),
    "lti_platforms": (
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("deployment_ids", sa.Text, nullable=False),
        sa.Column("auth_login_url", sa.String(1024), nullable=False),
        sa.Column("auth_token_url", sa.String(1024), nullable=False),
        sa.Column("jwks_url", sa.String(1024), nullable=False),
        sa.Column("frame_origins", sa.Text, nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("issuer", "client_id", name="uq_lti_platform")),
    "lti_tool_keys": (
        sa.Column("kid", sa.String(128), primary_key=True),
        _when("created_at"),
        sa.Column("retired_until", sa.DateTime(timezone=True), nullable=True)),
    "lti_login_states": (
        sa.Column("state", sa.String(128), primary_key=True),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        _when("expires_at")),
    "lti_used_nonces": (
        sa.Column("key", sa.String(64), primary_key=True),
        _when("expires_at")),
    "lti_deep_links": (
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("deployment_id", sa.String(255), nullable=False),
        sa.Column("return_url", sa.String(2048), nullable=False),
        sa.Column("data", sa.Text, nullable=True),
        _when("expires_at")),
    "lti_instructor_tickets": (
        sa.Column("ticket_hash", sa.String(64), primary_key=True),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(255), nullable=False),
        _when("expires_at")),
}
INDEXES = {"casebot_answers": (("ix_casebot_answers_asked_at", ("asked_at",)),
                               ("ix_casebot_answers_case_time", ("case_id", "asked_at")))}


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    if "casebot_schema" in existing:
        rows = bind.execute(sa.text("SELECT component, version FROM casebot_schema")).all()
        versions: dict[str, int] = {str(component): int(version) for component, version in rows}
        if versions.get("records", 1) != 1:
            raise DatabaseError(f"The records schema is version {versions['records']}, which no "
                                "casebot release made: refusing to adopt it.")
    for name, columns in TABLES.items():
        if name in existing:
            continue
        op.create_table(name, *columns)
        for index, indexed in INDEXES.get(name, ()):
            op.create_index(index, name, list(indexed))

