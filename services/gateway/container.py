"""What the gateway's routes need, assembled once per process by ``gateway.bootstrap``."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.ports import Clock, MessageQueue, Repositories, TradingCalendar
from domain.usecases.assets import GetAsset, ListAssets
from domain.usecases.backtests import CancelJob, GetJob, GetResult, ListJobs, SubmitBacktest
from domain.usecases.freshness import GetFreshness
from domain.usecases.ingest_commands import SendIngestCommand
from domain.usecases.macro import GetMacroObservations, ListMacroSeries
from domain.usecases.portfolios import (
    DeletePortfolio,
    GetPortfolio,
    ListPortfolios,
    SavePortfolio,
)
from domain.usecases.price_history import GetPriceHistory, GetPrices
from domain.usecases.runs import ListRuns
from gateway.series_cache import EncodedSeriesCache, Piece


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayOptions:
    """HTTP-facing policy. ``api_keys`` empty means writes are open (local development). The
    limits on submitted backtests are the use case's (``SubmitLimits``), not HTTP policy."""

    api_keys: tuple[str, ...] = ()
    require_key_for_reads: bool = False
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 256 * 1024
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


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayUseCases:
    """The use cases behind the routes, ready to call; each holds no per-request state, so one
    instance serves every request of the process."""

    submit_backtest: SubmitBacktest
    get_job: GetJob
    list_jobs: ListJobs
    cancel_job: CancelJob
    get_result: GetResult
    save_portfolio: SavePortfolio
    list_portfolios: ListPortfolios
    get_portfolio: GetPortfolio
    delete_portfolio: DeletePortfolio
    list_assets: ListAssets
    get_asset: GetAsset
    get_price_history: GetPriceHistory[Piece]
    get_prices: GetPrices[Piece]
    list_macro_series: ListMacroSeries
    get_macro_observations: GetMacroObservations
    list_runs: ListRuns
    get_freshness: GetFreshness
    send_ingest_command: SendIngestCommand


@dataclass(slots=True, kw_only=True)
class GatewayContainer:
    """The use cases and the ports every request uses, with the gateway's options."""

    use_cases: GatewayUseCases
    repositories: Repositories
    backtest_queue: MessageQueue
    ingest_queue: MessageQueue
    clock: Clock
    calendar: TradingCalendar | None = None
    options: GatewayOptions = field(default_factory=GatewayOptions)
    # Encoded price series shared by the price-history use cases (0 bytes: off).
    price_cache: EncodedSeriesCache
