"""SQLAlchemy Core tables (design §5). The schema itself changes only through the Alembic
migrations in ``migrations/versions``; these definitions are what the queries are built from
and must match the latest revision (a test compares them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    func,
    true,
)

from adapters.sqlalchemy.coltypes import UTCDateTime, json_type

# Deterministic constraint names, so migrations can drop and alter them on both backends.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

assets = Table(
    "assets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticker", String(32), nullable=False),
    Column("provider_symbol", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("market", String(2), nullable=False),
    Column("exchange", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("asset_type", String(16), nullable=False),
    Column("sector", String(100)),
    Column("active", Boolean, nullable=False, server_default=true()),
    # Bumped by every price write of the asset, in the same transaction (adapters.sqlalchemy.
    # prices): readers key caches and ETags of its price series on it.
    Column("prices_revision", BigInteger, nullable=False, server_default="0"),
    # The provider that wrote the stored prices, set with the revision bump (NULL: no prices,
    # or written before provenance was recorded, or by a writer that did not say).
    Column("prices_source", String(40)),
    UniqueConstraint("market", "ticker"),
)
# Tickers resolve case-insensitively (AssetRepository.find).
Index("ix_assets_ticker_upper", func.upper(assets.c.ticker))

# Prices are floats on purpose: vendors deliver binary floats and every consumer is numpy.
# No foreign key to assets, deliberately: its per-row trigger made bulk COPY 3x slower
# (measured: 147k → 47k rows/s). Every writer (adapters.sqlalchemy.prices) locks the asset row
# FOR UPDATE in the same transaction and refuses unknown ids; assets are never deleted, only
# deactivated.
prices = Table(
    "prices",
    metadata,
    Column("asset_id", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("open", Double),
    Column("high", Double),
    Column("low", Double),
    Column("close", Double),
    Column("adj_close", Double),
    Column("volume", Double),
    PrimaryKeyConstraint("asset_id", "date"),
)

macro_series = Table(
    "macro_series",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("frequency", String(2), nullable=False),
    Column("units", String(200), nullable=False),
    # The provider that wrote the stored observations, set in their transaction.
    Column("source", String(40)),
)

macro_observations = Table(
    "macro_observations",
    metadata,
    Column(
        "code",
        String(64),
        ForeignKey("macro_series.code", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("date", Date, nullable=False),
    # NULL is the source's "no value" marker ("." in FRED): never zero, never dropped.
    Column("value", Double, nullable=True),
    PrimaryKeyConstraint("code", "date"),
)

ingestion_runs = Table(
    "ingestion_runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("parent_id", Uuid, ForeignKey("ingestion_runs.id", ondelete="CASCADE")),
    Column("command", json_type(), nullable=False),
    Column("command_type", String(32), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("counts", json_type(), nullable=False),
    Column("failures", json_type(), nullable=False),
    Column("issues", json_type(), nullable=False),
    Column("dry_run", Boolean, nullable=False, server_default=false()),
    Column("source", String(40)),
    Index("ix_ingestion_runs_started_at", "started_at"),
    Index("ix_ingestion_runs_parent_id", "parent_id"),
    Index("ix_ingestion_runs_status_heartbeat_at", "status", "heartbeat_at"),
)

backtest_jobs = Table(
    "backtest_jobs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("spec", json_type(), nullable=False),
    Column("idempotency_key", String(200), unique=True),
    Column("request_hash", String(128)),
    Column("owner", String(200)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("progress", Double),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("enqueued_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    # Bumped by every save: a save is an UPDATE ... WHERE version = <the version it read>, so
    # of two writers that read the same job only the first changes it (JobRepository.save).
    Column("version", Integer, nullable=False, server_default="0"),
    Index("ix_backtest_jobs_status_created_at", "status", "created_at"),
    Index("ix_backtest_jobs_created_at", "created_at"),
    Index("ix_backtest_jobs_owner_status", "owner", "status"),
)

backtest_results = Table(
    "backtest_results",
    metadata,
    Column(
        "job_id",
        Uuid,
        ForeignKey("backtest_jobs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("metrics", json_type(), nullable=False),
    Column("nav", json_type(), nullable=False),
    Column("benchmark", json_type(nullable=True)),
    Column("weights", json_type(), nullable=False),
    Column("analytics", json_type(), nullable=False),
    Column("created_at", UTCDateTime),
)

portfolios = Table(
    "portfolios",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    # A saved backtest keeps its job: deleting the job is refused while a portfolio names it.
    Column("job_id", Uuid, ForeignKey("backtest_jobs.id", ondelete="RESTRICT"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_portfolios_job_id", "job_id"),
)
