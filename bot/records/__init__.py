"""The records database: questions, feedback and LTI registrations (SQLAlchemy)."""
