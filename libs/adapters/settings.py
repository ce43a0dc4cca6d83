"""Typed settings, read once from the environment (12-factor), split by concern.

No secret has a default value here: FRED_API_KEY, API_KEYS and database passwords come from the
environment (on AWS: ECS secrets from Secrets Manager / SSM).
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_COMMON = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///var/insight-invest.db"


class DatabaseSettings(BaseSettings):
    """``DATABASE_URL`` wins; otherwise the URL is composed from DB_HOST/DB_PORT/DB_NAME/DB_USER/
    DB_PASSWORD (how ECS injects the RDS secret); otherwise the local SQLite file."""

    model_config = _COMMON

    database_url: SecretStr | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "insight_invest"
    db_user: str | None = None
    db_password: SecretStr | None = None

    def url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.db_host:
            password = (
                quote(self.db_password.get_secret_value(), safe="") if self.db_password else ""
            )
            auth = (
                f"{quote(self.db_user or 'postgres', safe='')}{':' + password if password else ''}"
            )
            return f"postgresql+asyncpg://{auth}@{self.db_host}:{self.db_port}/{self.db_name}"
        return DEFAULT_SQLITE_URL


class QueueSettings(BaseSettings):
    model_config = _COMMON

    sqs_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    ingest_queue_name: str = "insight-invest-ingest"
    backtest_queue_name: str = "insight-invest-backtest"
    # Local development only: create the queues and their DLQs when missing.
    sqs_create_queues: bool = False
    max_receives: int = Field(default=3, ge=1, le=1000)


class ProviderSettings(BaseSettings):
    model_config = _COMMON

    market_data_provider: Literal["sample", "csv", "yfinance"] = "sample"
    market_data_dir: str | None = None
    macro_data_provider: Literal["sample", "csv", "fred"] | None = None
    fred_api_key: SecretStr | None = None
    fred_base_url: str | None = None
    provider_rate_limit_per_s: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> ProviderSettings:
        if self.market_data_provider == "csv" and not self.market_data_dir:
            raise ValueError("MARKET_DATA_PROVIDER=csv needs MARKET_DATA_DIR")
        if self.resolved_macro_provider() == "fred" and self.fred_api_key is None:
            raise ValueError("the FRED provider needs FRED_API_KEY")
        return self

    def resolved_macro_provider(self) -> str:
        if self.macro_data_provider:
            return self.macro_data_provider
        return {"yfinance": "fred"}.get(self.market_data_provider, self.market_data_provider)


class WorkerRuntimeSettings(BaseSettings):
    model_config = _COMMON

    worker_concurrency: int = Field(default=4, ge=1, le=64)
    worker_wait_seconds: float = Field(default=10.0, ge=0, le=20)
    worker_lease_seconds: int = Field(default=60, ge=1, le=43_200)
    handler_timeout_seconds: float = Field(default=1800.0, gt=0)
    shutdown_grace_seconds: float = Field(default=25.0, ge=0)
    worker_inline_retry_seconds: float = Field(default=30.0, ge=0)
    worker_retry_base_seconds: float = Field(default=5.0, ge=0)
    worker_retry_max_seconds: float = Field(default=300.0, ge=0)


class JobSettings(BaseSettings):
    """How the backtester's sweeper ties job rows to queue messages."""

    model_config = _COMMON

    job_requeue_after_seconds: float = Field(default=60.0, gt=0)
    job_sweep_every_seconds: float = Field(default=15.0, gt=0)


class IngestSettings(BaseSettings):
    model_config = _COMMON

    ingest_batch_size: int = Field(default=100, ge=1)
    ingest_overlap_days: int = Field(default=10, ge=1)
    ingest_restatement_tolerance: float = Field(default=1e-6, gt=0)
    ingest_macro_revision_window: int = Field(default=24, ge=1)
    ingest_max_daily_move: float = Field(default=0.3, gt=0)


class GatewaySettings(BaseSettings):
    model_config = _COMMON

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    # uvicorn worker processes (GATEWAY_WORKERS). One suits `make run` and small tasks; a task
    # with N vCPUs serves most with about N (each worker has its own pool and series cache).
    gateway_workers: int = Field(default=1, ge=1, le=64)
    # Encoded price series cached per worker (GATEWAY_PRICE_CACHE_MB); 0 turns the cache off.
    gateway_price_cache_mb: int = Field(default=64, ge=0)
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    require_key_for_reads: bool = False
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 256 * 1024
    # Longest `?wait=` a status poll may hold a connection (GATEWAY_MAX_WAIT_SECONDS); keep it
    # under the load balancer's idle timeout (60 s on the ALB).
    gateway_max_wait_seconds: float = Field(default=30.0, ge=0, le=55)

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


class BacktestLimitSettings(BaseSettings):
    """What one submitted backtest may ask for, and how many jobs one API key may have queued
    or running. Unset means the domain's default (``domain.usecases.backtests.SubmitLimits``,
    the one place the defaults are written; importing it here would load the engine's numeric
    stack into every one-shot command)."""

    model_config = _COMMON

    max_universe: int | None = Field(default=None, ge=1)
    max_span_days: int | None = Field(default=None, ge=1)
    # MAX_QUEUED_JOBS_PER_KEY is the name deployed environments may still set.
    max_active_jobs_per_key: int | None = Field(
        default=None,
        ge=1,
        validation_alias=AliasChoices("max_active_jobs_per_key", "max_queued_jobs_per_key"),
    )


class LoggingSettings(BaseSettings):
    model_config = _COMMON

    log_level: str = "INFO"


class TelemetrySettings(BaseSettings):
    """EMF metrics are written when METRICS_NAMESPACE is set (the ECS task definitions set it)."""

    model_config = _COMMON

    metrics_namespace: str | None = None
    environment: str = "local"
