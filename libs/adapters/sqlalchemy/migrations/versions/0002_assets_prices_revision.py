"""Per-asset data revision of the stored prices: ``assets.prices_revision``.

Every price write bumps it in the same transaction as the rows it writes, so a reader that
sees revision N sees (at least) the bars of write N. The gateway keys its response cache and
its price ETags on it: a cached series can never outlive the data it was built from.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL 11+ adds the column without rewriting the table.
    op.add_column(
        "assets",
        sa.Column("prices_revision", sa.BigInteger(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("assets", "prices_revision")
