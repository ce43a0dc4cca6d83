"""The ingestor's composition root: settings → adapters → use cases → the worker that consumes
the ingest queue, with its run maintenance beside it.

``ingestor.main.serve`` runs it as a process. Tests call ``bootstrap()`` with fakes
for any adapter (repositories, queue, providers, clock, calendar, telemetry); what they leave
out is built from the settings, as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

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
from adapters.worker import (
    Maintenance,
    Worker,
    worker_settings,
)
from domain.ports import (
    Clock,
    MacroDataProvider,
    MarketDataProvider,
    MessageQueue,
    Repositories,
    Telemetry,
    TradingCalendar,
)
from domain.usecases.ingest_macro import IngestMacro, MacroOptions
from domain.usecases.ingest_prices import IngestOptions, IngestPrices
from domain.usecases.runs import MaintainRuns
from ingestor.handlers import build_handlers

# A run still marked running this long after its handler's timeout lost its worker.
ABANDONED_RUN_MARGIN_S = 60.0
MAINTENANCE_EVERY_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestorSettings:
    """Everything the ingestor reads from the environment."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    queues: QueueSettings = field(default_factory=QueueSettings)
    providers: ProviderSettings = field(default_factory=ProviderSettings)
    worker: WorkerRuntimeSettings = field(default_factory=WorkerRuntimeSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestorContainer:
    """The ingestor process, assembled: its adapters, use cases, worker and maintenance."""

    settings: IngestorSettings
    repositories: Repositories
    queue: MessageQueue
    market_provider: MarketDataProvider
    macro_provider: MacroDataProvider
    clock: Clock
    telemetry: Telemetry | None
    ingest_prices: IngestPrices
    ingest_macro: IngestMacro
    worker: Worker
    maintenance: Maintenance


@asynccontextmanager
async def bootstrap(
    settings: IngestorSettings | None = None,
    *,
    repositories: Repositories | None = None,
    queue: MessageQueue | None = None,
    market_provider: MarketDataProvider | None = None,
    macro_provider: MacroDataProvider | None = None,
    clock: Clock | None = None,
    calendar: TradingCalendar | None = None,
    telemetry: Telemetry | None = None,
) -> AsyncIterator[IngestorContainer]:
    """The ingestor over the adapters given, and over adapters built from ``settings`` (read
    from the environment when None) for the rest; what it opened is closed on exit."""
    settings = settings or IngestorSettings()
    async with open_worker_resources(
        settings.database,
        settings.queues,
        settings.queues.ingest_queue_name,
        repositories=repositories,
        queue=queue,
    ) as (repositories, queue):
        market_provider = market_provider or build_market_provider(settings.providers)
        macro_provider = macro_provider or build_macro_provider(settings.providers)
        clock = clock or SystemClock()
        telemetry = telemetry or build_telemetry(settings.telemetry)
        ingest = settings.ingest
        ingest_prices = IngestPrices(
            repositories=repositories,
            provider=market_provider,
            queue=queue,
            clock=clock,
            options=IngestOptions(
                batch_size=ingest.ingest_batch_size,
                overlap_days=ingest.ingest_overlap_days,
                restatement_tolerance=ingest.ingest_restatement_tolerance,
                max_daily_move=ingest.ingest_max_daily_move,
            ),
            calendar=calendar or ExchangeCalendarsAdapter(),
            telemetry=telemetry,
        )
        ingest_macro = IngestMacro(
            repositories=repositories,
            provider=macro_provider,
            clock=clock,
            options=MacroOptions(revision_window=ingest.ingest_macro_revision_window),
            telemetry=telemetry,
        )
        abandon_after = timedelta(
            seconds=settings.worker.handler_timeout_seconds + ABANDONED_RUN_MARGIN_S
        )
        yield IngestorContainer(
            settings=settings,
            repositories=repositories,
            queue=queue,
            market_provider=market_provider,
            macro_provider=macro_provider,
            clock=clock,
            telemetry=telemetry,
            ingest_prices=ingest_prices,
            ingest_macro=ingest_macro,
            worker=Worker(
                queue,
                build_handlers(ingest_prices=ingest_prices, ingest_macro=ingest_macro),
                worker_settings(settings.worker),
            ),
            maintenance=Maintenance(
                run=MaintainRuns(
                    runs=repositories.runs,
                    clock=clock,
                    abandon_after=abandon_after,
                    telemetry=telemetry,
                ),
                every_s=MAINTENANCE_EVERY_S,
            ),
        )
