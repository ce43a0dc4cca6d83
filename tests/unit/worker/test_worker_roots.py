"""The ingestor's and the backtester's composition roots, given fakes for their adapters, build
the worker each process runs: it consumes the service's queue with the service's handlers,
under the runtime settings and maintenance the environment asks for."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from adapters.clock import ManualClock
from adapters.memory.queue import InMemoryMessageQueue
from adapters.memory.repositories import build_memory_repositories
from adapters.settings import JobSettings, ProviderSettings, WorkerRuntimeSettings
from adapters.universe import seed_macro_series
from adapters.worker import Worker
from backtester.bootstrap import BacktesterSettings
from backtester.bootstrap import bootstrap as backtester_bootstrap
from domain.backtest import BacktestSpec
from domain.messages import UpdateMacro, encode_message
from domain.model import JobStatus, RunStatus
from domain.usecases.backtests import SubmitBacktest, SubmitBacktestRequest
from ingestor.bootstrap import IngestorSettings
from ingestor.bootstrap import bootstrap as ingestor_bootstrap
from tests.unit.gateway.seed import seeded_repositories, spec_body

# A bound that only a hung worker reaches; never a timing assertion.
LIMIT_S = 60.0
QUICK = WorkerRuntimeSettings(worker_wait_seconds=0.05, worker_concurrency=2)


async def run_until(worker: Worker, done: Callable[[], Awaitable[bool]]) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(LIMIT_S):
            while not await done():
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=LIMIT_S)


async def test_the_ingestor_root_builds_the_worker_that_ingests_from_its_queue() -> None:
    repositories = build_memory_repositories()
    await repositories.macro.upsert_series(seed_macro_series()[:2])
    queue = InMemoryMessageQueue("ingest")
    settings = IngestorSettings(
        providers=ProviderSettings(market_data_provider="sample"), worker=QUICK
    )

    async with ingestor_bootstrap(settings, repositories=repositories, queue=queue) as ingestor:
        assert set(ingestor.worker.handlers) == {"update_prices", "update_macro"}
        assert ingestor.worker.queue is queue
        assert ingestor.worker.settings.concurrency == 2
        await queue.send(encode_message(UpdateMacro(command_id=str(uuid.uuid4()))))

        async def finished() -> bool:
            page = await repositories.runs.list(limit=10, cursor=None)
            return any(run.status is not RunStatus.RUNNING for run in page.items)

        await run_until(ingestor.worker, finished)
        await ingestor.maintenance.run()  # nothing abandoned, nothing to aggregate: no error

    [run] = (await repositories.runs.list(limit=10, cursor=None)).items
    assert run.status is RunStatus.SUCCEEDED


async def test_the_backtester_root_builds_the_worker_that_runs_submitted_jobs() -> None:
    repositories = await seeded_repositories()
    queue = InMemoryMessageQueue("backtest")
    clock = ManualClock()
    settings = BacktesterSettings(worker=QUICK, jobs=JobSettings(job_sweep_every_seconds=7))
    submitted = await SubmitBacktest(
        assets=repositories.assets,
        prices=repositories.prices,
        jobs=repositories.jobs,
        queue=queue,
        clock=clock,
    )(SubmitBacktestRequest(spec=BacktestSpec.model_validate(spec_body())))

    async with backtester_bootstrap(
        settings, repositories=repositories, queue=queue, clock=clock
    ) as backtester:
        assert set(backtester.worker.handlers) == {"run_backtest"}
        assert backtester.maintenance.every_s == 7

        async def finished() -> bool:
            job = await repositories.jobs.get(submitted.job.id)
            return job is not None and job.status.is_terminal

        await run_until(backtester.worker, finished)
        await backtester.maintenance.run()  # the sweep finds nothing stale: no error

    job = await repositories.jobs.get(submitted.job.id)
    assert job is not None and job.status is JobStatus.SUCCEEDED
