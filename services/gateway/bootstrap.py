"""The gateway's composition root: settings → adapters → use cases → the FastAPI app.

``create_app_from_env`` is what uvicorn calls in each worker process (``gateway.main.serve``).
Tests call ``bootstrap()`` with fakes: given the repositories and both queues, the app is ready
at once; any adapter left out is built from the settings in the app's lifespan (at start-up,
never at import time) and disposed at shutdown, exactly as in production.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from adapters.calendars import ExchangeCalendarsAdapter
from adapters.clock import SystemClock
from adapters.settings import (
    BacktestLimitSettings,
    DatabaseSettings,
    GatewaySettings,
    QueueSettings,
)
from domain.ports import Clock, MessageQueue, Repositories, TradingCalendar
from domain.usecases.assets import GetAsset, ListAssets
from domain.usecases.backtests import (
    CancelJob,
    GetJob,
    GetResult,
    ListJobs,
    SubmitBacktest,
    SubmitLimits,
)
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
from gateway.app import create_app, install_container
from gateway.container import GatewayContainer, GatewayOptions, GatewayUseCases
from gateway.lazy_queue import LazyQueue
from gateway.series_cache import EncodedSeriesCache, render_piece

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from adapters.sqs import SqsConnection

# The gateway answers users: it must fail fast (503) rather than queue behind a dead database.
DB_POOL_TIMEOUT_S = 3.0
DB_CONNECT_TIMEOUT_S = 3.0
DB_COMMAND_TIMEOUT_S = 15.0
# A fixed set of connections per worker, no overflow: an overflow connection is closed as
# soon as it is returned, so under steady load the pool kept opening new ones (a backend
# start, an SSL attempt and a login each; 312 in 20 s of closed-loop load, measured). A
# request beyond the pool waits for a connection (up to DB_POOL_TIMEOUT_S), which is cheaper.
DB_POOL_SIZE = 10
# Pooled connections idle longer than this are pinged before use (see ping_when_idle).
DB_PING_IDLE_S = 1.0
SQS_CONNECT_TIMEOUT_S = 2.0
SQS_READ_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayProcessSettings:
    """Everything the gateway reads from the environment."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    queues: QueueSettings = field(default_factory=QueueSettings)
    http: GatewaySettings = field(default_factory=GatewaySettings)
    limits: BacktestLimitSettings = field(default_factory=BacktestLimitSettings)


def create_app_from_env() -> FastAPI:
    """The production app (uvicorn's factory): settings from the environment, every adapter
    built in the lifespan."""
    return bootstrap()


def bootstrap(
    settings: GatewayProcessSettings | None = None,
    *,
    repositories: Repositories | None = None,
    backtest_queue: MessageQueue | None = None,
    ingest_queue: MessageQueue | None = None,
    clock: Clock | None = None,
    calendar: TradingCalendar | None = None,
    options: GatewayOptions | None = None,
    limits: SubmitLimits | None = None,
) -> FastAPI:
    """The gateway app over the adapters and policies given, and over ones built from
    ``settings`` (read from the environment when None) for the rest."""
    settings = settings or GatewayProcessSettings()
    options = options or options_from_settings(settings.http)
    limits = limits or submit_limits_from_settings(settings.limits)
    clock = clock or SystemClock()
    calendar = calendar or ExchangeCalendarsAdapter()

    def assemble(
        repositories: Repositories, backtest_queue: MessageQueue, ingest_queue: MessageQueue
    ) -> GatewayContainer:
        price_cache = EncodedSeriesCache(options.price_cache_bytes)
        return GatewayContainer(
            use_cases=build_use_cases(
                repositories,
                backtest_queue=backtest_queue,
                ingest_queue=ingest_queue,
                clock=clock,
                calendar=calendar,
                limits=limits,
                options=options,
                price_cache=price_cache,
            ),
            repositories=repositories,
            backtest_queue=backtest_queue,
            ingest_queue=ingest_queue,
            clock=clock,
            calendar=calendar,
            options=options,
            price_cache=price_cache,
        )

    if repositories is not None and backtest_queue is not None and ingest_queue is not None:
        return create_app(options, container=assemble(repositories, backtest_queue, ingest_queue))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_adapters(
            settings,
            repositories=repositories,
            backtest_queue=backtest_queue,
            ingest_queue=ingest_queue,
        ) as adapters:
            install_container(app, assemble(*adapters))
            freeze_startup_heap()
            try:
                yield
            finally:
                gc.unfreeze()  # an embedding process (a test) gets its collector back

    return create_app(options, lifespan=lifespan)


def options_from_settings(settings: GatewaySettings) -> GatewayOptions:
    return GatewayOptions(
        api_keys=tuple(k.get_secret_value() for k in settings.api_keys),
        require_key_for_reads=settings.require_key_for_reads,
        cors_origins=tuple(settings.cors_origins),
        max_body_bytes=settings.max_body_bytes,
        price_cache_bytes=settings.gateway_price_cache_mb * 1024 * 1024,
        max_wait_s=settings.gateway_max_wait_seconds,
    )


def submit_limits_from_settings(settings: BacktestLimitSettings) -> SubmitLimits:
    """The domain's limits, with each one the environment sets in place of its default."""
    return SubmitLimits(**settings.model_dump(exclude_none=True))


def build_use_cases(
    repositories: Repositories,
    *,
    backtest_queue: MessageQueue,
    ingest_queue: MessageQueue,
    clock: Clock,
    calendar: TradingCalendar | None,
    limits: SubmitLimits,
    options: GatewayOptions,
    price_cache: EncodedSeriesCache,
) -> GatewayUseCases:
    """Every use case a route calls, built once per process over the process's adapters."""
    assets, prices, macro = repositories.assets, repositories.prices, repositories.macro
    jobs, results, portfolios = repositories.jobs, repositories.results, repositories.portfolios
    return GatewayUseCases(
        submit_backtest=SubmitBacktest(
            assets=assets,
            prices=prices,
            jobs=jobs,
            queue=backtest_queue,
            clock=clock,
            limits=limits,
        ),
        get_job=GetJob(jobs=jobs),
        list_jobs=ListJobs(jobs=jobs),
        cancel_job=CancelJob(jobs=jobs, clock=clock),
        get_result=GetResult(jobs=jobs, results=results),
        save_portfolio=SavePortfolio(jobs=jobs, portfolios=portfolios, clock=clock),
        list_portfolios=ListPortfolios(portfolios=portfolios, jobs=jobs, results=results),
        get_portfolio=GetPortfolio(portfolios=portfolios, jobs=jobs, results=results),
        delete_portfolio=DeletePortfolio(portfolios=portfolios),
        list_assets=ListAssets(assets=assets),
        get_asset=GetAsset(assets=assets),
        get_price_history=GetPriceHistory(
            assets=assets, prices=prices, render=render_piece, cache=price_cache
        ),
        get_prices=GetPrices(
            assets=assets,
            prices=prices,
            render=render_piece,
            cache=price_cache,
            max_assets=options.max_assets_per_price_request,
        ),
        list_macro_series=ListMacroSeries(macro=macro),
        get_macro_observations=GetMacroObservations(macro=macro),
        list_runs=ListRuns(runs=repositories.runs),
        get_freshness=GetFreshness(
            assets=assets, prices=prices, macro=macro, clock=clock, calendar=calendar
        ),
        send_ingest_command=SendIngestCommand(queue=ingest_queue),
    )


def freeze_startup_heap() -> None:
    """Move every object alive after start-up (~200k: the imported libraries, the app, the
    adapters) out of the collector's reach. A full collection walks them all and stalls the
    event loop for 100-350 ms (measured), a latency spike for every request in flight;
    frozen, it walks only what requests allocate. Run once per process, after start-up."""
    gc.collect()
    gc.freeze()


# --------------------------------------------------------------------------------------------
# The gateway's adapters: a pool tuned to answer users fast, and queues resolved lazily


@asynccontextmanager
async def open_adapters(
    settings: GatewayProcessSettings,
    *,
    repositories: Repositories | None,
    backtest_queue: MessageQueue | None,
    ingest_queue: MessageQueue | None,
) -> AsyncIterator[tuple[Repositories, MessageQueue, MessageQueue]]:
    """The adapters given, and the engine and the SQS client for those not given; what was
    opened here is disposed on exit (the SQS client first, the engine last)."""
    async with AsyncExitStack() as opened:
        if repositories is None:
            repositories = await opened.enter_async_context(
                open_gateway_repositories(settings.database)
            )
        if backtest_queue is None or ingest_queue is None:
            queues = settings.queues
            connection = await opened.enter_async_context(open_sqs(queues))
            backtest_queue = backtest_queue or lazy_queue(
                connection, queues.backtest_queue_name, queues
            )
            ingest_queue = ingest_queue or lazy_queue(connection, queues.ingest_queue_name, queues)
        yield repositories, backtest_queue, ingest_queue


@asynccontextmanager
async def open_gateway_repositories(database: DatabaseSettings) -> AsyncIterator[Repositories]:
    """Repositories over the gateway's pool, disposed on exit."""
    import dataclasses

    from sqlalchemy.pool import NullPool

    from adapters.sqlalchemy import build_sqla_repositories, create_engine
    from adapters.sqlalchemy.engine import is_sqlite
    from adapters.sqlalchemy.repositories import SqlaHealthCheck

    url = database.url()
    engine = create_engine(url, **engine_options(url))
    repositories = build_sqla_repositories(engine)
    # Readiness logs in anew on every probe: a pooled connection opened before RDS rotated the
    # password still answers, and each uvicorn worker process keeps its own refusal latch, so
    # only a fresh login lets every process see the rotation and keep the task unready.
    probe_engine = None
    if not is_sqlite(url):
        ping_when_idle(engine, DB_PING_IDLE_S)
        probe_engine = create_engine(url, poolclass=NullPool)
        repositories = dataclasses.replace(repositories, health=SqlaHealthCheck(probe_engine))
    try:
        yield repositories
    finally:
        await engine.dispose()
        if probe_engine is not None:
            await probe_engine.dispose()


@asynccontextmanager
async def open_sqs(queues: QueueSettings) -> AsyncIterator[SqsConnection]:
    """The SQS client, with timeouts short enough for a request to fail fast."""
    from adapters.sqs import SqsConnection

    async with SqsConnection(
        queues.sqs_endpoint_url,
        queues.aws_region,
        connect_timeout_s=SQS_CONNECT_TIMEOUT_S,
        read_timeout_s=SQS_READ_TIMEOUT_S,
    ) as connection:
        yield connection


def lazy_queue(connection: SqsConnection, name: str, queues: QueueSettings) -> LazyQueue:
    return LazyQueue(
        connection, name, create=queues.sqs_create_queues, max_receives=queues.max_receives
    )


def engine_options(url: str) -> dict[str, Any]:
    from adapters.sqlalchemy.engine import is_sqlite

    if is_sqlite(url):
        return {}
    return {
        "pool_size": DB_POOL_SIZE,
        "max_overflow": 0,
        "pool_timeout": DB_POOL_TIMEOUT_S,
        # Replaced by ping_when_idle: SQLAlchemy's asyncpg pre-ping is three round trips
        # (BEGIN, an empty query, ROLLBACK) on every checkout, i.e. on every request.
        "pool_pre_ping": False,
        "connect_args": {"timeout": DB_CONNECT_TIMEOUT_S, "command_timeout": DB_COMMAND_TIMEOUT_S},
    }


_IDLE_SINCE = "gateway_idle_since"


def ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """Ping a pooled connection before use only when it sat idle for more than ``idle_s``.

    A connection in steady use proves itself alive on every request; one that waited may have
    been cut (a database restart, a failover, an idle timeout on the way), so it is checked
    and, if dead, replaced before the request sees it. A connection that dies while in use
    fails that request with a 503 and SQLAlchemy invalidates it and every older pooled one,
    so the next requests open fresh connections: the gateway recovers by itself."""
    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since <= idle_s:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:  # any failure: the pool drops it and connects afresh
            raise DisconnectionError("a pooled connection did not answer its ping") from exc

    event.listen(engine.sync_engine.pool, "checkin", checkin)
    event.listen(engine.sync_engine.pool, "checkout", checkout)
