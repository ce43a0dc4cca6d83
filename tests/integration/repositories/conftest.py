"""One contract suite over every repository implementation: the in-memory fakes, SQLite
(a temporary file) and PostgreSQL (a fresh, migrated database). A fake that drifts from the
real stores fails here."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory import build_memory_repositories
from adapters.sqlalchemy import build_sqla_repositories, create_engine, run_migrations
from adapters.sqlalchemy.tables import metadata
from domain.model import (
    Asset,
    AssetType,
    BacktestJob,
    Currency,
    Exchange,
    IngestionRun,
    JobStatus,
    Market,
    RunStatus,
    RunTrigger,
)
from domain.ports import Repositories

T0 = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)


@dataclass
class Backend:
    name: str
    repos: Repositories
    engine: AsyncEngine | None = None


@pytest.fixture(scope="session")
def sqlite_contract_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('sqlite')) / 'contract.db'}"
    run_migrations(url)
    return url


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_url: str) -> str:
    run_migrations(postgres_url)
    return postgres_url


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def backend_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    if request.param == "memory":
        yield "memory", None
    elif request.param == "sqlite":
        yield "sqlite", request.getfixturevalue("sqlite_contract_url")
    else:
        yield "postgres", request.getfixturevalue("migrated_postgres_url")


@pytest.fixture
async def backend(backend_url: tuple[str, str | None]) -> AsyncIterator[Backend]:
    name, url = backend_url
    if url is None:
        yield Backend(name, build_memory_repositories())
        return
    engine = create_engine(url)
    await _wipe(engine)
    try:
        yield Backend(name, build_sqla_repositories(engine), engine)
    finally:
        await engine.dispose()


@pytest.fixture
def repos(backend: Backend) -> Repositories:
    return backend.repos


async def _wipe(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(delete(table))


# --- factories (random natural keys, so tests never depend on each other's rows) ------------


def make_asset(ticker: str | None = None, market: Market = Market.US, **kw: Any) -> Asset:
    ticker = ticker or f"T{uuid.uuid4().hex[:6].upper()}"
    us = market == Market.US
    defaults: dict[str, Any] = {
        "name": f"{ticker} Inc",
        "exchange": Exchange.NASDAQ if us else Exchange.KOSPI,
        "currency": Currency.USD if us else Currency.KRW,
        "asset_type": AssetType.STOCK,
    }
    return Asset(ticker=ticker, market=market, **(defaults | kw))


def make_bars(days: int, start: date = date(2024, 1, 1), base: float = 100.0) -> pd.DataFrame:
    dates = [start + timedelta(days=i) for i in range(days)]
    values = [base + i for i in range(days)]
    return pd.DataFrame(
        {
            "date": dates,
            "open": values,
            "high": [v + 1 for v in values],
            "low": [v - 1 for v in values],
            "close": values,
            "adj_close": [v * 0.9 for v in values],
            "volume": [1000.0 + i for i in range(days)],
        }
    )


def make_job(
    created_at: datetime = T0, status: JobStatus = JobStatus.QUEUED, **kw: Any
) -> BacktestJob:
    return BacktestJob(
        id=kw.pop("id", uuid.uuid4()),
        status=status,
        spec=kw.pop("spec", {"strategy": {"type": "equal_weight"}, "universe": ["SPY", "IEF"]}),
        created_at=created_at,
        updated_at=created_at,
        **kw,
    )


def make_run(started_at: datetime = T0, **kw: Any) -> IngestionRun:
    return IngestionRun(
        id=kw.pop("id", uuid.uuid4()),
        command={"type": "update_prices", "market": "US"},
        command_type="update_prices",
        trigger=kw.pop("trigger", RunTrigger.MANUAL),
        status=kw.pop("status", RunStatus.RUNNING),
        started_at=started_at,
        **kw,
    )
