"""Optimistic concurrency on backtest jobs: ``backtest_jobs.version``.

Every save of a job bumps its version and is an ``UPDATE ... WHERE version = <the version it
read>``, so of two writers that read the same job (two workers claiming it, a cancel racing a
finish) only the first changes it. Existing rows start at 0.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "backtest_jobs",
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("backtest_jobs", "version")
