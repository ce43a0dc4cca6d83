"""The gateway in process over a real database and SQS, built from settings by its composition
root as in production: its own queue names, an httpx client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from adapters.settings import DatabaseSettings, QueueSettings
from gateway.bootstrap import GatewayProcessSettings, bootstrap
from gateway.container import GatewayContainer, GatewayOptions


def queue_settings(endpoint: str, create: bool = True) -> QueueSettings:
    """Queue names of the caller's own, so tests sharing the SQS endpoint never meet."""
    suffix = uuid.uuid4().hex[:8]
    return QueueSettings(
        sqs_endpoint_url=endpoint,
        sqs_create_queues=create,
        backtest_queue_name=f"gw-backtest-{suffix}",
        ingest_queue_name=f"gw-ingest-{suffix}",
    )


@asynccontextmanager
async def running_gateway(
    url: str, queues: QueueSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, GatewayContainer]]:
    settings = GatewayProcessSettings(database=DatabaseSettings(database_url=url), queues=queues)
    app = bootstrap(settings, options=GatewayOptions())
    # The lifespan opens the engine and the SQS client, and disposes them on exit.
    async with app.router.lifespan_context(app):
        container: GatewayContainer = app.state.container
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, container
