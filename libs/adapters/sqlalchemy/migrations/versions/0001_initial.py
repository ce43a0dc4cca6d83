"""Initial schema: assets, prices, macro, ingestion runs, backtest jobs, results, portfolios.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adapters.sqlalchemy.coltypes import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json(nullable: bool = False) -> sa.types.TypeEngine[Any]:
    # JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
    return sa.JSON(none_as_null=nullable).with_variant(
        postgresql.JSONB(none_as_null=nullable), "postgresql"
    )


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticker", sa.String(32), nullable=False),
        sa.Column("provider_symbol", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("market", sa.String(2), nullable=False),
        sa.Column("exchange", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("asset_type", sa.String(16), nullable=False),
        sa.Column("sector", sa.String(100), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
        sa.UniqueConstraint("market", "ticker", name="uq_assets_market_ticker"),
    )
    op.create_index("ix_assets_ticker_upper", "assets", [sa.text("upper(ticker)")])

    op.create_table(
        "prices",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("open", sa.Double(), nullable=True),
        sa.Column("high", sa.Double(), nullable=True),
        sa.Column("low", sa.Double(), nullable=True),
        sa.Column("close", sa.Double(), nullable=True),
        sa.Column("adj_close", sa.Double(), nullable=True),
        sa.Column("volume", sa.Double(), nullable=True),
        # No FK to assets: see adapters.sqlalchemy.tables (bulk COPY speed; writers check).
        sa.PrimaryKeyConstraint("asset_id", "date", name="pk_prices"),
    )

    op.create_table(
        "macro_series",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("frequency", sa.String(2), nullable=False),
        sa.Column("units", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_macro_series"),
    )
    op.create_table(
        "macro_observations",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["code"],
            ["macro_series.code"],
            name="fk_macro_observations_code_macro_series",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", "date", name="pk_macro_observations"),
    )

    op.create_table(
        "ingestion_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("command", _json(), nullable=False),
        sa.Column("command_type", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("counts", _json(), nullable=False),
        sa.Column("failures", _json(), nullable=False),
        sa.Column("issues", _json(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["ingestion_runs.id"],
            name="fk_ingestion_runs_parent_id_ingestion_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ingestion_runs"),
    )
    op.create_index("ix_ingestion_runs_started_at", "ingestion_runs", ["started_at"])
    op.create_index("ix_ingestion_runs_parent_id", "ingestion_runs", ["parent_id"])
    op.create_index(
        "ix_ingestion_runs_status_heartbeat_at", "ingestion_runs", ["status", "heartbeat_at"]
    )

    op.create_table(
        "backtest_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(128), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("progress", sa.Double(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("enqueued_at", UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_backtest_jobs"),
        sa.UniqueConstraint("idempotency_key", name="uq_backtest_jobs_idempotency_key"),
    )
    op.create_index(
        "ix_backtest_jobs_status_created_at", "backtest_jobs", ["status", "created_at"]
    )
    op.create_index("ix_backtest_jobs_created_at", "backtest_jobs", ["created_at"])
    op.create_index("ix_backtest_jobs_owner_status", "backtest_jobs", ["owner", "status"])

    op.create_table(
        "backtest_results",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("nav", _json(), nullable=False),
        sa.Column("benchmark", _json(nullable=True), nullable=True),
        sa.Column("weights", _json(), nullable=False),
        sa.Column("analytics", _json(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["backtest_jobs.id"],
            name="fk_backtest_results_job_id_backtest_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name="pk_backtest_results"),
    )

    op.create_table(
        "portfolios",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["backtest_jobs.id"],
            name="fk_portfolios_job_id_backtest_jobs",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_portfolios"),
        sa.UniqueConstraint("name", name="uq_portfolios_name"),
    )
    op.create_index("ix_portfolios_job_id", "portfolios", ["job_id"])


def downgrade() -> None:
    # Reverse dependency order: children before the tables they reference.
    op.drop_index("ix_portfolios_job_id", table_name="portfolios")
    op.drop_table("portfolios")
    op.drop_table("backtest_results")
    op.drop_index("ix_backtest_jobs_owner_status", table_name="backtest_jobs")
    op.drop_index("ix_backtest_jobs_created_at", table_name="backtest_jobs")
    op.drop_index("ix_backtest_jobs_status_created_at", table_name="backtest_jobs")
    op.drop_table("backtest_jobs")
    op.drop_index("ix_ingestion_runs_status_heartbeat_at", table_name="ingestion_runs")
    op.drop_index("ix_ingestion_runs_parent_id", table_name="ingestion_runs")
    op.drop_index("ix_ingestion_runs_started_at", table_name="ingestion_runs")
    op.drop_table("ingestion_runs")
    op.drop_table("macro_observations")
    op.drop_table("macro_series")
    op.drop_table("prices")
    op.drop_index("ix_assets_ticker_upper", table_name="assets")
    op.drop_table("assets")
