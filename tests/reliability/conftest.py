"""Fixtures of the fault suite: fresh databases per scenario module (the sweeper and the
invariants look at whole tables, so scenarios must not share them) and the clean-run reference."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import pytest_asyncio

from tests.reliability.harness import (
    TICKERS,
    ChaosStack,
    ingest_in_process,
    prepare_database,
    price_fingerprint,
)
from tests.support.postgres import create_database, drop_database

# Scenarios a fault run ingests, beyond the ones the job specs use.
INGEST_TICKERS = ("XLK", "XLF", "IWM", "DIA", "VNQ", "DBC", "LQD", "HYG")
HEAVY = os.environ.get("CHAOS_HEAVY") == "1"

pytestmark = [pytest.mark.postgres, pytest.mark.sqs]


@pytest_asyncio.fixture
async def client(stack: ChaosStack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the module's stack (each scenario module defines ``stack``), once ready."""
    await stack.wait_ready()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def fresh_database(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Factory of empty, uniquely named databases on the shared server, dropped at the end."""
    created: list[str] = []

    def make() -> str:
        url = asyncio.run(create_database(postgres_server, prefix="ii_chaos"))
        created.append(url)
        return url

    yield make
    for url in created:
        asyncio.run(drop_database(postgres_server, url))


@pytest.fixture(scope="session")
def clean_prices(fresh_database: Callable[[], str]) -> dict[str, tuple[int, str]]:
    """What a fault-free ingestion of every ticker the suite uses stores (per ticker: rows and a
    digest of all values): the reference "price rows equal a clean run's" compares to."""
    url = fresh_database()
    tickers = (*TICKERS, *INGEST_TICKERS)

    async def run() -> dict[str, tuple[int, str]]:
        await prepare_database(url)
        await ingest_in_process(url, tickers)
        return await price_fingerprint(url, tickers)

    reference = asyncio.run(run())
    assert set(reference) == set(tickers), reference
    return reference
