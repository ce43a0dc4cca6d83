"""Assets and prices (columnar series)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from domain.backtest.spec import MAX_ASSET_ID
from domain.errors import InvalidRequest, NotFound, StorageUnavailable
from domain.iso_date import IsoDate
from domain.model import PRICE_FIELDS, Asset, AssetQuery, AssetType, Market
from gateway.caching import REVALIDATE, etag_for, not_modified
from gateway.deps import Container, Metrics
from gateway.observability import GatewayMetrics
from gateway.problems import problem_docs
from gateway.schemas import (
    AssetOut,
    FastJSONResponse,
    ListOf,
    PriceSeriesOut,
    PricesOut,
    accepts_gzip,
    asset_out,
    bars_out,
    dump_json,
)
from gateway.security import Reader
from gateway.series_cache import Piece, SeriesKey, items_body, single_body

# Asset ids are the store's 32-bit keys: a larger number names no asset (422, not a 500).
AssetIdPath = Annotated[int, Path(ge=1, le=MAX_ASSET_ID, description="Asset id")]

router = APIRouter(prefix="/v1", tags=["market data"])

PriceField = Literal["open", "high", "low", "close", "adj_close", "volume"]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=500, description="From the previous page")]
Start = Annotated[IsoDate | None, Query(description="First date, inclusive")]
End = Annotated[IsoDate | None, Query(description="Last date, inclusive")]
Fields = Annotated[list[PriceField] | None, Query(description="Columns (default: all)")]


def check_range(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidRequest(
            "start is after end", [{"field": "start", "message": "must not be after end"}]
        )


def _fields(fields: list[PriceField] | None) -> list[str]:
    wanted = set(fields or PRICE_FIELDS)
    return [f for f in PRICE_FIELDS if f in wanted]


@router.get(
    "/assets",
    summary="List assets (filter by market, type, text on ticker and name)",
    response_model=ListOf[AssetOut],
    responses=problem_docs(401, 422, 503),
)
async def list_assets(
    container: Container,
    _: Reader,
    market: Market | None = None,
    asset_type: AssetType | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in ticker or name")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> FastJSONResponse:
    page = await container.repositories.assets.list(
        AssetQuery(market=market, asset_type=asset_type, text=q or None, limit=limit, cursor=cursor)
    )
    return FastJSONResponse(
        {"items": [asset_out(a) for a in page.items], "next_cursor": page.next_cursor}
    )


async def _asset(container: Container, asset_id: int) -> Asset:
    asset = await container.repositories.assets.get(asset_id)
    if asset is None:
        raise NotFound(f"asset {asset_id} does not exist")
    return asset


@router.get(
    "/assets/{asset_id}",
    summary="One asset",
    response_model=AssetOut,
    responses=problem_docs(401, 404, 422, 503),
)
async def get_asset(container: Container, _: Reader, asset_id: AssetIdPath) -> FastJSONResponse:
    return FastJSONResponse(asset_out(await _asset(container, asset_id)))


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
    container: Container,
    metrics: Metrics,
    _: Reader,
    asset_id: AssetIdPath,
    start: Start = None,
    end: End = None,
    fields: Fields = None,
) -> Response:
    check_range(start, end)
    # The asset (and its prices revision) first, the bars after: see gateway.series_cache.
    asset = await _asset(container, asset_id)
    return await _series_response(request, container, metrics, [asset], start, end, _fields(fields))


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
    container: Container,
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
    check_range(start, end)
    limit = container.options.max_assets_per_price_request
    ids = list(dict.fromkeys(asset_id))
    if len(ids) > limit:
        raise InvalidRequest(
            "too many assets",
            [{"field": "asset_id", "message": f"at most {limit} assets per request"}],
        )
    found = await container.repositories.assets.find(list(ids))
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"assets {missing} do not exist")
    assets = [found[i] for i in ids]
    return await _series_response(
        request, container, metrics, assets, start, end, _fields(fields), many=True
    )


async def _series_response(
    request: Request,
    container: Container,
    metrics: GatewayMetrics,
    assets: list[Asset],
    start: date | None,
    end: date | None,
    columns: list[str],
    many: bool = False,
) -> Response:
    """The series of ``assets`` (one body, or ``{"items": [...]}`` when ``many``), with an
    ETag from their prices revisions: a client holding it gets a 304 without a bars read."""
    gzip_ok = accepts_gzip(request)
    keys = [_key(a, start, end, columns) for a in assets]
    unchanged = _not_modified(request, many, keys, gzip_ok)
    if unchanged is not None:
        return unchanged
    pieces, keys = await _series_pieces(container, metrics, assets, keys)
    # A write may have moved an asset on while its bars were read: the ETag names what is sent.
    headers = {
        "ETag": etag_for("prices", many, keys, gzip_ok),
        "Cache-Control": REVALIDATE,
        "Vary": "Accept-Encoding",
    }
    body = items_body(pieces, gzip_ok) if many else single_body(pieces[0], gzip_ok)
    if body.gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body.content, media_type="application/json", headers=headers)


def _key(asset: Asset, start: date | None, end: date | None, columns: list[str]) -> SeriesKey:
    return SeriesKey(
        asset.id or 0,
        asset.prices_revision,
        asset.ticker,
        asset.currency.value,
        start,
        end,
        tuple(columns),
        asset.prices_source,
    )


def _not_modified(
    request: Request, many: bool, keys: list[SeriesKey], gzip_ok: bool
) -> Response | None:
    # The gzip and identity bodies differ: strong ETags must too.
    unchanged = not_modified(request, etag_for("prices", many, keys, gzip_ok), REVALIDATE)
    if unchanged is not None:
        unchanged.headers["Vary"] = "Accept-Encoding"
    return unchanged


# Reading again when a write lands in between: a few times, then the client retries.
CONSISTENT_READ_ATTEMPTS = 3


async def _series_pieces(
    container: Container,
    metrics: GatewayMetrics,
    assets: list[Asset],
    keys: list[SeriesKey],
) -> tuple[list[Piece], list[SeriesKey]]:
    """Each asset's encoded series, from the cache or read (one query for all the misses),
    and the keys they were built at.

    A series read from the store is used only when the asset's revision is the same after
    the bars were read as before: then no write landed in between, so the bars are exactly
    that revision's and the source in the body is theirs (a provider change replaces a whole
    history; the label must never name the other provider's bars). Otherwise the asset is
    read again at its new revision."""
    cache = container.price_cache
    assets, keys = list(assets), list(keys)
    found = [cache.get(k) for k in keys]
    misses = [i for i, piece in enumerate(found) if piece is None]
    metrics.price_series.labels("cache").inc(len(found) - len(misses))
    for _ in range(CONSISTENT_READ_ATTEMPTS):
        if not misses:
            return [piece for piece in found if piece is not None], keys
        metrics.price_series.labels("read").inc(len(misses))
        start, end, columns = keys[0].start, keys[0].end, list(keys[0].fields)
        frames = await _read_bars(container, [keys[i].asset_id for i in misses], start, end)
        current = await _assets_now(container, [keys[i].asset_id for i in misses])
        moved = []
        for i, frame in zip(misses, frames, strict=True):
            now = current.get(keys[i].asset_id)
            if now is None:  # assets are never deleted; kept for a store that would
                raise NotFound(f"asset {keys[i].asset_id} does not exist")
            if now.prices_revision != keys[i].prices_revision:
                assets[i], keys[i] = now, _key(now, start, end, columns)
                moved.append(i)
                continue
            found[i] = piece = Piece.of(dump_json(bars_out(assets[i], frame, columns)))
            cache.put(keys[i], piece)
        misses = moved
    raise StorageUnavailable("prices kept changing while they were read; retry")


async def _assets_now(container: Container, ids: list[int]) -> dict[int, Asset]:
    """The assets as stored now (their revisions), one round trip."""
    if len(ids) == 1:
        asset = await container.repositories.assets.get(ids[0])
        return {ids[0]: asset} if asset is not None else {}
    found = await container.repositories.assets.find(list(ids))
    return {ref: a for ref, a in found.items() if isinstance(ref, int)}


async def _read_bars(
    container: Container, ids: list[int], start: date | None, end: date | None
) -> list[pd.DataFrame]:
    """Bars of each asset, in ``ids`` order (the SQL adapter reads several in one query)."""
    if len(ids) == 1:
        return [await container.repositories.prices.read(ids[0], start, end)]
    by_id = await container.repositories.prices.read_many(ids, start, end)
    return [by_id[i] for i in ids]
