"""Alembic's environment: run the migrations on the connection bot.records.schema hands over.

That connection is inside a transaction holding the schema lock, so Alembic's own transaction is
that one and every revision commits (or rolls back) together with the version stamp.
"""

from alembic import context

from bot.records.schema import VERSION_TABLE

context.configure(connection=context.config.attributes["connection"], version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
