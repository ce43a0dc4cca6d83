"""Saved portfolios: a succeeded backtest under a unique name."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from domain.usecases.portfolios import (
    SORT_KEYS,
    ListPortfoliosRequest,
    SavePortfolioRequest,
)
from gateway.caching import REVALIDATE, etag_for, not_modified
from gateway.deps import UseCases
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
async def save(use_cases: UseCases, _: Writer, body: SavePortfolioIn) -> ModelResponse:
    portfolio = await use_cases.save_portfolio(
        SavePortfolioRequest(backtest_id=body.backtest_id, name=body.name)
    )
    rows = await use_cases.list_portfolios(ListPortfoliosRequest())
    row = next(r for r in rows if r.id == portfolio.id)
    return ModelResponse(
        PortfolioSummaryOut.of(row),
        status_code=201,
        headers={"Location": f"/v1/portfolios/{portfolio.id}"},
    )


@router.get(
    "",
    summary="Saved portfolios with CAGR, volatility, Sharpe and max drawdown, sortable",
    response_model=ListOf[PortfolioSummaryOut],
    responses=problem_docs(401, 422, 503),
)
async def list_portfolios(
    use_cases: UseCases,
    _: Reader,
    sort: SortKey = "created_at",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
) -> ModelResponse:
    rows = await use_cases.list_portfolios(
        ListPortfoliosRequest(sort=sort, descending=order == "desc")
    )
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
    request: Request, use_cases: UseCases, _: Reader, portfolio_id: uuid.UUID
) -> Response:
    detail = await use_cases.get_portfolio(portfolio_id)
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
async def delete(use_cases: UseCases, _: Writer, portfolio_id: uuid.UUID) -> Response:
    await use_cases.delete_portfolio(portfolio_id)
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
    request: Request, use_cases: UseCases, _: Reader, portfolio_id: uuid.UUID
) -> Response:
    detail = await use_cases.get_portfolio(portfolio_id)
    key = f"job:{detail.job.id}:{detail.job.finished_at}"
    return await svg_response(request, key, detail.portfolio.name, detail.result)
