"""Alembic migrations of the serving database (run by :func:`scoring.serving.database.upgrade`)."""
