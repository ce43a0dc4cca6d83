"""Alembic migrations (the same revisions for PostgreSQL and SQLite)."""
