"""The gateway's composition root: the only place that reads settings and builds the engine
and the SQS client; both are created at start-up and disposed at shutdown."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from adapters.calendars import ExchangeCalendarsAdapter
from adapters.clock import SystemClock
from adapters.settings import DatabaseSettings, GatewaySettings, QueueSettings
from domain.errors import QueueUnavailable
from domain.ports import MessageQueue, ReceivedMessage
from gateway.container import GatewayContainer, GatewayOptions

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

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


def options_from_settings(settings: GatewaySettings) -> GatewayOptions:
    return GatewayOptions(
        api_keys=tuple(k.get_secret_value() for k in settings.api_keys),
        require_key_for_reads=settings.require_key_for_reads,
        cors_origins=tuple(settings.cors_origins),
        max_body_bytes=settings.max_body_bytes,
        max_active_jobs_per_key=settings.max_queued_jobs_per_key,
        price_cache_bytes=settings.gateway_price_cache_mb * 1024 * 1024,
        max_wait_s=settings.gateway_max_wait_seconds,
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


class LazyQueue:
    """A queue resolved on first use and re-resolved after a failure, so the gateway starts
    (and serves reads) while SQS is down and recovers by itself when it returns."""

    def __init__(self, connection: Any, name: str, *, create: bool, max_receives: int) -> None:
        self.name = name
        self.max_receives = max_receives
        self._connection = connection
        self._create = create
        self._queue: MessageQueue | None = None

    async def _resolved(self) -> MessageQueue:
        if self._queue is None:
            try:
                queue: MessageQueue = await self._connection.queue(
                    self.name, create=self._create, max_receives=self.max_receives
                )
            except QueueUnavailable:
                raise
            except Exception as exc:  # the SDK's own errors must not leak past the adapter edge
                raise QueueUnavailable(f"queue {self.name} unavailable") from exc
            self._queue = queue
        return self._queue

    async def send(self, body: str, delay_s: int = 0) -> str:
        return await (await self._resolved()).send(body, delay_s)

    async def receive(
        self, max_messages: int, wait_s: float, lease_s: int
    ) -> list[ReceivedMessage]:
        return await (await self._resolved()).receive(max_messages, wait_s, lease_s)

    async def extend(self, message: ReceivedMessage, lease_s: int) -> None:
        await (await self._resolved()).extend(message, lease_s)

    async def ack(self, message: ReceivedMessage) -> None:
        await (await self._resolved()).ack(message)

    async def release(self, message: ReceivedMessage, delay_s: int = 0) -> None:
        await (await self._resolved()).release(message, delay_s)

    async def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        await (await self._resolved()).dead_letter(message, reason)

    async def depth(self) -> dict[str, int]:
        return await (await self._resolved()).depth()

    async def ping(self) -> None:
        await (await self._resolved()).ping()


@asynccontextmanager
async def build_container(
    database: DatabaseSettings,
    queues: QueueSettings,
    options: GatewayOptions,
) -> AsyncIterator[GatewayContainer]:
    """Engine + SQS client for the app's lifetime; both disposed on exit."""
    from sqlalchemy.pool import NullPool

    from adapters.sqlalchemy import build_sqla_repositories, create_engine
    from adapters.sqlalchemy.engine import is_sqlite
    from adapters.sqlalchemy.repositories import SqlaHealthCheck
    from adapters.sqs import SqsConnection

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
        async with SqsConnection(
            queues.sqs_endpoint_url,
            queues.aws_region,
            connect_timeout_s=SQS_CONNECT_TIMEOUT_S,
            read_timeout_s=SQS_READ_TIMEOUT_S,
        ) as connection:

            def queue(name: str) -> LazyQueue:
                return LazyQueue(
                    connection,
                    name,
                    create=queues.sqs_create_queues,
                    max_receives=queues.max_receives,
                )

            yield GatewayContainer(
                repositories=repositories,
                backtest_queue=queue(queues.backtest_queue_name),
                ingest_queue=queue(queues.ingest_queue_name),
                clock=SystemClock(),
                calendar=ExchangeCalendarsAdapter(),
                options=options,
            )
    finally:
        await engine.dispose()
        if probe_engine is not None:
            await probe_engine.dispose()
