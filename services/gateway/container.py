"""What the gateway's routes need, handed in by the composition root (or a test)."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.backtest.spec import MAX_UNIVERSE
from domain.ports import Clock, MessageQueue, Repositories, TradingCalendar
from gateway.series_cache import EncodedSeriesCache
from gateway.usecases import ReadUseCases, build_read_use_cases


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayOptions:
    """HTTP-facing policy. ``api_keys`` empty means writes are open (local development)."""

    api_keys: tuple[str, ...] = ()
    require_key_for_reads: bool = False
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 256 * 1024
    max_universe: int = MAX_UNIVERSE
    max_span_days: int = 366 * 60
    max_active_jobs_per_key: int = 50
    max_assets_per_price_request: int = 50
    max_page_size: int = 500
    max_wait_s: float = 30.0
    # Long-poll re-reads the job this often; a status change is seen at most this late.
    poll_interval_s: float = 0.25
    # Readiness checks give up after this long: a hanging dependency is a failed one.
    dependency_timeout_s: float = 2.0
    chart_cache_size: int = 128
    # Encoded price series kept per process (gateway.series_cache); 0 turns the cache off.
    price_cache_bytes: int = 64 * 1024 * 1024
    title: str = "Insight-Invest API"


@dataclass(slots=True, kw_only=True)
class GatewayContainer:
    """The ports every request uses. Built once per process by ``gateway.bootstrap`` (or a
    test, with the in-memory fakes)."""

    repositories: Repositories
    backtest_queue: MessageQueue
    ingest_queue: MessageQueue
    clock: Clock
    calendar: TradingCalendar | None = None
    options: GatewayOptions = field(default_factory=GatewayOptions)
    price_cache: EncodedSeriesCache = field(init=False)
    reads: ReadUseCases = field(init=False)

    def __post_init__(self) -> None:
        self.price_cache = EncodedSeriesCache(self.options.price_cache_bytes)
        self.reads = build_read_use_cases(self)
