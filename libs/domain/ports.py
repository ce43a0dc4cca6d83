"""Ports: what the domain needs from the outside world, as small Protocols.

Each docstring states what an implementation must guarantee. Implementations live in
``libs/adapters`` (SQLAlchemy, SQS, yfinance, FRED, in-memory fakes); one contract test suite
runs over every implementation of a port.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import TracebackType
from typing import Protocol

import pandas as pd

from domain.model import (
    Asset,
    AssetQuery,
    BacktestJob,
    BacktestResult,
    IngestionRun,
    JobStatus,
    MacroSeries,
    Market,
    Page,
    Portfolio,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class AssetRepository(Protocol):
    async def upsert_many(self, assets: Sequence[Asset]) -> builtins.list[Asset]:
        """Insert or update by natural key (market, ticker); return them with ids. Idempotent."""
        ...

    async def get(self, asset_id: int) -> Asset | None: ...

    async def find(self, refs: Sequence[str | int]) -> dict[str | int, Asset]:
        """Resolve asset ids or tickers (case-insensitive); unknown refs are absent from the map.
        A bare ticker listed in both markets is ambiguous and resolves to neither."""
        ...

    async def list(self, query: AssetQuery) -> Page[Asset]:
        """Ordered by id; ``cursor`` continues after the previous page."""
        ...

    async def by_market(
        self, market: Market, tickers: Sequence[str] | None = None
    ) -> builtins.list[Asset]:
        """Active assets of a market (optionally only these tickers), ordered by ticker."""
        ...


class PriceRepository(Protocol):
    """Daily bars keyed by (asset_id, date). Every write of one asset is one transaction:
    a crash never leaves an asset half-written."""

    async def last_dates(self, asset_ids: Sequence[int]) -> dict[int, date]:
        """The last stored session of each asset that has rows."""
        ...

    async def read(
        self, asset_id: int, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        """Bars in [start, end] as a frame with BAR_COLUMNS, sorted by date."""
        ...

    async def read_many(
        self, asset_ids: Sequence[int], start: date | None = None, end: date | None = None
    ) -> dict[int, pd.DataFrame]:
        """``read`` of several assets at once (one round trip where the store allows); every
        asked id maps to its frame, empty where it has no bars."""
        ...

    async def read_adj_close(
        self, asset_ids: Sequence[int], start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        """A panel: DatetimeIndex of dates × one column per asset id, NaN where an asset has no
        bar (never zero)."""
        ...

    async def upsert(self, asset_id: int, bars: pd.DataFrame, source: str | None = None) -> int:
        """Insert or update by (asset_id, date); return rows written. Idempotent. Records
        ``source`` (the writing provider's name; None: not known) as the asset's
        ``prices_source`` in the same transaction as the bars and the revision bump."""
        ...

    async def replace(self, asset_id: int, bars: pd.DataFrame, source: str | None = None) -> int:
        """Atomically replace an asset's whole history (a vendor restatement, or a change of
        provider); records ``source`` as ``upsert`` does."""
        ...

    async def count(self, asset_id: int | None = None) -> int: ...


class MacroRepository(Protocol):
    async def upsert_series(self, series: Sequence[MacroSeries]) -> None:
        """Insert or update the catalog by code. Idempotent."""
        ...

    async def list_series(self) -> builtins.list[MacroSeries]: ...

    async def get_series(self, code: str) -> MacroSeries | None: ...

    async def upsert_observations(
        self, code: str, observations: pd.DataFrame, source: str | None = None
    ) -> int:
        """Insert or update (code, date) → value; NaN is stored as NULL. One transaction,
        which also records ``source`` (the writing provider's name; None: not known) as the
        series' ``source``. ``upsert_series`` never changes it."""
        ...

    async def replace_observations(
        self, code: str, observations: pd.DataFrame, source: str | None = None
    ) -> int:
        """Atomically replace a series' whole history (a change of provider); records
        ``source`` as ``upsert_observations`` does."""
        ...

    async def read_observations(
        self, code: str, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        """Columns ``date``, ``value`` (NaN for NULL), sorted by date."""
        ...

    async def last_dates(self) -> dict[str, date]: ...


class JobRepository(Protocol):
    """Backtest jobs, stored with optimistic concurrency: every save bumps a job's ``version``
    and is refused when another save came first, so two writers (workers, a cancel, the
    sweeper) never both change the same state. The status rules are the job's own
    transitions (``BacktestJob.claim`` and the others); the repository only stores their
    results. Outside a unit of work every call is its own transaction; inside one
    (``UnitOfWork.jobs``) calls share the unit's transaction."""

    async def add(self, job: BacktestJob) -> BacktestJob:
        """Insert; raise Conflict when ``idempotency_key`` is taken (read it with
        ``by_idempotency_key``)."""
        ...

    async def get(self, job_id: uuid.UUID) -> BacktestJob | None: ...

    async def save(self, job: BacktestJob) -> BacktestJob:
        """Store the job's JOB_MUTABLE_FIELDS if the stored version is still ``job.version``;
        return the job with its new version. Raise StaleJobVersion when the job was saved by
        another writer since it was read, NotFound when there is no such job."""
        ...

    async def by_idempotency_key(self, key: str) -> BacktestJob | None: ...

    async def list(
        self, status: JobStatus | None, limit: int, cursor: str | None
    ) -> Page[BacktestJob]:
        """Newest first."""
        ...

    async def stale_queued(
        self, enqueued_before: datetime, limit: int
    ) -> builtins.list[BacktestJob]:
        """Queued jobs never enqueued or enqueued before the given time (for the sweeper),
        oldest first."""
        ...

    async def count_active(self, owner: str | None) -> int:
        """Queued or running jobs of one owner (API key), for the concurrency limit."""
        ...


class ResultRepository(Protocol):
    async def save(self, result: BacktestResult) -> None:
        """Insert or replace by job_id: a job has at most one result. NotFound when the job
        does not exist."""
        ...

    async def get(self, job_id: uuid.UUID) -> BacktestResult | None: ...


class UnitOfWork(Protocol):
    """One transaction over jobs and results: what the block saves is committed together by
    ``commit()``, or not at all. Leaving the block without ``commit()``, by an exception or
    not, rolls every change back::

        async with repositories.unit_of_work() as uow:
            job = await uow.jobs.get(job_id)
            await uow.results.save(result)
            await uow.jobs.save(job.succeed(now))
            await uow.commit()

    A save that lost to another writer raises StaleJobVersion, from ``save`` or from
    ``commit``; the caller starts a new unit and decides again on what is stored then."""

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def results(self) -> ResultRepository: ...

    async def commit(self) -> None: ...

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class PortfolioRepository(Protocol):
    async def add(self, portfolio: Portfolio) -> Portfolio:
        """Raise Conflict when the name is taken."""
        ...

    async def get(self, portfolio_id: uuid.UUID) -> Portfolio | None: ...

    async def list(self) -> builtins.list[Portfolio]: ...

    async def delete(self, portfolio_id: uuid.UUID) -> bool: ...


class IngestionRunRepository(Protocol):
    async def add(self, run: IngestionRun) -> IngestionRun: ...

    async def get(self, run_id: uuid.UUID) -> IngestionRun | None: ...

    async def update(self, run: IngestionRun) -> None:
        """Overwrite status, counts, failures, issues, finished_at, heartbeat_at, source."""
        ...

    async def list(
        self, limit: int, cursor: str | None, parent_id: uuid.UUID | None = None
    ) -> Page[IngestionRun]:
        """Newest first."""
        ...

    async def children(self, parent_id: uuid.UUID) -> builtins.list[IngestionRun]: ...

    async def abandon_stale(self, heartbeat_before: datetime, now: datetime) -> int:
        """Close runs still ``running`` whose heartbeat is older than the given time."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceFetch:
    """What a provider returned for a batch: bars per asset id, and a reason per asset that
    failed (unknown symbol, empty history) — a failure of one never fails the batch."""

    bars: dict[int, pd.DataFrame] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    # Corporate actions per asset id where the vendor reports them: columns ``date``,
    # ``dividend`` (cash per share on the ex-date, 0 if none) and ``split`` (new shares per old
    # share, 0 if none). Absent for providers without action data.
    actions: dict[int, pd.DataFrame] = field(default_factory=dict)


class TradingCalendar(Protocol):
    """An exchange's trading sessions (holidays are not sessions)."""

    def sessions(self, market: Market, start: date, end: date) -> builtins.list[date]:
        """Sessions in [start, end], ascending."""
        ...

    def last_completed_session(self, market: Market, now: datetime) -> date:
        """The latest session whose close is at or before ``now`` (timezone-aware)."""
        ...


class MarketDataProvider(Protocol):
    """Daily bars from a vendor. ``adj_close`` is adjusted for splits and dividends as of the
    vendor's latest data, so it may be restated after a corporate action."""

    name: str

    async def fetch(
        self, assets: Sequence[Asset], start: date | None, end: date | None
    ) -> PriceFetch:
        """Bars in [start, end] (None: full history / up to the latest session). Raises a
        RetryableError when the whole call failed transiently."""
        ...


class MacroDataProvider(Protocol):
    name: str

    def catalog(self) -> builtins.list[MacroSeries]: ...

    async def fetch(self, code: str, start: date | None) -> pd.DataFrame:
        """Observations since ``start`` (None: full history), columns ``date``, ``value``
        (NaN for the source's missing marker). Raises NotFound for an unknown series."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedMessage:
    """A message under a lease: invisible to other consumers until the lease ends."""

    message_id: str
    body: str
    receipt: str
    receive_count: int
    sent_at: datetime | None = None


class MessageQueue(Protocol):
    """One queue with a dead-letter queue. At-least-once: a message that is neither acked nor
    dead-lettered is delivered again when its lease ends; after ``max_receives`` receives the
    queue moves it to the DLQ by itself."""

    name: str
    max_receives: int

    async def send(self, body: str, delay_s: int = 0) -> str:
        """Enqueue; return the message id. Raise QueueUnavailable when unreachable."""
        ...

    async def receive(
        self, max_messages: int, wait_s: float, lease_s: int
    ) -> builtins.list[ReceivedMessage]:
        """Long-poll up to ``wait_s`` for up to ``max_messages``."""
        ...

    async def extend(self, message: ReceivedMessage, lease_s: int) -> None:
        """Extend the lease (heartbeat)."""
        ...

    async def ack(self, message: ReceivedMessage) -> None:
        """Delete: call only after the message's effect is committed."""
        ...

    async def release(self, message: ReceivedMessage, delay_s: int = 0) -> None:
        """Give the message back, visible again after ``delay_s``."""
        ...

    async def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        """Move to the DLQ at once with the reason recorded; never retried."""
        ...

    async def depth(self) -> dict[str, int]:
        """Approximate counts: visible, in_flight, dead_lettered."""
        ...

    async def ping(self) -> None:
        """Raise QueueUnavailable when the queue cannot be reached (readiness)."""
        ...


class HealthCheck(Protocol):
    name: str

    async def check(self) -> None:
        """Return when the dependency answers; raise a RetryableError otherwise."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Repositories:
    """Every repository over one store, as the composition roots hand them to use cases."""

    assets: AssetRepository
    prices: PriceRepository
    macro: MacroRepository
    jobs: JobRepository
    results: ResultRepository
    portfolios: PortfolioRepository
    runs: IngestionRunRepository
    health: HealthCheck
    # A new unit of work over the same store, for changes that must commit together (a job
    # and its result); every other call of the repositories above is its own transaction.
    unit_of_work: Callable[[], UnitOfWork]


class Telemetry(Protocol):
    """Business metrics the operators' alarms read (see docs/operations.md). Never raises."""

    def ingestion_run_finished(self, run: IngestionRun, market: str) -> None:
        """A top-level run (not a fanned-out child) reached a final state; ``market`` is US,
        KR or MACRO."""
        ...

    def backtest_job_finished(self, status: JobStatus, duration_s: float) -> None:
        """A job reached succeeded or failed (cancelled jobs are not reported)."""
        ...
