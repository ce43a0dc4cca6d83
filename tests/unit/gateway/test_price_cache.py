"""Price responses from the per-revision series cache: never stale, ETag/304 from the
revisions, gzip bodies assembled from cached pieces that decode to the exact JSON, and the
hand-written series encoder equal to its model. Also the chart cache's LRU."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Any

import orjson
import pandas as pd
import pytest

from domain.model import PRICE_FIELDS, Asset, AssetType, Currency, Exchange, Market
from domain.usecases.price_history import SeriesKey
from gateway.charts import ChartCache
from gateway.container import GatewayOptions
from gateway.schemas import (
    AssetOut,
    ListOf,
    PriceSeriesOut,
    encode_asset_page,
    encode_model,
    encode_price_series,
)
from gateway.series_cache import EncodedSeriesCache, Piece, items_body, single_body
from tests.unit.gateway.conftest import Stack
from tests.unit.gateway.seed import bars

GZIP = {"Accept-Encoding": "gzip"}
MakeStack = Callable[[GatewayOptions], AbstractAsyncContextManager[Stack]]


def restated(seed: int, factor: float) -> pd.DataFrame:
    frame = bars(seed)
    for name in PRICE_FIELDS:
        if name != "volume":
            frame[name] = frame[name] * factor
    return frame


def count_reads(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every bars read the routes make (single and multi-asset)."""
    calls: list[str] = []
    prices = stack.repos.prices
    read, read_many = prices.read, prices.read_many

    async def counting_read(*args: Any, **kwargs: Any) -> pd.DataFrame:
        calls.append("read")
        return await read(*args, **kwargs)

    async def counting_read_many(*args: Any, **kwargs: Any) -> dict[int, pd.DataFrame]:
        calls.append("read_many")
        return await read_many(*args, **kwargs)

    monkeypatch.setattr(prices, "read", counting_read)
    monkeypatch.setattr(prices, "read_many", counting_read_many)
    return calls


# --- assembly ---------------------------------------------------------------------------


def _pieces(n: int) -> list[Piece]:
    return [
        Piece.of(orjson.dumps({"asset_id": i, "bars": {"close": list(range(i * 500))}}))
        for i in range(1, n + 1)
    ]


def test_gzip_bodies_built_from_pieces_decode_to_the_json_of_the_whole() -> None:
    pieces = _pieces(3)
    whole = orjson.dumps({"items": [orjson.loads(p.raw) for p in pieces]})

    body = items_body(pieces, gzip_ok=True)

    assert body.gzipped
    assert gzip.decompress(body.content) == whole
    # One gzip member: decoders that stop after the first member (zlib, aiohttp) see it all.
    decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    assert decoder.decompress(body.content) == whole and decoder.eof and not decoder.unused_data
    single = single_body(pieces[1], gzip_ok=True)
    assert gzip.decompress(single.content) == pieces[1].raw


def test_identity_and_small_bodies_are_plain_json() -> None:
    pieces = _pieces(2)
    assert items_body(pieces, gzip_ok=False).content == b'{"items":[%s]}' % b",".join(
        p.raw for p in pieces
    )
    small = Piece.of(b'{"asset_id":1}')
    assert single_body(small, gzip_ok=True).content == small.raw
    assert not single_body(small, gzip_ok=True).gzipped


# --- the LRU ----------------------------------------------------------------------------


def _key(asset_id: int, revision: int = 0) -> SeriesKey:
    return SeriesKey(asset_id, revision, "T", "USD", None, None, ("close",))


def test_the_cache_evicts_least_recently_used_entries_beyond_its_byte_bound() -> None:
    piece = Piece.of(b"x" * 1000)
    cache = EncodedSeriesCache(max_bytes=piece.size * 2)
    cache.put(_key(1), piece)
    cache.put(_key(2), piece)
    assert cache.get(_key(1)) is piece  # 1 is now the most recently used

    cache.put(_key(3), piece)

    assert (cache.get(_key(1)), cache.get(_key(2)), cache.get(_key(3))) == (piece, None, piece)
    assert cache.size_bytes == piece.size * 2


def test_a_zero_bound_turns_the_cache_off_and_oversized_pieces_are_not_kept() -> None:
    off = EncodedSeriesCache(max_bytes=0)
    off.put(_key(1), Piece.of(b"{}"))
    assert not off.enabled and off.get(_key(1)) is None

    small = EncodedSeriesCache(max_bytes=10)
    small.put(_key(1), Piece.of(b"y" * 100))
    assert len(small) == 0 and small.size_bytes == 0


# --- through the gateway ----------------------------------------------------------------


async def test_repeated_price_reads_come_from_the_cache(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = count_reads(stack, monkeypatch)
    first = await stack.client.get("/v1/assets/1/prices", headers=GZIP)
    second = await stack.client.get("/v1/assets/1/prices", headers=GZIP)

    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers["content-encoding"] == "gzip"
    assert reads == ["read"]
    # The multi-asset route reuses the cached series and reads only the missing ones.
    many = await stack.client.get("/v1/prices", params={"asset_id": [1, 2]})
    assert many.status_code == 200
    assert [item["asset_id"] for item in many.json()["items"]] == [1, 2]
    assert many.json()["items"][0] == first.json()
    assert reads == ["read", "read"]
    metrics = (await stack.client.get("/metrics")).text
    assert 'gateway_price_series_total{source="cache"} 2.0' in metrics
    assert 'gateway_price_series_total{source="read"} 2.0' in metrics


async def test_a_price_write_is_visible_at_once_on_both_routes(stack: Stack) -> None:
    params = {"start": "2024-01-01", "fields": ["close"]}
    before = await stack.client.get("/v1/assets/2/prices", params=params, headers=GZIP)
    before_many = await stack.client.get("/v1/prices", params={**params, "asset_id": [1, 2]})

    await stack.repos.prices.upsert(2, restated(seed=1, factor=2.0))
    after = await stack.client.get("/v1/assets/2/prices", params=params, headers=GZIP)
    after_many = await stack.client.get("/v1/prices", params={**params, "asset_id": [1, 2]})

    old_close = before.json()["bars"]["close"]
    assert after.json()["bars"]["close"] == pytest.approx([2.0 * v for v in old_close])
    assert after_many.json()["items"][1] == after.json()
    assert after_many.json()["items"][0] == before_many.json()["items"][0]  # asset 1 unchanged
    assert after.headers["etag"] != before.headers["etag"]


async def test_if_none_match_answers_304_until_the_prices_change(stack: Stack) -> None:
    url = "/v1/assets/1/prices"
    first = await stack.client.get(url, headers=GZIP)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    assert "accept-encoding" in first.headers["vary"].lower()

    again = await stack.client.get(url, headers={**GZIP, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    identity = await stack.client.get(url, headers={"Accept-Encoding": "identity"})
    assert identity.headers["etag"] != etag  # another representation, another strong ETag

    await stack.repos.prices.upsert(1, restated(seed=0, factor=3.0))
    changed = await stack.client.get(url, headers={**GZIP, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_multi_asset_etag_covers_every_asset(stack: Stack) -> None:
    params = {"asset_id": [1, 3], "end": date(2020, 1, 1).isoformat()}
    first = await stack.client.get("/v1/prices", params=params)
    etag = first.headers["etag"]
    unchanged = await stack.client.get("/v1/prices", params=params, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304

    await stack.repos.prices.upsert(3, restated(seed=2, factor=0.5))
    changed = await stack.client.get("/v1/prices", params=params, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_with_the_cache_off_every_request_reads_the_store(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_stack(GatewayOptions(price_cache_bytes=0)) as stack:
        reads = count_reads(stack, monkeypatch)
        first = await stack.client.get("/v1/assets/1/prices", headers=GZIP)
        second = await stack.client.get("/v1/assets/1/prices", headers=GZIP)

    assert first.content == second.content
    assert reads == ["read", "read"]
    assert len(stack.container.price_cache) == 0


async def test_cached_and_uncached_bodies_are_identical(
    stack: Stack, make_stack: MakeStack
) -> None:
    url, params = "/v1/prices", {"asset_id": [3, 1, 2], "fields": ["adj_close", "volume"]}
    warm = await stack.client.get(url, params=params, headers=GZIP)
    hot = await stack.client.get(url, params=params, headers=GZIP)
    async with make_stack(GatewayOptions(price_cache_bytes=0)) as cold_stack:
        cold = await cold_stack.client.get(url, params=params, headers=GZIP)

    assert warm.json() == hot.json() == cold.json()
    assert [i["asset_id"] for i in hot.json()["items"]] == [3, 1, 2]
    assert hot.headers["content-encoding"] == "gzip"


# --- the hand-written encoder -----------------------------------------------------------


@pytest.mark.parametrize("source", [None, "sample", "someone"])
@pytest.mark.parametrize("fields", [PRICE_FIELDS, ("close", "volume"), ()])
def test_the_fast_series_encoder_writes_exactly_what_the_model_does(
    source: str | None, fields: tuple[str, ...]
) -> None:
    frame = bars(seed=3)
    frame.loc[2:4, "close"] = float("nan")
    frame.loc[6, "volume"] = float("inf")
    frame.loc[7, "low"] = -float("inf")
    asset = Asset(
        id=7,
        ticker="SPY",
        name="S",
        market=Market.US,
        exchange=Exchange.NYSEARCA,
        currency=Currency.USD,
        asset_type=AssetType.ETF,
        prices_source=source,
    )

    fast = encode_price_series(asset, frame, fields)

    assert fast == encode_model(PriceSeriesOut.of(asset, frame, fields), exclude_unset=True)
    assert orjson.loads(fast)["bars"].get("close", [0, 0, None])[2] is None


# --- the chart cache --------------------------------------------------------------------


def test_the_chart_cache_keeps_the_most_recently_used_charts_and_size_zero_keeps_none() -> None:
    charts = ChartCache(size=2)
    charts.put("a", b"<svg a>")
    charts.put("b", b"<svg b>")
    assert charts.get("a") == b"<svg a>"  # b is now the least recently used
    charts.put("c", b"<svg c>")
    assert (charts.get("a"), charts.get("b"), charts.get("c")) == (b"<svg a>", None, b"<svg c>")

    off = ChartCache(size=0)
    off.put("a", b"<svg a>")
    assert off.get("a") is None


@pytest.mark.parametrize("next_cursor", [None, "eyJ4IjoxfQ"])
def test_the_fast_asset_page_encoder_writes_exactly_what_the_model_does(
    next_cursor: str | None,
) -> None:
    assets = [
        Asset(
            id=i,
            ticker=ticker,
            name=name,
            market=market,
            exchange=exchange,
            currency=currency,
            asset_type=AssetType.STOCK,
            sector=sector,
            active=i % 2 == 0,
            prices_source=source,
        )
        for i, (ticker, name, market, exchange, currency, sector, source) in enumerate(
            [
                ("SPY", "SPDR S&P 500", Market.US, Exchange.NYSEARCA, Currency.USD, None, None),
                ("005930", "삼성전자", Market.KR, Exchange.KOSPI, Currency.KRW, "IT", "sample"),
                ("247540", "에코프로비엠", Market.KR, Exchange.KOSDAQ, Currency.KRW, None, "csv"),
                (
                    "NVDA",
                    'N "quoted" \\ name',
                    Market.US,
                    Exchange.NASDAQ,
                    Currency.USD,
                    "Tech",
                    "x",
                ),
            ],
            start=1,
        )
    ]

    fast = encode_asset_page(assets, next_cursor)

    model = ListOf[AssetOut](items=[AssetOut.of(a) for a in assets], next_cursor=next_cursor)
    assert fast == encode_model(model)
    assert orjson.loads(fast)["items"][2]["provider_symbol"] == "247540.KQ"
