"""Saved portfolios: a succeeded backtest under a unique name."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from domain.usecases.portfolios import (
    SORT_KEYS,
    DeletePortfolio,
    GetPortfolio,
    ListPortfolios,
    ListPortfoliosRequest,
    SavePortfolio,
    SavePortfolioRequest,
)
from gateway.caching import REVALIDATE, etag_for, not_modified
from gateway.deps import Container
from gateway.problems import problem_docs
from gateway.routers.backtests import svg_response
from gateway.schemas import (
    ListOf,
    ModelResponse,
    PortfolioOut,
    PortfolioSummaryOut,
    SavePortfolioIn,
)
from gateway.security import Reader, Writer

router = APIRouter(prefix="/v1/portfolios", tags=["portfolios"])

SortKey = Literal["name", "created_at", "cagr", "volatility", "sharpe", "max_drawdown"]
assert set(SortKey.__args__) == set(SORT_KEYS)  # type: ignore[attr-defined]


@router.post(
    "",
    status_code=201,
    summary="Save a succeeded backtest under a unique name",
    response_model=PortfolioSummaryOut,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}}, "description": "Saved"},
        **problem_docs(401, 409, 413, 422, 503),
    },
)
async def save(container: Container, _: Writer, body: SavePortfolioIn) -> ModelResponse:
    repos = container.repositories
    portfolio = await SavePortfolio(
        jobs=repos.jobs, portfolios=repos.portfolios, clock=container.clock
    )(SavePortfolioRequest(backtest_id=body.backtest_id, name=body.name))
    rows = await _lister(container)(ListPortfoliosRequest())
    row = next(r for r in rows if r.id == portfolio.id)
    return ModelResponse(
        PortfolioSummaryOut.of(row),
        status_code=201,
        headers={"Location": f"/v1/portfolios/{portfolio.id}"},
    )


def _lister(container: Container) -> ListPortfolios:
    repos = container.repositories
    return ListPortfolios(portfolios=repos.portfolios, jobs=repos.jobs, results=repos.results)


@router.get(
    "",
    summary="Saved portfolios with CAGR, volatility, Sharpe and max drawdown, sortable",
    response_model=ListOf[PortfolioSummaryOut],
    responses=problem_docs(401, 422, 503),
)
async def list_portfolios(
    container: Container,
    _: Reader,
    sort: SortKey = "created_at",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
) -> ModelResponse:
    rows = await _lister(container)(ListPortfoliosRequest(sort=sort, descending=order == "desc"))
    return ModelResponse(
        ListOf[PortfolioSummaryOut](items=[PortfolioSummaryOut.of(r) for r in rows])
    )


@router.get(
    "/{portfolio_id}",
    summary="A portfolio: metrics, NAV, rebalance weights and benchmark",
    response_model=PortfolioOut,
    responses={
        304: {"description": "Not modified (If-None-Match)"},
        **problem_docs(401, 404, 422, 503),
    },
)
async def get_portfolio(
    request: Request, container: Container, _: Reader, portfolio_id: uuid.UUID
) -> Response:
    repos = container.repositories
    detail = await GetPortfolio(
        portfolios=repos.portfolios, jobs=repos.jobs, results=repos.results
    )(portfolio_id)
    etag = etag_for("portfolio", detail.portfolio.id, detail.portfolio.name, detail.job.finished_at)
    cached = not_modified(request, etag, REVALIDATE)
    if cached is not None:
        return cached
    return ModelResponse(
        PortfolioOut.of(detail), headers={"ETag": etag, "Cache-Control": REVALIDATE}
    )


@router.delete(
    "/{portfolio_id}",
    status_code=204,
    summary="Delete a portfolio (its backtest stays)",
    response_class=Response,
    responses=problem_docs(401, 404, 422, 503),
)
async def delete(container: Container, _: Writer, portfolio_id: uuid.UUID) -> Response:
    await DeletePortfolio(portfolios=container.repositories.portfolios)(portfolio_id)
    return Response(status_code=204)


@router.get(
    "/{portfolio_id}/chart.svg",
    summary="NAV vs benchmark (log scale) with drawdown, as SVG",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}, "description": "SVG"},
        304: {"description": "Not modified (If-None-Match)"},
        **problem_docs(401, 404, 422, 503),
    },
)
async def chart(
    request: Request, container: Container, _: Reader, portfolio_id: uuid.UUID
) -> Response:
    repos = container.repositories
    detail = await GetPortfolio(
        portfolios=repos.portfolios, jobs=repos.jobs, results=repos.results
    )(portfolio_id)
    key = f"job:{detail.job.id}:{detail.job.finished_at}"
    return await svg_response(request, key, detail.portfolio.name, detail.result)
