"""Adapter factories the services' composition roots share: each builds one kind of adapter
from its settings and disposes of it afterwards. Nothing here runs at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from adapters.settings import DatabaseSettings, ProviderSettings, QueueSettings, TelemetrySettings
from domain.ports import (
    MacroDataProvider,
    MarketDataProvider,
    MessageQueue,
    Repositories,
    Telemetry,
)


@asynccontextmanager
async def open_repositories(settings: DatabaseSettings) -> AsyncIterator[Repositories]:
    """Repositories over the configured database (PostgreSQL or SQLite)."""
    from adapters.sqlalchemy import build_sqla_repositories, create_engine

    engine = create_engine(settings.url())
    try:
        yield build_sqla_repositories(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_queues(
    settings: QueueSettings, *names: str
) -> AsyncIterator[dict[str, MessageQueue]]:
    """The named SQS queues (created with their DLQs when SQS_CREATE_QUEUES is set)."""
    from adapters.sqs import SqsConnection

    async with SqsConnection(settings.sqs_endpoint_url, settings.aws_region) as connection:
        queues: dict[str, MessageQueue] = {}
        for name in names:
            queues[name] = await connection.queue(
                name, create=settings.sqs_create_queues, max_receives=settings.max_receives
            )
        yield queues


@asynccontextmanager
async def open_worker_resources(
    database: DatabaseSettings,
    queues: QueueSettings,
    queue_name: str,
    *,
    repositories: Repositories | None = None,
    queue: MessageQueue | None = None,
) -> AsyncIterator[tuple[Repositories, MessageQueue]]:
    """A worker's store and the one queue it consumes; either may be supplied (tests swap them)."""
    async with AsyncExitStack() as stack:
        if repositories is None:
            repositories = await stack.enter_async_context(open_repositories(database))
        if queue is None:
            queue = (await stack.enter_async_context(open_queues(queues, queue_name)))[queue_name]
        yield repositories, queue


def build_market_provider(settings: ProviderSettings) -> MarketDataProvider:
    if settings.market_data_provider == "csv":
        from adapters.providers.csv import CsvMarketDataProvider

        assert settings.market_data_dir is not None
        return CsvMarketDataProvider(settings.market_data_dir)
    if settings.market_data_provider == "yfinance":
        from adapters.providers.yfinance import YFinanceProvider

        return YFinanceProvider(rate_limit_per_s=settings.provider_rate_limit_per_s)
    from adapters.providers.sample import SampleMarketDataProvider

    return SampleMarketDataProvider()


def build_macro_provider(settings: ProviderSettings) -> MacroDataProvider:
    kind = settings.resolved_macro_provider()
    if kind == "csv":
        from adapters.providers.csv import CsvMacroDataProvider

        assert settings.market_data_dir is not None
        return CsvMacroDataProvider(settings.market_data_dir)
    if kind == "fred":
        from adapters.providers.fred import FredProvider

        assert settings.fred_api_key is not None
        return FredProvider(
            api_key=settings.fred_api_key.get_secret_value(), base_url=settings.fred_base_url
        )
    from adapters.providers.sample import SampleMacroDataProvider

    return SampleMacroDataProvider()


def build_telemetry(settings: TelemetrySettings) -> Telemetry | None:
    if not settings.metrics_namespace:
        return None
    from adapters.telemetry import EmfTelemetry

    return EmfTelemetry(settings.metrics_namespace, settings.environment)
