"""Revision 2: records know their LTI platform and course (instructors launched from a course read
only its records), whether the answer was a hint, and the text they cited; instructor tickets
carry their course; signed-out sessions are remembered until they expire. The hand-kept version
table of revision 1 goes: Alembic's version table replaces it.

Every new column is nullable or has a server default, so a replica still on revision 1's code
keeps inserting while the others are upgraded.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("casebot_answers", sa.Column("platform", sa.String(512), nullable=True))
    op.add_column("casebot_answers", sa.Column("course", sa.String(255), nullable=True))
    op.add_column("casebot_answers", sa.Column("guided", sa.Boolean, nullable=False,
                                               server_default=sa.false()))
    op.add_column("casebot_answers", sa.Column("citations", sa.Text, nullable=False,
                                               server_default="[]"))
    op.create_index("ix_casebot_answers_scope", "casebot_answers", ["case_id", "platform", "course"])
    op.add_column("lti_instructor_tickets", sa.Column("course", sa.String(255), nullable=False,
                                                      server_default=""))
    op.create_table("casebot_revoked_sessions",
                    sa.Column("session_id", sa.String(64), primary_key=True),
                    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False))
    op.drop_table("casebot_schema")

