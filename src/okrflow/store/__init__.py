"""Persistence: SQLAlchemy models, engine/session handling, Alembic migrations, backup and restore."""
