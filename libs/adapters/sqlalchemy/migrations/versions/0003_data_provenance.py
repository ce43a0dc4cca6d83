"""Provenance of stored data: which provider wrote it.

- ``assets.prices_source``: the provider of the asset's stored prices, written by every price
  write in the transaction that bumps ``prices_revision``.
- ``macro_series.source``: the provider of the series' stored observations.
- ``ingestion_runs.source``: the provider that served the run.

Existing rows get NULL ("not recorded"): nothing in them says where their data came from, and
guessing would defeat the purpose (synthetic sample prices must never pass for market data).
The ingest use cases treat a stored history whose source is not their provider's, NULL
included, as a change of provider and replace it whole on their next run, after which every
label is true.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("assets", "prices_source"),
    ("macro_series", "source"),
    ("ingestion_runs", "source"),
)


def upgrade() -> None:
    # Nullable without a default: PostgreSQL adds each column without rewriting its table.
    for table, column in _COLUMNS:
        op.add_column(table, sa.Column(column, sa.String(length=40), nullable=True))


def downgrade() -> None:
    for table, column in reversed(_COLUMNS):
        op.drop_column(table, column)
