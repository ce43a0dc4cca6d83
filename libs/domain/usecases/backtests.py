"""Backtest job use cases: submit, read, list, cancel, fetch the result, and the sweeper.

Business rules (they double as the API's documentation):

- A spec is validated whole before anything is queued: every universe item and the benchmark
  resolve to a stored asset (by id or ticker), the date span and universe size are within the
  limits, the stored data covers the dates and the strategy's lookback, and the parameters match
  the strategy's schema. Every problem is reported at once, per field.
- ``Idempotency-Key``: the same key with the same body returns the original job; the same key
  with another body is a Conflict. Keys are scoped per owner so clients never see each other's
  jobs through a guessed key.
- An owner may hold at most ``max_active_jobs_per_key`` queued or running jobs.
- The job row is written (queued) before its ``run_backtest`` message is sent. If the send fails
  the job stays queued and ``RequeueStaleJobs`` (run by the backtester) sends it later, so a job
  can never be stuck in ``queued`` (design §4, last point).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.backtest import BacktestSpec, required_history_days, validate_strategy_params
from domain.backtest.spec import MAX_UNIVERSE
from domain.errors import (
    Conflict,
    IllegalJobTransition,
    InvalidRequest,
    NotFound,
    QueueUnavailable,
)
from domain.messages import RunBacktest, encode_message
from domain.model import Asset, BacktestJob, BacktestResult, JobStatus, Page
from domain.ports import (
    AssetRepository,
    Clock,
    JobRepository,
    MessageQueue,
    PriceRepository,
    ResultRepository,
)
from domain.usecases.job_changes import change_job

log = logging.getLogger(__name__)

FieldErrors = list[dict[str, str]]


class TooManyActiveJobs(Conflict):
    """The owner already holds the maximum number of queued or running jobs."""


# --------------------------------------------------------------------------------------------
# Submit


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitLimits:
    """Limits that keep one request from monopolising the backtester. These defaults are the
    deployed ones: the settings (``adapters.settings.BacktestLimitSettings``) take them."""

    max_universe: int = MAX_UNIVERSE
    max_span_days: int = 366 * 60
    # Queued or running jobs one owner (API key) may hold at once.
    max_active_jobs_per_key: int = 50
    # Tolerance when checking that stored data reaches back far enough: the first session of a
    # window may fall a few days after its calendar start (weekends, holidays).
    history_grace_days: int = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitBacktestRequest:
    spec: BacktestSpec
    idempotency_key: str | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitOutcome:
    """``created`` is False when an idempotent replay returned the original job; ``enqueued``
    is False when the message could not be sent now (the sweeper sends it later)."""

    job: BacktestJob
    created: bool
    enqueued: bool


def request_hash(spec: BacktestSpec) -> str:
    """A stable fingerprint of a request body (key order and defaults do not matter)."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _scoped_key(owner: str | None, key: str | None) -> str | None:
    if key is None:
        return None
    return key if owner is None else f"{owner}:{key}"


class SubmitBacktest:
    """Validate a backtest spec, store the job (queued) and send its ``run_backtest`` message."""

    def __init__(
        self,
        *,
        assets: AssetRepository,
        prices: PriceRepository,
        jobs: JobRepository,
        queue: MessageQueue,
        clock: Clock,
        limits: SubmitLimits | None = None,
    ) -> None:
        self._assets = assets
        self._prices = prices
        self._jobs = jobs
        self._queue = queue
        self._clock = clock
        self._limits = limits or SubmitLimits()

    async def __call__(self, request: SubmitBacktestRequest) -> SubmitOutcome:
        spec = request.spec
        fingerprint = request_hash(spec)
        key = _scoped_key(request.owner, request.idempotency_key)
        if key is not None:
            replay = await self._replay(key, fingerprint)
            if replay is not None:
                return SubmitOutcome(
                    job=replay, created=False, enqueued=replay.enqueued_at is not None
                )
        await self._validate(spec)
        active = await self._jobs.count_active(request.owner)
        limit = self._limits.max_active_jobs_per_key
        if active >= limit:
            raise TooManyActiveJobs(f"{active} jobs are queued or running; the limit is {limit}")
        outcome = await self._create(spec, key, fingerprint, request.owner)
        if not outcome.created:
            return outcome
        return await self._enqueue(outcome.job)

    async def _replay(self, key: str, fingerprint: str) -> BacktestJob | None:
        existing = await self._jobs.by_idempotency_key(key)
        if existing is None:
            return None
        if existing.request_hash != fingerprint:
            raise Conflict("this Idempotency-Key was used with a different request body")
        return existing

    async def _create(
        self, spec: BacktestSpec, key: str | None, fingerprint: str, owner: str | None
    ) -> SubmitOutcome:
        now = self._clock.now()
        job = BacktestJob(
            id=uuid.uuid4(),
            status=JobStatus.QUEUED,
            spec=spec.model_dump(mode="json"),
            created_at=now,
            updated_at=now,
            idempotency_key=key,
            request_hash=fingerprint,
            owner=owner,
        )
        try:
            return SubmitOutcome(job=await self._jobs.add(job), created=True, enqueued=False)
        except Conflict:
            # A concurrent request with the same key won the insert: answer as its replay.
            if key is None:
                raise
            replay = await self._replay(key, fingerprint)
            if replay is None:
                raise
            return SubmitOutcome(job=replay, created=False, enqueued=replay.enqueued_at is not None)

    async def _enqueue(self, job: BacktestJob) -> SubmitOutcome:
        try:
            await self._queue.send(encode_message(RunBacktest(job_id=job.id)))
        except QueueUnavailable:
            # The row is committed; the sweeper re-sends queued jobs that were never enqueued.
            log.warning("backtest queue unavailable; job %s left for the sweeper", job.id)
            return SubmitOutcome(job=job, created=True, enqueued=False)
        # Saved over the version ``add`` returned: one UPDATE, as long as no worker has
        # claimed the job yet.
        at = self._clock.now()
        enqueued = await change_job(self._jobs, job, lambda j: j.mark_enqueued(at))
        return SubmitOutcome(job=enqueued, created=True, enqueued=True)

    async def _validate(self, spec: BacktestSpec) -> None:
        errors = self._check_limits(spec)
        errors += validate_strategy_params(spec)
        refs: list[str | int] = list(spec.universe)
        if spec.benchmark is not None:
            refs.append(spec.benchmark)
        found = await self._assets.find(refs)
        universe, resolve_errors = _resolve(spec, found)
        errors += resolve_errors
        if universe and not errors:
            errors += await self._check_history(spec, universe)
        if errors:
            raise InvalidRequest("the backtest request is invalid", errors)

    def _check_limits(self, spec: BacktestSpec) -> FieldErrors:
        errors: FieldErrors = []
        if len(spec.universe) > self._limits.max_universe:
            errors.append(
                {"field": "universe", "message": f"at most {self._limits.max_universe} assets"}
            )
        if (spec.end - spec.start).days > self._limits.max_span_days:
            errors.append(
                {
                    "field": "end",
                    "message": f"the span may not exceed {self._limits.max_span_days} days",
                }
            )
        return errors

    async def _check_history(self, spec: BacktestSpec, universe: list[Asset]) -> FieldErrors:
        ids = [a.id for a in universe if a.id is not None]
        last = await self._prices.last_dates(ids)
        errors: FieldErrors = [
            {"field": "universe", "message": f"{a.ticker} has no stored prices"}
            for a in universe
            if a.id not in last
        ]
        if errors:
            return errors
        if max(last.values()) < spec.start:
            latest = max(last.values()).isoformat()
            return [
                {
                    "field": "start",
                    "message": f"no stored prices on or after start (latest {latest})",
                }
            ]
        return await self._check_lookback(spec, ids)

    async def _check_lookback(self, spec: BacktestSpec, ids: list[int]) -> FieldErrors:
        """At least one asset must have prices reaching back the strategy's lookback before
        ``start``: late-listed assets are fine (they join when they list), but a window with no
        history at all would leave the first signals undefined."""
        lookback = required_history_days(spec)
        if lookback <= 0:
            return []
        needed_by = spec.start - timedelta(days=lookback)
        window = await self._prices.read_adj_close(
            ids, needed_by, needed_by + timedelta(days=self._limits.history_grace_days)
        )
        if window.notna().any().any():
            return []
        return [
            {
                "field": "start",
                "message": (
                    f"the strategy needs {lookback} days of history before start; "
                    f"no stored prices around {needed_by.isoformat()}"
                ),
            }
        ]


def _resolve(
    spec: BacktestSpec, found: Mapping[str | int, Asset]
) -> tuple[list[Asset], FieldErrors]:
    errors: FieldErrors = []
    universe: list[Asset] = []
    seen: set[int | None] = set()
    for i, ref in enumerate(spec.universe):
        asset = found.get(ref)
        if asset is None:
            errors.append(
                {"field": f"universe.{i}", "message": f"unknown or ambiguous asset {ref!r}"}
            )
        elif asset.id in seen:
            errors.append({"field": f"universe.{i}", "message": f"{asset.ticker} is listed twice"})
        else:
            seen.add(asset.id)
            universe.append(asset)
    if spec.benchmark is not None and spec.benchmark not in found:
        errors.append(
            {"field": "benchmark", "message": f"unknown or ambiguous asset {spec.benchmark!r}"}
        )
    return universe, errors


# --------------------------------------------------------------------------------------------
# Reads and cancel


class GetJob:
    """One job by id; NotFound when unknown."""

    def __init__(self, *, jobs: JobRepository) -> None:
        self._jobs = jobs

    async def __call__(self, job_id: uuid.UUID) -> BacktestJob:
        job = await self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"backtest {job_id} does not exist")
        return job


@dataclass(frozen=True, slots=True, kw_only=True)
class ListJobsRequest:
    status: JobStatus | None = None
    limit: int = 50
    cursor: str | None = None


class ListJobs:
    """Jobs newest first, optionally of one status, one page at a time."""

    def __init__(self, *, jobs: JobRepository) -> None:
        self._jobs = jobs

    async def __call__(self, request: ListJobsRequest) -> Page[BacktestJob]:
        return await self._jobs.list(request.status, request.limit, request.cursor)


class CancelJob:
    """queued/running → cancelled (a running job stops at its next checkpoint); Conflict when the
    job already finished, NotFound when unknown. Cancelling twice is harmless."""

    def __init__(self, *, jobs: JobRepository, clock: Clock) -> None:
        self._jobs = jobs
        self._clock = clock

    async def __call__(self, job_id: uuid.UUID) -> BacktestJob:
        job = await self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return await change_job(self._jobs, job, lambda j: j.cancel(self._clock.now()))


class GetResult:
    """The result of a succeeded job; Conflict while the job has not succeeded, NotFound when
    the job is unknown."""

    def __init__(self, *, jobs: JobRepository, results: ResultRepository) -> None:
        self._get_job = GetJob(jobs=jobs)
        self._results = results

    async def __call__(self, job_id: uuid.UUID) -> tuple[BacktestJob, BacktestResult]:
        job = await self._get_job(job_id)
        if job.status != JobStatus.SUCCEEDED:
            reason = f": {job.error}" if job.error else ""
            raise Conflict(f"backtest {job_id} is {job.status.value}{reason}; no result")
        result = await self._results.get(job_id)
        if result is None:
            # Succeeded without a stored result breaks an invariant of the backtester.
            raise NotFound(f"the result of backtest {job_id} is missing")
        return job, result


# --------------------------------------------------------------------------------------------
# Sweeper


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepReport:
    requeued: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    send_errors: int = 0


class RequeueStaleJobs:
    """Tie job rows to queue messages (design §4): re-send ``run_backtest`` for queued jobs never
    enqueued or enqueued more than ``requeue_after_s`` ago, and for running jobs whose worker
    stopped heart-beating (their message may have gone to the DLQ); fail stale running jobs that
    already used ``max_attempts``. Safe to run from several processes: a claim is saved only
    over the version it was decided on, so a duplicate message never runs a job twice."""

    def __init__(
        self,
        *,
        jobs: JobRepository,
        queue: MessageQueue,
        clock: Clock,
        requeue_after_s: float = 300.0,
        stale_running_after_s: float = 300.0,
        max_attempts: int = 3,
        batch: int = 100,
    ) -> None:
        self._jobs = jobs
        self._queue = queue
        self._clock = clock
        self._requeue_after = timedelta(seconds=requeue_after_s)
        self._stale_running_after_s = stale_running_after_s
        self._max_attempts = max_attempts
        self._batch = batch

    async def __call__(self) -> SweepReport:
        now = self._clock.now()
        requeued: list[uuid.UUID] = []
        failed: list[uuid.UUID] = []
        errors = 0
        stale = await self._jobs.stale_queued(now - self._requeue_after, self._batch)
        for job in stale:
            errors += await self._send(job, requeued)
        for job in await self._silent_running(now):
            if job.attempts >= self._max_attempts:
                if await self._fail(job, now):
                    failed.append(job.id)
            elif job.enqueued_at is None or job.enqueued_at < now - self._requeue_after:
                # Re-sent at most once per requeue period, so a down backtester never floods
                # the queue with one duplicate per sweep.
                errors += await self._send(job, requeued)
        return SweepReport(requeued=requeued, failed=failed, send_errors=errors)

    async def _fail(self, job: BacktestJob, now: datetime) -> bool:
        reason = f"abandoned after {job.attempts} attempts (worker stopped responding)"
        try:
            await change_job(self._jobs, job, lambda j: j.fail(now, reason))
        except IllegalJobTransition:
            return False  # it finished or was cancelled since it was listed
        return True

    async def _send(self, job: BacktestJob, requeued: list[uuid.UUID]) -> int:
        try:
            await self._queue.send(encode_message(RunBacktest(job_id=job.id)))
        except QueueUnavailable:
            log.warning("backtest queue unavailable; job %s stays for the next sweep", job.id)
            return 1
        at = self._clock.now()
        await change_job(self._jobs, job, lambda j: j.mark_enqueued(at))
        requeued.append(job.id)
        return 0

    async def _silent_running(self, now: datetime) -> list[BacktestJob]:
        stale: list[BacktestJob] = []
        cursor: str | None = None
        while len(stale) < self._batch:
            page = await self._jobs.list(JobStatus.RUNNING, self._batch, cursor)
            stale += [j for j in page.items if j.is_stale(now, self._stale_running_after_s)]
            cursor = page.next_cursor
            if cursor is None:
                break
        return stale[: self._batch]
