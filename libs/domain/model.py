"""The domain model: assets, price bars, macro series, backtest jobs and ingestion runs."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

import pandas as pd

from domain.errors import IllegalJobTransition


class Market(enum.StrEnum):
    US = "US"
    KR = "KR"


class Exchange(enum.StrEnum):
    NYSE = "NYSE"
    NASDAQ = "NASDAQ"
    NYSEARCA = "NYSEARCA"
    BATS = "BATS"
    KOSPI = "KOSPI"
    KOSDAQ = "KOSDAQ"


class Currency(enum.StrEnum):
    USD = "USD"
    KRW = "KRW"


class AssetType(enum.StrEnum):
    ETF = "etf"
    STOCK = "stock"
    INDEX = "index"


EXCHANGE_MARKET: dict[Exchange, Market] = {
    Exchange.NYSE: Market.US,
    Exchange.NASDAQ: Market.US,
    Exchange.NYSEARCA: Market.US,
    Exchange.BATS: Market.US,
    Exchange.KOSPI: Market.KR,
    Exchange.KOSDAQ: Market.KR,
}

# Yahoo's suffix by exchange. KOSDAQ listings need ".KQ": asked with ".KS", Yahoo answers
# with no data and no error.
_PROVIDER_SUFFIX: dict[Exchange, str] = {Exchange.KOSPI: ".KS", Exchange.KOSDAQ: ".KQ"}

MARKET_CURRENCY: dict[Market, Currency] = {Market.US: Currency.USD, Market.KR: Currency.KRW}


def provider_symbol(ticker: str, exchange: Exchange) -> str:
    """The vendor (Yahoo) symbol of a ticker: KR tickers are stored bare, the suffix follows
    from the exchange."""
    return f"{ticker}{_PROVIDER_SUFFIX.get(exchange, '')}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Asset:
    """A tradable instrument. ``(market, ticker)`` is the natural key; ``id`` is the store's."""

    ticker: str
    name: str
    market: Market
    exchange: Exchange
    currency: Currency
    asset_type: AssetType
    sector: str | None = None
    active: bool = True
    id: int | None = None
    # The store's revision of this asset's prices as of when the asset was read: every price
    # write bumps it in the same transaction, so equal revisions mean equal bars (caches and
    # ETags key on it). A version stamp, not part of the asset's value: not compared.
    prices_revision: int = field(default=0, compare=False)
    # The provider (its ``name``) that wrote the stored prices, set by the same writes that
    # bump ``prices_revision``; None when there are none or the writer did not say. Provenance
    # of the stored data, not part of the asset's value: not compared.
    prices_source: str | None = field(default=None, compare=False)

    @property
    def provider_symbol(self) -> str:
        return provider_symbol(self.ticker, self.exchange)

    @property
    def ticker_key(self) -> str:
        """``MARKET:TICKER``: unique across markets."""
        return f"{self.market}:{self.ticker}"

    def with_id(self, asset_id: int) -> Asset:
        return replace(self, id=asset_id)


# A price history is a DataFrame with one row per session: the column ``date`` (datetime.date)
# and the float columns below (``volume`` may be NaN where the vendor has none). ``close`` is the
# raw (split-adjusted where the vendor does so) close; ``adj_close`` is adjusted for splits and
# dividends. Missing values are NaN, never zero.
BAR_COLUMNS: tuple[str, ...] = ("date", "open", "high", "low", "close", "adj_close", "volume")
PRICE_FIELDS: tuple[str, ...] = BAR_COLUMNS[1:]


def empty_bars() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in PRICE_FIELDS})
    frame.insert(0, "date", pd.Series(dtype="object"))
    return frame


def normalize_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with exactly BAR_COLUMNS, ``date`` as datetime.date, sorted, one row per
    date (the last occurrence wins), without touching the caller's frame."""
    if frame.empty:
        return empty_bars()
    out = frame.loc[:, list(BAR_COLUMNS)].copy()
    out["date"] = pd.to_datetime(out["date"]).dt.date
    for column in PRICE_FIELDS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out = out.drop_duplicates(subset="date", keep="last").sort_values("date")
    return out.reset_index(drop=True)


# The offline sample provider's name. Its data is generated, not observed: every reader must
# be able to tell (docs/api.md), so the name is the domain's, not only the adapter's.
SAMPLE_SOURCE = "sample"
# Providers whose data is synthetic.
SYNTHETIC_SOURCES: frozenset[str] = frozenset({SAMPLE_SOURCE})


def is_synthetic(source: str | None) -> bool:
    """True when data written by provider ``source`` is generated rather than market data."""
    return source in SYNTHETIC_SOURCES


class MacroFrequency(enum.StrEnum):
    DAILY = "D"
    WEEKLY = "W"
    MONTHLY = "M"
    QUARTERLY = "Q"
    ANNUAL = "A"


@dataclass(frozen=True, slots=True, kw_only=True)
class MacroSeries:
    """A FRED series. ``units`` states the basis (e.g. "percent, annualised")."""

    code: str
    name: str
    frequency: MacroFrequency
    units: str
    # The provider that wrote the stored observations (set with them, in their transaction);
    # None while there are none. Provenance of the stored data: not compared.
    source: str | None = field(default=None, compare=False)


# Macro observations are a DataFrame with columns ``date`` (datetime.date) and ``value``
# (float, NaN where the source has FRED's "." — stored as NULL, never zero, never dropped).
OBSERVATION_COLUMNS: tuple[str, ...] = ("date", "value")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
# Queued or running: the jobs that count against their owner's limit.
ACTIVE_JOB_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestJob:
    """A queued backtest. ``spec`` is the validated request (design §7) as JSON-ready data.

    Its lifecycle is a state machine, and these methods are its only transitions::

        queued ──claim──▶ running ──succeed / fail──▶ succeeded / failed
           │                │ ▲
           │                │ └─claim (its worker went silent: another takes over)
           └──cancel──▶ cancelled ◀──cancel──┘

    Each transition is pure: it returns the changed job, or raises IllegalJobTransition when
    the job's status does not allow it. Repositories only persist what the transitions return.
    """

    id: uuid.UUID
    status: JobStatus
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    idempotency_key: str | None = None
    request_hash: str | None = None
    owner: str | None = None
    attempts: int = 0
    error: str | None = None
    progress: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    enqueued_at: datetime | None = None
    heartbeat_at: datetime | None = None
    # The store's version of this job as of when it was read: every save bumps it, and a save
    # of an older version is refused (JobRepository.save). A stamp, not part of the job's
    # value: not compared.
    version: int = field(default=0, compare=False)

    @property
    def last_seen_at(self) -> datetime:
        """The last sign of life of the job's worker: its heartbeat, else its claim."""
        return self.heartbeat_at or self.started_at or self.updated_at

    def is_stale(self, now: datetime, stale_after_s: float) -> bool:
        """Running, but its worker has given no sign of life for more than ``stale_after_s``:
        the worker died, and another may take the job over."""
        silent_since = now - timedelta(seconds=stale_after_s)
        return self.status is JobStatus.RUNNING and self.last_seen_at < silent_since

    def claim(self, now: datetime, stale_after_s: float) -> BacktestJob:
        """queued → running, or take over a stale running job. Every claim is one more
        attempt. A finished job, or one a live worker holds, is not claimed."""
        if self.status is not JobStatus.QUEUED and not self.is_stale(now, stale_after_s):
            held = " by a live worker" if self.status is JobStatus.RUNNING else ""
            raise IllegalJobTransition(f"job {self.id} is {self.status.value}{held}")
        return replace(
            self,
            status=JobStatus.RUNNING,
            attempts=self.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            updated_at=now,
        )

    def heartbeat(self, now: datetime, progress: float | None = None) -> BacktestJob:
        """A running job's worker is alive (and, when given, how far it got)."""
        self._require_running("send heartbeats")
        return replace(
            self,
            heartbeat_at=now,
            updated_at=now,
            progress=self.progress if progress is None else progress,
        )

    def succeed(self, now: datetime) -> BacktestJob:
        """running → succeeded (its result is saved in the same unit of work)."""
        return self._finish(JobStatus.SUCCEEDED, now, None)

    def fail(self, now: datetime, reason: str) -> BacktestJob:
        """running → failed, with the reason."""
        return self._finish(JobStatus.FAILED, now, reason)

    def cancel(self, now: datetime) -> BacktestJob:
        """queued/running → cancelled (a running job's worker stops at its next heartbeat).
        Cancelling a cancelled job changes nothing; a succeeded or failed one cannot be."""
        if self.status is JobStatus.CANCELLED:
            return self
        if self.status.is_terminal:
            raise IllegalJobTransition(f"job {self.id} already {self.status.value}")
        return replace(self, status=JobStatus.CANCELLED, finished_at=now, updated_at=now)

    def mark_enqueued(self, at: datetime) -> BacktestJob:
        """Its ``run_backtest`` message was sent at ``at``. Allowed in every status: a worker
        may take the message before the send is recorded."""
        return replace(self, enqueued_at=at)

    def _finish(self, status: JobStatus, now: datetime, error: str | None) -> BacktestJob:
        self._require_running(f"become {status.value}")
        return replace(self, status=status, finished_at=now, updated_at=now, error=error)

    def _require_running(self, action: str) -> None:
        if self.status is not JobStatus.RUNNING:
            raise IllegalJobTransition(
                f"job {self.id} is {self.status.value}; only a running job can {action}"
            )


# What saving a job may change: its identity, request and owner are fixed when it is created,
# so every repository (the fake and SQL alike) writes exactly these fields.
JOB_MUTABLE_FIELDS = (
    "status",
    "attempts",
    "error",
    "progress",
    "updated_at",
    "started_at",
    "finished_at",
    "enqueued_at",
    "heartbeat_at",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestResult:
    """What a finished backtest produced, JSON-ready.

    ``nav`` and ``benchmark`` are ``{"dates": [...], "values": [...]}``; ``metrics`` are plain
    numbers (None where undefined); ``weights`` are the rebalance records.
    """

    job_id: uuid.UUID
    metrics: dict[str, float | None]
    nav: dict[str, list[Any]]
    benchmark: dict[str, list[Any]] | None = None
    weights: list[dict[str, Any]] = field(default_factory=list)
    analytics: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Portfolio:
    """A succeeded backtest saved under a unique name (the original app's "strategy list")."""

    id: uuid.UUID
    name: str
    job_id: uuid.UUID
    created_at: datetime


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # some assets failed; the others were written
    FAILED = "failed"
    ABANDONED = "abandoned"  # its worker went away; a sweeper closed it


class RunTrigger(enum.StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    CHILD = "child"


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestionRun:
    """What one ingest command did. ``counts`` holds assets_ok, assets_failed, assets_restated,
    rows_written (and series_* for macro); ``failures`` and ``issues`` name the asset and the
    reason, so nothing is silently dropped."""

    id: uuid.UUID
    command: dict[str, Any]
    command_type: str
    trigger: RunTrigger
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    parent_id: uuid.UUID | None = None
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    # The ``name`` of the provider that served the command (None on runs recorded before
    # providers were recorded).
    source: str | None = None


# What saving a run may change: the command, trigger and start are fixed when it is created, so
# every repository (the fakes and SQL alike) updates exactly these fields.
INGESTION_RUN_MUTABLE_FIELDS = (
    "status",
    "counts",
    "failures",
    "issues",
    "finished_at",
    "heartbeat_at",
    "source",
)


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: ``next_cursor`` is opaque to clients, None on the last page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetQuery:
    market: Market | None = None
    asset_type: AssetType | None = None
    text: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DateRange:
    start: date | None = None
    end: date | None = None
