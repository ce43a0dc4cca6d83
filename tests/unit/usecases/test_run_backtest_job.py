"""RunBacktestJob: claims once, stores one result, fails with a reason, honours cancellation,
and keeps its heartbeat fresh while the engine computes."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import pytest

from adapters.clock import ManualClock
from adapters.memory import InMemoryResultRepository, InMemoryUnitOfWork, build_memory_repositories
from adapters.memory.queue import InMemoryMessageQueue
from domain.backtest import run_backtest
from domain.errors import IllegalJobTransition, StorageUnavailable
from domain.model import BacktestJob, JobStatus, MacroFrequency, MacroSeries
from domain.ports import Repositories
from domain.usecases import run_backtest as run_backtest_module
from domain.usecases.backtests import CancelJob, RequeueStaleJobs
from domain.usecases.run_backtest import RunBacktestJob, RunOptions
from tests.unit.usecases.factories import bars, business_days, us_asset

SPEC = {
    "strategy": {"type": "equal_weight", "params": {}},
    "universe": ["SPY", "IEF"],
    "start": "2020-02-01",
    "end": "2020-12-31",
    "rebalance": "M",
    "benchmark": "SPY",
}


@pytest.fixture
async def world():
    repos = build_memory_repositories()
    clock = ManualClock()
    spy, ief = await repos.assets.upsert_many([us_asset("SPY"), us_asset("IEF")])
    days = business_days("2019-01-01", "2020-12-31")
    await repos.prices.upsert(spy.id, bars(days, seed=1))
    await repos.prices.upsert(ief.id, bars(days, seed=2))
    return repos, clock, RunBacktestJob(repositories=repos, clock=clock)


async def queued(repos, clock, spec=SPEC) -> BacktestJob:
    now = clock.now()
    job = BacktestJob(
        id=uuid.uuid4(), status=JobStatus.QUEUED, spec=spec, created_at=now, updated_at=now
    )
    return await repos.jobs.add(job)


async def test_a_job_runs_once_and_stores_its_result(world):
    repos, clock, run_job = world
    job = await queued(repos, clock)

    assert await run_job(job.id) is JobStatus.SUCCEEDED
    result = await repos.results.get(job.id)
    stored = await repos.jobs.get(job.id)

    assert stored.status is JobStatus.SUCCEEDED and stored.attempts == 1
    assert result.nav["dates"][0] >= "2020-02-01" and len(result.nav["values"]) == len(
        result.nav["dates"]
    )
    assert result.metrics["total_return"] == pytest.approx(
        result.nav["values"][-1] / result.nav["values"][0] - 1
    )


async def test_a_redelivered_message_for_a_finished_job_changes_nothing(world):
    repos, clock, run_job = world
    job = await queued(repos, clock)
    await run_job(job.id)
    first = await repos.results.get(job.id)

    assert await run_job(job.id) is None
    assert (await repos.jobs.get(job.id)).attempts == 1
    assert await repos.results.get(job.id) == first


async def test_a_job_over_unknown_assets_fails_with_the_reason(world):
    repos, clock, run_job = world
    job = await queued(repos, clock, {**SPEC, "universe": ["SPY", "NOPE"]})

    assert await run_job(job.id) is JobStatus.FAILED
    stored = await repos.jobs.get(job.id)
    assert stored.status is JobStatus.FAILED and "NOPE" in stored.error
    assert await repos.results.get(job.id) is None


async def test_a_cancelled_job_is_not_run(world):
    repos, clock, run_job = world
    job = await queued(repos, clock)
    await CancelJob(jobs=repos.jobs, clock=clock)(job.id)

    assert await run_job(job.id) is None
    assert (await repos.jobs.get(job.id)).status is JobStatus.CANCELLED
    assert await repos.results.get(job.id) is None


async def test_a_named_risk_free_series_without_data_fails_the_job_with_the_reason(world):
    repos, clock, run_job = world
    job = await queued(repos, clock, {**SPEC, "risk_free": "NOPE"})

    assert await run_job(job.id) is JobStatus.FAILED
    assert "risk-free series NOPE" in (await repos.jobs.get(job.id)).error


async def test_the_named_risk_free_series_is_the_one_cash_earns(world):
    repos, clock, run_job = world
    days = [d.date() for d in pd.bdate_range("2019-01-01", "2020-12-31")]
    await repos.macro.upsert_series(
        [
            MacroSeries(
                code="MYRATE",
                name="test rate",
                frequency=MacroFrequency.DAILY,
                units="percent, annualised",
            )
        ]
    )
    await repos.macro.upsert_observations("MYRATE", pd.DataFrame({"date": days, "value": 36.0}))
    plain = await queued(
        repos,
        clock,
        {**SPEC, "strategy": {"type": "fixed_weights", "params": {"weights": {"SPY": 0.5}}}},
    )
    earning = await queued(repos, clock, {**plain.spec, "risk_free": "MYRATE"})

    await run_job(plain.id)
    await run_job(earning.id)

    without = (await repos.results.get(plain.id)).metrics["total_return"]
    with_rate = (await repos.results.get(earning.id)).metrics["total_return"]
    assert with_rate > without  # half the book in cash at 36 % a year shows


# --- a long engine run ---------------------------------------------------------------------

STALE_AFTER_S = 120.0
BEAT_EVERY_S = 20.0


class SteppedTime:
    """Time that passes only when the test moves it: ``sleep`` waits for ``advance``, and the
    manual clock follows, so a run of many minutes takes no real time."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self._naps = 0
        self._napping = asyncio.Condition()

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        entry = (self.clock.now() + timedelta(seconds=seconds), woken)
        self.sleepers.append(entry)
        async with self._napping:
            self._naps += 1
            self._napping.notify_all()
        try:
            await woken
        finally:
            if entry in self.sleepers:
                self.sleepers.remove(entry)

    async def advance(self, seconds: float) -> None:
        """Move the clock, wake the sleepers that are due and let each run until it sleeps
        again."""
        now = self.clock.advance(seconds)
        due = [entry for entry in self.sleepers if entry[0] <= now]
        naps = self._naps
        for entry in due:
            self.sleepers.remove(entry)
            entry[1].set_result(None)
        await self.wait_for_sleepers(naps + len(due))

    async def wait_for_sleepers(self, naps: int = 1) -> None:
        """Until ``naps`` sleeps have started in all."""
        async with self._napping:
            await self._napping.wait_for(lambda: self._naps >= naps)


class HeldEngine:
    """The real engine, held at its start until the test lets it go (a long computation)."""

    def __init__(self, fails: bool = False) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self._fails = fails

    def __call__(self, spec, data):
        self.entered.set()
        self.release.wait()
        if self._fails:
            raise ValueError("the engine gave up")
        return run_backtest(spec, data)


def long_run(world, monkeypatch, engine: HeldEngine):
    repos, clock, _ = world
    time = SteppedTime(clock)
    monkeypatch.setattr(run_backtest_module, "run_backtest", engine)
    run_job = RunBacktestJob(
        repositories=repos,
        clock=clock,
        options=RunOptions(stale_after_s=STALE_AFTER_S, heartbeat_every_s=BEAT_EVERY_S),
        sleep=time.sleep,
    )
    return repos, clock, time, run_job


@pytest.fixture
def engine():
    engine = HeldEngine()
    yield engine
    engine.release.set()  # a failed test must not leave the engine's thread blocked


@pytest.fixture
def failing_engine():
    engine = HeldEngine(fails=True)
    yield engine
    engine.release.set()


async def start_engine(run_job, job, engine: HeldEngine) -> asyncio.Task:
    running = asyncio.create_task(run_job(job.id))
    await asyncio.to_thread(engine.entered.wait)
    return running


async def test_a_run_longer_than_the_stale_limit_keeps_its_heartbeat_fresh(
    world, monkeypatch, engine
):
    repos, clock, time, run_job = long_run(world, monkeypatch, engine)
    job = await queued(repos, clock)
    running = await start_engine(run_job, job, engine)

    for _ in range(int(3 * STALE_AFTER_S / BEAT_EVERY_S)):  # three stale limits of computing
        await time.advance(BEAT_EVERY_S)

    held = await repos.jobs.get(job.id)
    assert held.status is JobStatus.RUNNING
    assert clock.now() - held.heartbeat_at < timedelta(seconds=STALE_AFTER_S)
    queue = InMemoryMessageQueue()
    report = await RequeueStaleJobs(
        jobs=repos.jobs, queue=queue, clock=clock, stale_running_after_s=STALE_AFTER_S
    )()
    assert report.requeued == [] and report.failed == []
    # A second worker holding a duplicate message is refused: the job is alive.
    with pytest.raises(IllegalJobTransition):
        (await repos.jobs.get(job.id)).claim(clock.now(), STALE_AFTER_S)
    assert await run_job(job.id) is None

    engine.release.set()
    assert await running is JobStatus.SUCCEEDED
    assert time.sleepers == []  # the timer stopped with the run
    assert (await repos.jobs.get(job.id)).attempts == 1


async def test_the_heartbeat_timer_stops_when_the_engine_fails(world, monkeypatch, failing_engine):
    repos, clock, time, run_job = long_run(world, monkeypatch, failing_engine)
    job = await queued(repos, clock)
    running = await start_engine(run_job, job, failing_engine)
    await time.advance(BEAT_EVERY_S)
    assert (await repos.jobs.get(job.id)).heartbeat_at == clock.now()

    failing_engine.release.set()
    assert await running is JobStatus.FAILED
    assert time.sleepers == []
    assert "the engine gave up" in (await repos.jobs.get(job.id)).error


def test_a_heartbeat_as_slow_as_the_stale_limit_is_refused():
    with pytest.raises(ValueError, match="heartbeat_every_s"):
        RunOptions(stale_after_s=60, heartbeat_every_s=60)


# --- finishing: the result and the job in one unit of work -----------------------------------


async def test_a_result_that_cannot_be_stored_leaves_the_job_running_without_it(world, monkeypatch):
    repos, clock, run_job = world
    job = await queued(repos, clock)

    async def storage_down(self, result):
        raise StorageUnavailable("database unavailable")

    monkeypatch.setattr(InMemoryResultRepository, "save", storage_down)

    with pytest.raises(StorageUnavailable):
        await run_job(job.id)
    stored = await repos.jobs.get(job.id)
    assert stored.status is JobStatus.RUNNING and stored.finished_at is None
    assert await repos.results.get(job.id) is None


async def test_a_job_cancelled_after_its_last_checkpoint_stores_no_result(world):
    repos, clock, run_job = world
    job = await queued(repos, clock)
    checkpoints = []

    async def cancel_at_the_last_checkpoint() -> None:
        checkpoints.append(clock.now())
        if len(checkpoints) == 2:
            await CancelJob(jobs=repos.jobs, clock=clock)(job.id)

    assert await run_job(job.id, heartbeat=cancel_at_the_last_checkpoint) is JobStatus.CANCELLED
    assert (await repos.jobs.get(job.id)).status is JobStatus.CANCELLED
    assert await repos.results.get(job.id) is None


class InterruptedCommit:
    """Units of work of which the first to commit the job in status ``when`` finds that another
    writer ran ``meanwhile`` and saved the job first."""

    def __init__(
        self,
        repos: Repositories,
        job_id: uuid.UUID,
        when: JobStatus,
        meanwhile: Callable[[], Awaitable[object]],
    ) -> None:
        self.repos, self.job_id, self.when, self.meanwhile = repos, job_id, when, meanwhile
        self.interrupted = False

    def __call__(self) -> InMemoryUnitOfWork:
        unit = self.repos.unit_of_work()
        commit = unit.commit

        async def interrupted_commit() -> None:
            if not self.interrupted and (await unit.jobs.get(self.job_id)).status is self.when:
                self.interrupted = True
                await self.meanwhile()
            await commit()

        unit.commit = interrupted_commit
        return unit


async def test_a_finish_that_lost_to_a_heartbeat_is_made_again_on_the_stored_job(world):
    repos, clock, _ = world
    job = await queued(repos, clock)

    async def heartbeat_timer() -> None:
        running = await repos.jobs.get(job.id)
        await repos.jobs.save(running.heartbeat(clock.now()))

    units = InterruptedCommit(repos, job.id, JobStatus.SUCCEEDED, heartbeat_timer)
    run_job = RunBacktestJob(repositories=replace(repos, unit_of_work=units), clock=clock)

    assert await run_job(job.id) is JobStatus.SUCCEEDED

    assert units.interrupted
    assert (await repos.jobs.get(job.id)).status is JobStatus.SUCCEEDED
    assert await repos.results.get(job.id) is not None


async def test_a_claim_that_lost_to_another_worker_does_not_run_the_job_again(world):
    repos, clock, other_worker = world
    job = await queued(repos, clock)
    units = InterruptedCommit(repos, job.id, JobStatus.RUNNING, lambda: other_worker(job.id))
    run_job = RunBacktestJob(repositories=replace(repos, unit_of_work=units), clock=clock)

    assert await run_job(job.id) is None

    assert units.interrupted
    stored = await repos.jobs.get(job.id)
    assert stored.status is JobStatus.SUCCEEDED and stored.attempts == 1
