"""The backtester's composition root: the only place that reads settings and builds adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from adapters.clock import SystemClock
from adapters.factories import build_telemetry, open_worker_resources
from adapters.settings import (
    DatabaseSettings,
    JobSettings,
    QueueSettings,
    TelemetrySettings,
    WorkerRuntimeSettings,
)
from domain.ports import Clock, MessageQueue, Repositories
from domain.usecases.run_backtest import RunBacktestJob, RunOptions


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktesterSettings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    queues: QueueSettings = field(default_factory=QueueSettings)
    worker: WorkerRuntimeSettings = field(default_factory=WorkerRuntimeSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    jobs: JobSettings = field(default_factory=JobSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktesterContainer:
    settings: BacktesterSettings
    repositories: Repositories
    queue: MessageQueue
    clock: Clock
    run_job: RunBacktestJob


@asynccontextmanager
async def build_backtester(
    settings: BacktesterSettings | None = None, **overrides: Any
) -> AsyncIterator[BacktesterContainer]:
    settings = settings or BacktesterSettings()
    async with AsyncExitStack() as stack:
        repositories, queue = await stack.enter_async_context(
            open_worker_resources(
                settings.database,
                settings.queues,
                settings.queues.backtest_queue_name,
                repositories=overrides.get("repositories"),
                queue=overrides.get("queue"),
            )
        )
        clock: Clock = overrides.get("clock") or SystemClock()
        telemetry = overrides.get("telemetry") or build_telemetry(settings.telemetry)
        # A job whose heartbeat is older than two leases belongs to a worker that died; a live
        # one beats every third of a lease, like the worker's lease extension.
        lease = settings.worker.worker_lease_seconds
        stale_after = 2.0 * lease
        yield BacktesterContainer(
            settings=settings,
            repositories=repositories,
            queue=queue,
            clock=clock,
            run_job=RunBacktestJob(
                repositories=repositories,
                clock=clock,
                options=RunOptions(
                    stale_after_s=stale_after,
                    heartbeat_every_s=lease / 3,
                    max_attempts=settings.queues.max_receives,
                ),
                telemetry=telemetry,
            ),
        )
