"""A gateway over the in-memory fakes, built by its composition root (``gateway.bootstrap``)
and driven in-process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from adapters.clock import ManualClock
from adapters.memory.queue import InMemoryMessageQueue
from domain.ports import Repositories, TradingCalendar
from domain.usecases.backtests import SubmitLimits
from gateway.bootstrap import bootstrap
from gateway.container import GatewayContainer, GatewayOptions
from tests.unit.gateway.seed import seeded_repositories


@dataclass
class Stack:
    client: httpx.AsyncClient
    container: GatewayContainer
    repos: Repositories
    backtests: InMemoryMessageQueue
    ingest: InMemoryMessageQueue
    clock: ManualClock


@asynccontextmanager
async def gateway(
    options: GatewayOptions | None = None,
    calendar: TradingCalendar | None = None,
    limits: SubmitLimits | None = None,
) -> AsyncIterator[Stack]:
    repos = await seeded_repositories()
    clock = ManualClock()
    backtests, ingest = InMemoryMessageQueue("backtest"), InMemoryMessageQueue("ingest")
    app = bootstrap(
        repositories=repos,
        backtest_queue=backtests,
        ingest_queue=ingest,
        clock=clock,
        calendar=calendar,
        options=options or GatewayOptions(poll_interval_s=0.01),
        limits=limits or SubmitLimits(),
    )
    container: GatewayContainer = app.state.container
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Stack(client, container, repos, backtests, ingest, clock)


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with gateway() as built:
        yield built


@pytest.fixture
def make_stack() -> Callable[[GatewayOptions], AbstractAsyncContextManager[Stack]]:
    return gateway
