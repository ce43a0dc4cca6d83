"""RunBacktestJob: the backtester's handler for ``run_backtest``.

Business rules
- The job is claimed first (queued → running, ``BacktestJob.claim``, saved over the version it
  was decided on): a redelivered or duplicated message for a finished job, or one a live worker
  holds, changes nothing.
- A job whose worker died (stale heartbeat) is taken over; after ``max_attempts`` claims it fails
  instead of looping.
- A request that cannot run (unknown asset, no data in range, too short for its lookback) fails
  the job with that reason; transient storage errors propagate so the message is retried.
- The result is stored and the job marked succeeded in one unit of work: a job is never
  succeeded without its result, nor is a result stored for a job that did not succeed here. A
  job has at most one result.
- A cancelled job stops at its next checkpoint, or at the latest when it would finish, and
  stores nothing.
- While the job runs (loading data, the engine computing), its heartbeat is refreshed every
  ``heartbeat_every_s``, so a run longer than ``stale_after_s`` is not mistaken for a dead
  worker's (the sweeper would re-send it and a second worker would take it over: the job would
  run twice at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pandas as pd

from domain.backtest import BacktestSpec, MarketData, required_history_days, run_backtest
from domain.errors import (
    DomainError,
    IllegalJobTransition,
    InvalidRequest,
    PermanentFailure,
    RetryableError,
)
from domain.model import Asset, BacktestJob, BacktestResult, Currency, JobStatus
from domain.ports import Clock, Repositories, Telemetry, UnitOfWork
from domain.usecases.job_changes import retry_stale

# The risk-free series when the request names none; used only where it is stored.
DEFAULT_RISK_FREE_SERIES = "DTB3"
FX_SERIES = "DEXKOUS"  # KRW per USD
# Prices are loaded before ``start`` for the strategy's warm-up (its lookback) plus a margin for
# holidays, so signals have data on the first decision date.
_WARMUP_MARGIN = timedelta(days=10)

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")
# A finishing transition of a running job, given the time it finishes.
Finish = Callable[[BacktestJob, datetime], BacktestJob]
# What this worker reports when it finished the job itself (a cancel is never reported).
_FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


class JobCancelled(Exception):
    """The job was cancelled while it ran."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    stale_after_s: float = 120.0
    # A sixth of the stale limit: several beats may be lost before the job looks abandoned.
    heartbeat_every_s: float = 20.0
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_every_s < self.stale_after_s:
            raise ValueError("heartbeat_every_s must be positive and shorter than stale_after_s")


class RunBacktestJob:
    def __init__(
        self,
        *,
        repositories: Repositories,
        clock: Clock,
        options: RunOptions = RunOptions(),
        telemetry: Telemetry | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._repos = repositories
        self._clock = clock
        self._options = options
        self._telemetry = telemetry
        self._sleep = sleep  # injectable so tests move time without waiting for it

    async def __call__(
        self, job_id: uuid.UUID, *, heartbeat: Callable[[], Awaitable[None]] | None = None
    ) -> JobStatus | None:
        """Run the job; return its final status, or None when there was nothing to do (or the
        job was finished elsewhere before this run could finish it)."""
        job = await self._claim(job_id)
        if job is None:
            return None
        if job.attempts > self._options.max_attempts:
            reason = f"gave up after {job.attempts - 1} attempts"
            return await self._finish(job, _failing(reason))
        # Loading a large universe can take long too, so the timer covers the whole run.
        async with self._keeping_alive(job):
            return await self._run(job, heartbeat)

    async def _run(
        self, job: BacktestJob, heartbeat: Callable[[], Awaitable[None]] | None
    ) -> JobStatus | None:
        try:
            spec = BacktestSpec.model_validate(job.spec)
            data, labels = await self._load(spec)
            await self._checkpoint(job, 0.3, heartbeat)
            outcome = await asyncio.to_thread(run_backtest, spec, data)
            await self._checkpoint(job, 0.9, heartbeat)
        except JobCancelled:
            return JobStatus.CANCELLED
        except RetryableError:
            raise
        except (DomainError, ValueError) as exc:
            return await self._finish(job, _failing(_reason(exc)))
        result = BacktestResult(
            job_id=job.id,
            metrics=outcome.metrics,
            nav=_series_json(outcome.nav),
            benchmark=_series_json(outcome.benchmark_nav)
            if outcome.benchmark_nav is not None
            else None,
            weights=outcome.trades,
            analytics={**outcome.analytics, "universe": labels},
            created_at=self._clock.now(),
        )
        return await self._finish(job, BacktestJob.succeed, result)

    async def _claim(self, job_id: uuid.UUID) -> BacktestJob | None:
        async def claim(uow: UnitOfWork, job: BacktestJob) -> BacktestJob | None:
            try:
                claimed = job.claim(self._clock.now(), self._options.stale_after_s)
            except IllegalJobTransition:
                return None  # finished, cancelled or held by a live worker
            return await uow.jobs.save(claimed)

        return await self._with_job(job_id, claim)

    async def _beat(self, job_id: uuid.UUID, progress: float | None = None) -> JobStatus | None:
        """Refresh a running job's heartbeat; return the job's status (a cancelled job tells
        its worker to stop), None when the job is gone."""

        async def beat(uow: UnitOfWork, job: BacktestJob) -> JobStatus:
            with contextlib.suppress(IllegalJobTransition):  # not running: nothing to keep alive
                await uow.jobs.save(job.heartbeat(self._clock.now(), progress))
            return job.status

        return await self._with_job(job_id, beat)

    async def _finish(
        self, job: BacktestJob, transition: Finish, result: BacktestResult | None = None
    ) -> JobStatus | None:
        """Apply ``transition`` (succeed or fail) to the running job and save it with its
        result, in one unit of work. Return the status it finished in; CANCELLED when it was
        cancelled meanwhile (nothing is stored); None when it was finished elsewhere (the
        sweeper gave up on it, or a worker that took it over finished first)."""

        async def finish(uow: UnitOfWork, stored: BacktestJob) -> JobStatus | None:
            try:
                done = transition(stored, self._clock.now())
            except IllegalJobTransition:
                return JobStatus.CANCELLED if stored.status is JobStatus.CANCELLED else None
            if result is not None:
                await uow.results.save(result)
            await uow.jobs.save(done)
            return done.status

        status = await self._with_job(job.id, finish)
        if status in _FINISHED and self._telemetry:
            now = self._clock.now()
            started = job.started_at or now
            self._telemetry.backtest_job_finished(status, (now - started).total_seconds())
        return status

    async def _with_job(
        self, job_id: uuid.UUID, work: Callable[[UnitOfWork, BacktestJob], Awaitable[T]]
    ) -> T | None:
        """Run ``work`` on the stored job in one unit of work and commit (None when there is
        no such job); from the start when its save lost to another writer's."""

        async def attempt() -> T | None:
            async with self._repos.unit_of_work() as uow:
                job = await uow.jobs.get(job_id)
                if job is None:
                    return None
                outcome = await work(uow, job)
                await uow.commit()
                return outcome

        return await retry_stale(attempt)

    async def _checkpoint(
        self, job: BacktestJob, progress: float, heartbeat: Callable[[], Awaitable[None]] | None
    ) -> None:
        status = await self._beat(job.id, progress)
        if status is JobStatus.CANCELLED:
            raise JobCancelled
        if heartbeat is not None:
            await heartbeat()

    @contextlib.asynccontextmanager
    async def _keeping_alive(self, job: BacktestJob) -> AsyncIterator[None]:
        """Refresh the job's heartbeat on a timer for as long as the block runs."""
        beating = asyncio.create_task(self._beat_forever(job.id), name=f"job-heartbeat-{job.id}")
        try:
            yield
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _beat_forever(self, job_id: uuid.UUID) -> None:
        while True:
            await self._sleep(self._options.heartbeat_every_s)
            try:
                await self._beat(job_id)
            except Exception as exc:  # a missed beat is survivable; the next one may succeed
                log.warning(
                    "job heartbeat failed", extra={"job_id": str(job_id), "error": str(exc)}
                )

    async def _load(self, spec: BacktestSpec) -> tuple[MarketData, dict[str, Any]]:
        refs: list[str | int] = list(spec.universe)
        if spec.benchmark is not None:
            refs.append(spec.benchmark)
        found = await self._repos.assets.find(refs)
        missing = [str(r) for r in refs if r not in found]
        if missing:
            raise PermanentFailure(f"unknown assets: {', '.join(missing)}")
        universe = _unique([found[r] for r in spec.universe])
        labels = _labels(universe)
        start = spec.start - timedelta(days=required_history_days(spec)) - _WARMUP_MARGIN
        panel = await self._repos.prices.read_adj_close(
            [a.id for a in universe if a.id is not None], start, spec.end
        )
        panel = panel.rename(
            columns={a.id: labels[a.ticker_key] for a in universe if a.id is not None}
        )
        panel = panel.reindex(columns=[labels[a.ticker_key] for a in universe])
        if panel.loc[str(spec.start) :].dropna(how="all").empty:
            raise InvalidRequest(f"no prices between {spec.start} and {spec.end} for the universe")
        benchmark, benchmark_currency = await self._benchmark(spec, found, start)
        currencies = {labels[a.ticker_key]: a.currency for a in universe}
        needs_fx = len(
            {*currencies.values(), *([benchmark_currency] if benchmark_currency else [])}
        ) > 1 or (
            spec.base_currency is not None
            and any(c != spec.base_currency for c in currencies.values())
        )
        data = MarketData(
            prices=panel,
            currencies=currencies,
            benchmark=benchmark,
            benchmark_currency=benchmark_currency,
            risk_free=await self._risk_free(spec, start),
            fx=await self._macro_series(FX_SERIES, start, spec) if needs_fx else None,
        )
        return data, {labels[a.ticker_key]: a.id for a in universe}

    async def _benchmark(
        self, spec: BacktestSpec, found: dict[str | int, Asset], start: Any
    ) -> tuple[pd.Series | None, Currency | None]:
        if spec.benchmark is None:
            return None, None
        asset = found[spec.benchmark]
        assert asset.id is not None
        frame = await self._repos.prices.read_adj_close([asset.id], start, spec.end)
        return frame[asset.id].rename(asset.ticker), asset.currency

    async def _risk_free(self, spec: BacktestSpec, start: Any) -> pd.Series | None:
        """The series the request names (it must exist), else DTB3 where it is stored."""
        if spec.risk_free is None:
            return await self._macro_series(DEFAULT_RISK_FREE_SERIES, start, spec)
        series = await self._macro_series(spec.risk_free, start, spec)
        if series is None:
            raise PermanentFailure(f"risk-free series {spec.risk_free} has no observations")
        return series

    async def _macro_series(self, code: str, start: Any, spec: BacktestSpec) -> pd.Series | None:
        frame = await self._repos.macro.read_observations(code, start, spec.end)
        if frame.empty:
            return None
        return pd.Series(
            frame["value"].to_numpy(dtype=float),
            index=pd.DatetimeIndex(pd.to_datetime(frame["date"])),
            name=code,
        )


def _unique(assets: list[Asset]) -> list[Asset]:
    seen: dict[int | None, Asset] = {}
    for asset in assets:
        seen.setdefault(asset.id, asset)
    return list(seen.values())


def _labels(assets: list[Asset]) -> dict[str, str]:
    """Column labels: the ticker, qualified by market only when two markets share it."""
    shared = {t for t, n in Counter(a.ticker for a in assets).items() if n > 1}
    return {a.ticker_key: a.ticker_key if a.ticker in shared else a.ticker for a in assets}


def _series_json(series: pd.Series) -> dict[str, list[Any]]:
    index = pd.DatetimeIndex(series.index)
    return {
        "dates": [d.date().isoformat() for d in index],
        "values": [float(v) for v in series.to_numpy()],
    }


def _failing(reason: str) -> Finish:
    return lambda job, now: job.fail(now, reason)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:2000]
