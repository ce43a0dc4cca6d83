"""Test data for the gateway and the backtest use cases: a few assets with business-day prices
in the in-memory fakes (random walks with a fixed seed, so any test can rebuild them)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from adapters.memory import MemoryStore, build_memory_repositories
from domain.model import (
    Asset,
    AssetType,
    BacktestJob,
    BacktestResult,
    Currency,
    Exchange,
    JobStatus,
    MacroFrequency,
    MacroSeries,
    Market,
)
from domain.ports import Repositories

HISTORY_START = date(2015, 1, 1)
HISTORY_END = date(2024, 12, 31)

US = [
    ("SPY", "SPDR S&P 500 ETF", Exchange.NYSEARCA),
    ("EFA", "iShares MSCI EAFE", Exchange.NYSEARCA),
    ("IEF", "iShares 7-10 Year Treasury", Exchange.NASDAQ),
]
KR = [("005930", "Samsung Electronics", Exchange.KOSPI)]


def bars(seed: int, start: date = HISTORY_START, end: date = HISTORY_END) -> pd.DataFrame:
    days = pd.bdate_range(start, end)
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, len(days))))
    return pd.DataFrame(
        {
            "date": days.date,
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": np.full(len(days), 1e6),
        }
    )


async def seeded_repositories(store: MemoryStore | None = None) -> Repositories:
    repos = build_memory_repositories(store or MemoryStore())
    assets = [
        Asset(
            ticker=t,
            name=n,
            market=Market.US,
            exchange=e,
            currency=Currency.USD,
            asset_type=AssetType.ETF,
        )
        for t, n, e in US
    ] + [
        Asset(
            ticker=t,
            name=n,
            market=Market.KR,
            exchange=e,
            currency=Currency.KRW,
            asset_type=AssetType.STOCK,
        )
        for t, n, e in KR
    ]
    stored = await repos.assets.upsert_many(assets)
    for i, asset in enumerate(stored):
        assert asset.id is not None
        await repos.prices.upsert(asset.id, bars(seed=i))
    await repos.macro.upsert_series(
        [MacroSeries(code="CPIAUCSL", name="CPI", frequency=MacroFrequency.MONTHLY, units="index")]
    )
    months = pd.date_range("2015-01-01", "2024-12-01", freq="MS")
    values = np.linspace(230.0, 310.0, len(months))
    await repos.macro.upsert_observations(
        "CPIAUCSL", pd.DataFrame({"date": months.date, "value": values})
    )
    return repos


def spec_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "GEM",
        "strategy": {"type": "dual_momentum", "params": {"top_n": 1, "lookback_months": 12}},
        "universe": ["SPY", "EFA", "IEF"],
        "start": "2017-01-01",
        "end": "2023-12-31",
        "benchmark": "SPY",
    }
    body.update(overrides)
    return body


async def finished_job(
    repos: Repositories,
    *,
    cagr: float = 0.07,
    sharpe: float = 0.6,
    status: JobStatus = JobStatus.SUCCEEDED,
) -> BacktestJob:
    """A job the backtester has already run, with its stored result."""
    now = datetime(2024, 6, 1, tzinfo=UTC)
    job = BacktestJob(
        id=uuid.uuid4(), status=JobStatus.QUEUED, spec=spec_body(), created_at=now, updated_at=now
    )
    claimed = await repos.jobs.save((await repos.jobs.add(job)).claim(now, 60))
    await repos.jobs.save(
        claimed.succeed(now) if status == JobStatus.SUCCEEDED else claimed.fail(now, "boom")
    )
    if status == JobStatus.SUCCEEDED:
        dates = [d.isoformat() for d in pd.bdate_range("2020-01-01", periods=300).date]
        nav = list(np.linspace(1000.0, 1000.0 * (1 + cagr), 300))
        await repos.results.save(
            BacktestResult(
                job_id=job.id,
                metrics={"cagr": cagr, "volatility": 0.15, "sharpe": sharpe, "max_drawdown": -0.2},
                nav={"dates": dates, "values": nav},
                benchmark={"dates": dates, "values": list(np.linspace(1000.0, 1100.0, 300))},
                weights=[{"date": dates[0], "weights": {"SPY": 1.0}}],
                analytics={"monthly_returns": []},
            )
        )
    got = await repos.jobs.get(job.id)
    assert got is not None
    return got
