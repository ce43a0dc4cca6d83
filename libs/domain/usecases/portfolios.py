"""Saved portfolios (the original app's "strategy list"): a succeeded backtest under a name.

Business rules:

- Only a succeeded backtest can be saved; names are unique (a taken name is a Conflict).
- The list shows name, strategy, CAGR, volatility, Sharpe and max drawdown, sortable by any of
  them (undefined metrics sort last whatever the direction).
- A portfolio's detail is its backtest's metrics, NAV, rebalance weights and benchmark.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from domain.errors import Conflict, InvalidRequest, NotFound
from domain.model import BacktestJob, BacktestResult, JobStatus, Portfolio
from domain.ports import Clock, JobRepository, PortfolioRepository, ResultRepository

SortKey = Literal["name", "created_at", "cagr", "volatility", "sharpe", "max_drawdown"]
SORT_KEYS: tuple[str, ...] = ("name", "created_at", "cagr", "volatility", "sharpe", "max_drawdown")
MAX_NAME = 200

# Metric names as the engine stores them; the first present wins (older results used the
# longer names).
_METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "cagr": ("cagr", "annual_return"),
    "volatility": ("volatility", "annual_volatility"),
    "sharpe": ("sharpe", "sharpe_ratio"),
    "max_drawdown": ("max_drawdown",),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SavePortfolioRequest:
    backtest_id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioSummary:
    id: uuid.UUID
    name: str
    backtest_id: uuid.UUID
    strategy: str
    created_at: datetime
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    max_drawdown: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioDetail:
    portfolio: Portfolio
    job: BacktestJob
    result: BacktestResult


def _metric(metrics: dict[str, float | None], name: str) -> float | None:
    for alias in _METRIC_ALIASES[name]:
        value = metrics.get(alias)
        if value is not None:
            return float(value)
    return None


def _strategy(job: BacktestJob) -> str:
    strategy: Any = job.spec.get("strategy", {})
    return str(strategy.get("type", "")) if isinstance(strategy, dict) else ""


class SavePortfolio:
    """Save a succeeded backtest under a unique name."""

    def __init__(
        self,
        *,
        jobs: JobRepository,
        portfolios: PortfolioRepository,
        clock: Clock,
    ) -> None:
        self._jobs = jobs
        self._portfolios = portfolios
        self._clock = clock

    async def __call__(self, request: SavePortfolioRequest) -> Portfolio:
        name = request.name.strip()
        if not name or len(name) > MAX_NAME:
            raise InvalidRequest(
                "invalid portfolio name",
                [{"field": "name", "message": f"1 to {MAX_NAME} non-blank characters"}],
            )
        job = await self._jobs.get(request.backtest_id)
        if job is None:
            raise InvalidRequest(
                "unknown backtest",
                [
                    {
                        "field": "backtest_id",
                        "message": f"backtest {request.backtest_id} does not exist",
                    }
                ],
            )
        if job.status != JobStatus.SUCCEEDED:
            raise Conflict(
                f"only a succeeded backtest can be saved; this one is {job.status.value}"
            )
        portfolio = Portfolio(
            id=uuid.uuid4(), name=name, job_id=job.id, created_at=self._clock.now()
        )
        return await self._portfolios.add(portfolio)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPortfoliosRequest:
    sort: SortKey = "created_at"
    descending: bool = True


class ListPortfolios:
    """Every saved portfolio with its headline metrics, sorted."""

    def __init__(
        self, *, portfolios: PortfolioRepository, jobs: JobRepository, results: ResultRepository
    ) -> None:
        self._portfolios = portfolios
        self._jobs = jobs
        self._results = results

    async def __call__(self, request: ListPortfoliosRequest) -> list[PortfolioSummary]:
        summaries = [await self._summary(p) for p in await self._portfolios.list()]
        return _sorted(summaries, request.sort, request.descending)

    async def _summary(self, portfolio: Portfolio) -> PortfolioSummary:
        job = await self._jobs.get(portfolio.job_id)
        result = await self._results.get(portfolio.job_id)
        metrics = result.metrics if result else {}
        return PortfolioSummary(
            id=portfolio.id,
            name=portfolio.name,
            backtest_id=portfolio.job_id,
            strategy=_strategy(job) if job else "",
            created_at=portfolio.created_at,
            cagr=_metric(metrics, "cagr"),
            volatility=_metric(metrics, "volatility"),
            sharpe=_metric(metrics, "sharpe"),
            max_drawdown=_metric(metrics, "max_drawdown"),
        )


def _sorted(rows: list[PortfolioSummary], key: str, descending: bool) -> list[PortfolioSummary]:
    present = [r for r in rows if getattr(r, key) is not None]
    missing = [r for r in rows if getattr(r, key) is None]
    present.sort(key=lambda r: (getattr(r, key), r.name), reverse=descending)
    return present + missing


class GetPortfolio:
    """A portfolio with its backtest's full result; NotFound when unknown."""

    def __init__(
        self, *, portfolios: PortfolioRepository, jobs: JobRepository, results: ResultRepository
    ) -> None:
        self._portfolios = portfolios
        self._jobs = jobs
        self._results = results

    async def __call__(self, portfolio_id: uuid.UUID) -> PortfolioDetail:
        portfolio = await self._portfolios.get(portfolio_id)
        if portfolio is None:
            raise NotFound(f"portfolio {portfolio_id} does not exist")
        job = await self._jobs.get(portfolio.job_id)
        result = await self._results.get(portfolio.job_id)
        if job is None or result is None:
            raise NotFound(f"the backtest of portfolio {portfolio_id} is missing")
        return PortfolioDetail(portfolio=portfolio, job=job, result=result)


class DeletePortfolio:
    """Remove a portfolio (its backtest stays); NotFound when unknown."""

    def __init__(self, *, portfolios: PortfolioRepository) -> None:
        self._portfolios = portfolios

    async def __call__(self, portfolio_id: uuid.UUID) -> None:
        if not await self._portfolios.delete(portfolio_id):
            raise NotFound(f"portfolio {portfolio_id} does not exist")
