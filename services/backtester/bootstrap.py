"""The backtester's composition root: settings → adapters → use cases → the worker that runs
queued backtest jobs, with the job sweep beside it.

``backtester.main.serve`` runs it as a process. Tests call ``bootstrap()`` with fakes
for any adapter (repositories, queue, clock, telemetry); what they leave out is built from the
settings, as in production.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from adapters.clock import SystemClock
from adapters.factories import build_telemetry, open_worker_resources
from adapters.settings import (
    DatabaseSettings,
    JobSettings,
    QueueSettings,
    TelemetrySettings,
    WorkerRuntimeSettings,
)
from adapters.worker import (
    Maintenance,
    Worker,
    worker_settings,
)
from backtester.handlers import build_handlers, sweep_jobs
from domain.ports import Clock, MessageQueue, Repositories, Telemetry
from domain.usecases.backtests import RequeueStaleJobs
from domain.usecases.run_backtest import RunBacktestJob, RunOptions


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktesterSettings:
    """Everything the backtester reads from the environment."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    queues: QueueSettings = field(default_factory=QueueSettings)
    worker: WorkerRuntimeSettings = field(default_factory=WorkerRuntimeSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    jobs: JobSettings = field(default_factory=JobSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktesterContainer:
    """The backtester process, assembled: its adapters, use cases, worker and maintenance."""

    settings: BacktesterSettings
    repositories: Repositories
    queue: MessageQueue
    clock: Clock
    run_job: RunBacktestJob
    requeue_stale_jobs: RequeueStaleJobs
    worker: Worker
    maintenance: Maintenance


@asynccontextmanager
async def bootstrap(
    settings: BacktesterSettings | None = None,
    *,
    repositories: Repositories | None = None,
    queue: MessageQueue | None = None,
    clock: Clock | None = None,
    telemetry: Telemetry | None = None,
) -> AsyncIterator[BacktesterContainer]:
    """The backtester over the adapters given, and over adapters built from ``settings`` (read
    from the environment when None) for the rest; what it opened is closed on exit."""
    settings = settings or BacktesterSettings()
    async with open_worker_resources(
        settings.database,
        settings.queues,
        settings.queues.backtest_queue_name,
        repositories=repositories,
        queue=queue,
    ) as (repositories, queue):
        clock = clock or SystemClock()
        telemetry = telemetry or build_telemetry(settings.telemetry)
        # A job whose heartbeat is older than two leases belongs to a worker that died; a live
        # one beats every third of a lease, like the worker's lease extension.
        lease = settings.worker.worker_lease_seconds
        stale_after_s = 2.0 * lease
        max_attempts = settings.queues.max_receives
        run_job = RunBacktestJob(
            repositories=repositories,
            clock=clock,
            options=RunOptions(
                stale_after_s=stale_after_s,
                heartbeat_every_s=lease / 3,
                max_attempts=max_attempts,
            ),
            telemetry=telemetry,
        )
        requeue_stale_jobs = RequeueStaleJobs(
            jobs=repositories.jobs,
            queue=queue,
            clock=clock,
            requeue_after_s=settings.jobs.job_requeue_after_seconds,
            stale_running_after_s=stale_after_s,
            max_attempts=max_attempts,
        )
        yield BacktesterContainer(
            settings=settings,
            repositories=repositories,
            queue=queue,
            clock=clock,
            run_job=run_job,
            requeue_stale_jobs=requeue_stale_jobs,
            worker=Worker(queue, build_handlers(run_job=run_job), worker_settings(settings.worker)),
            maintenance=Maintenance(
                run=functools.partial(sweep_jobs, requeue_stale_jobs),
                every_s=settings.jobs.job_sweep_every_seconds,
            ),
        )
