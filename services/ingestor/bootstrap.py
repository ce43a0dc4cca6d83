"""The ingestor's composition root: the only place that reads settings and builds adapters.

Tests swap adapters by passing ``overrides`` (repositories, queue, providers, clock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from adapters.calendars import ExchangeCalendarsAdapter
from adapters.clock import SystemClock
from adapters.factories import (
    build_macro_provider,
    build_market_provider,
    build_telemetry,
    open_worker_resources,
)
from adapters.settings import (
    DatabaseSettings,
    IngestSettings,
    ProviderSettings,
    QueueSettings,
    TelemetrySettings,
    WorkerRuntimeSettings,
)
from domain.ports import (
    Clock,
    MacroDataProvider,
    MarketDataProvider,
    MessageQueue,
    Repositories,
    Telemetry,
)
from domain.usecases.ingest_macro import IngestMacro, MacroOptions
from domain.usecases.ingest_prices import IngestOptions, IngestPrices


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestorSettings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    queues: QueueSettings = field(default_factory=QueueSettings)
    providers: ProviderSettings = field(default_factory=ProviderSettings)
    worker: WorkerRuntimeSettings = field(default_factory=WorkerRuntimeSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestorContainer:
    settings: IngestorSettings
    repositories: Repositories
    queue: MessageQueue
    market_provider: MarketDataProvider
    macro_provider: MacroDataProvider
    clock: Clock
    ingest_prices: IngestPrices
    ingest_macro: IngestMacro
    telemetry: Telemetry | None = None


@asynccontextmanager
async def build_ingestor(
    settings: IngestorSettings | None = None, **overrides: Any
) -> AsyncIterator[IngestorContainer]:
    settings = settings or IngestorSettings()
    async with AsyncExitStack() as stack:
        repositories, queue = await stack.enter_async_context(
            open_worker_resources(
                settings.database,
                settings.queues,
                settings.queues.ingest_queue_name,
                repositories=overrides.get("repositories"),
                queue=overrides.get("queue"),
            )
        )
        market = overrides.get("market_provider") or build_market_provider(settings.providers)
        macro = overrides.get("macro_provider") or build_macro_provider(settings.providers)
        clock: Clock = overrides.get("clock") or SystemClock()
        telemetry = overrides.get("telemetry") or build_telemetry(settings.telemetry)
        ingest = settings.ingest
        yield IngestorContainer(
            settings=settings,
            repositories=repositories,
            queue=queue,
            market_provider=market,
            macro_provider=macro,
            clock=clock,
            telemetry=telemetry,
            ingest_prices=IngestPrices(
                repositories=repositories,
                provider=market,
                queue=queue,
                clock=clock,
                options=IngestOptions(
                    batch_size=ingest.ingest_batch_size,
                    overlap_days=ingest.ingest_overlap_days,
                    restatement_tolerance=ingest.ingest_restatement_tolerance,
                    max_daily_move=ingest.ingest_max_daily_move,
                ),
                calendar=overrides.get("calendar") or ExchangeCalendarsAdapter(),
                telemetry=telemetry,
            ),
            ingest_macro=IngestMacro(
                repositories=repositories,
                provider=macro,
                clock=clock,
                options=MacroOptions(revision_window=ingest.ingest_macro_revision_window),
                telemetry=telemetry,
            ),
        )
