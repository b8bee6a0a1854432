"""Alembic migrations of the records and LTI schema (run by bot.records.schema, not by a CLI)."""
