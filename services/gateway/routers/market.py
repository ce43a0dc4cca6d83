"""Assets and prices (columnar series): thin edges over the asset and price use cases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from domain.backtest.spec import MAX_ASSET_ID
from domain.iso_date import IsoDate
from domain.model import AssetType, Market
from domain.usecases.assets import ListAssetsRequest
from domain.usecases.price_history import (
    PriceHistoryRequest,
    PriceSeries,
    PricesRequest,
    SeriesKey,
)
from gateway.caching import REVALIDATE, client_holds, etag_for, unmodified
from gateway.deps import Metrics, UseCases
from gateway.observability import GatewayMetrics
from gateway.problems import problem_docs
from gateway.schemas import (
    AssetOut,
    ListOf,
    ModelResponse,
    PriceSeriesOut,
    PricesOut,
    accepts_gzip,
    encode_asset_page,
)
from gateway.security import Reader
from gateway.series_cache import Piece, items_body, single_body

# Asset ids are the store's 32-bit keys: a larger number names no asset (422, not a 500).
AssetIdPath = Annotated[int, Path(ge=1, le=MAX_ASSET_ID, description="Asset id")]

router = APIRouter(prefix="/v1", tags=["market data"])

PriceField = Literal["open", "high", "low", "close", "adj_close", "volume"]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=500, description="From the previous page")]
Start = Annotated[IsoDate | None, Query(description="First date, inclusive")]
End = Annotated[IsoDate | None, Query(description="Last date, inclusive")]
Fields = Annotated[list[PriceField] | None, Query(description="Columns (default: all)")]


@router.get(
    "/assets",
    summary="List assets (filter by market, type, text on ticker and name)",
    response_model=ListOf[AssetOut],
    responses=problem_docs(401, 422, 503),
)
async def list_assets(
    use_cases: UseCases,
    _: Reader,
    market: Market | None = None,
    asset_type: AssetType | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in ticker or name")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    page = await use_cases.list_assets(
        ListAssetsRequest(market=market, asset_type=asset_type, text=q, limit=limit, cursor=cursor)
    )
    return Response(encode_asset_page(page.items, page.next_cursor), media_type="application/json")


@router.get(
    "/assets/{asset_id}",
    summary="One asset",
    response_model=AssetOut,
    responses=problem_docs(401, 404, 422, 503),
)
async def get_asset(use_cases: UseCases, _: Reader, asset_id: AssetIdPath) -> ModelResponse:
    return ModelResponse(AssetOut.of(await use_cases.get_asset(asset_id)))


@router.get(
    "/assets/{asset_id}/prices",
    summary="Daily bars of one asset, columnar",
    response_model=PriceSeriesOut,
    responses={
        304: {"description": "Not modified (If-None-Match)"},
        **problem_docs(401, 404, 422, 503),
    },
)
async def asset_prices(
    request: Request,
    use_cases: UseCases,
    metrics: Metrics,
    _: Reader,
    asset_id: AssetIdPath,
    start: Start = None,
    end: End = None,
    fields: Fields = None,
) -> Response:
    conditional = _Conditional(request, many=False)
    found = await use_cases.get_price_history(
        PriceHistoryRequest(
            asset_id=asset_id,
            start=start,
            end=end,
            fields=tuple(fields or ()),
            already_held=conditional.held,
        )
    )
    return conditional.response(found, metrics)


@router.get(
    "/prices",
    summary="Daily bars of several assets at once, columnar",
    response_model=PricesOut,
    responses={
        304: {"description": "Not modified (If-None-Match)"},
        **problem_docs(401, 404, 422, 503),
    },
)
async def prices(
    request: Request,
    use_cases: UseCases,
    metrics: Metrics,
    _: Reader,
    asset_id: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ASSET_ID)]],
        Query(min_length=1, description="Repeat for each asset"),
    ],
    start: Start = None,
    end: End = None,
    fields: Fields = None,
) -> Response:
    conditional = _Conditional(request, many=True)
    found = await use_cases.get_prices(
        PricesRequest(
            asset_ids=tuple(asset_id),
            start=start,
            end=end,
            fields=tuple(fields or ()),
            already_held=conditional.held,
        )
    )
    return conditional.response(found, metrics)


class _Conditional:
    """The HTTP side of a series read: a strong ETag from the series keys (the gzip and
    identity bodies differ, so their ETags do too), 304 for a client holding it, and the body
    (one series, or ``{"items": [...]}`` when ``many``) assembled from the encoded pieces."""

    def __init__(self, request: Request, *, many: bool) -> None:
        self._request = request
        self._many = many
        self._gzip_ok = accepts_gzip(request)
        self._etags: dict[tuple[SeriesKey, ...], str] = {}

    def _etag(self, keys: Sequence[SeriesKey]) -> str:
        # Asked twice per request (the If-None-Match check, then the response) for the
        # same keys unless a revision moved in between: hashed once.
        held = tuple(keys)
        if held not in self._etags:
            self._etags[held] = etag_for("prices", self._many, list(held), self._gzip_ok)
        return self._etags[held]

    def held(self, keys: Sequence[SeriesKey]) -> bool:
        return client_holds(self._request, self._etag(keys))

    def response(self, found: PriceSeries[Piece], metrics: GatewayMetrics) -> Response:
        etag = self._etag(found.keys)
        if found.series is None:
            unchanged = unmodified(etag, REVALIDATE)
            unchanged.headers["Vary"] = "Accept-Encoding"
            return unchanged
        metrics.price_series.labels("cache").inc(found.from_cache)
        if found.read:
            metrics.price_series.labels("read").inc(found.read)
        pieces = found.series
        body = (
            items_body(pieces, self._gzip_ok)
            if self._many
            else single_body(pieces[0], self._gzip_ok)
        )
        headers = {"ETag": etag, "Cache-Control": REVALIDATE, "Vary": "Accept-Encoding"}
        if body.gzipped:
            headers["Content-Encoding"] = "gzip"
        return Response(body.content, media_type="application/json", headers=headers)
