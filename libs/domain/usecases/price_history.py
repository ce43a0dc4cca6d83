"""Daily bars of one or several assets, read consistently and cached per price revision.

Business rules (they double as the API's documentation):

- ``start`` must not be after ``end``; ``fields`` selects columns, always in the order of
  ``PRICE_FIELDS`` (none means all of them).
- A series is a pure function of the asset's stored bars and their source, which change only
  with its ``prices_revision`` (bumped by every price write in the writing transaction), and
  of the range and fields asked for. So a series is identified by its ``SeriesKey``: clients
  holding the series at the current keys (a conditional request) get no bars read, and a
  rendered series is cached under its key, where no write can ever make it stale.
- A series read from the store is used only when the asset's revision is the same after its
  bars were read as before: then no write landed in between, so the bars are exactly that
  revision's and the source named with them is theirs (a provider change replaces a whole
  history; the label must never name the other provider's bars). Otherwise the asset is read
  again at its new revision, up to ``CONSISTENT_READ_ATTEMPTS`` times, then StorageUnavailable.
- Several assets are read in one query for all the cache misses, at most ``max_assets`` per
  request (repeated ids count once); every id must name a stored asset (NotFound names the
  missing ones).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, Protocol, TypeVar

import pandas as pd

from domain.errors import InvalidRequest, NotFound, StorageUnavailable
from domain.model import PRICE_FIELDS, Asset
from domain.ports import AssetRepository, PriceRepository
from domain.usecases.assets import get_asset
from domain.usecases.reads import CONSISTENT_READ_ATTEMPTS, check_date_range

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """What determines one asset's rendered series. ``ticker`` and ``currency`` are part of
    the series and may change without a price write."""

    asset_id: int
    prices_revision: int
    ticker: str
    currency: str
    start: date | None
    end: date | None
    fields: tuple[str, ...]
    # Changes only with the revision; in the key because it is named with the bars.
    prices_source: str | None = None

    @classmethod
    def of(
        cls, asset: Asset, start: date | None, end: date | None, fields: tuple[str, ...]
    ) -> SeriesKey:
        return cls(
            asset.id or 0,
            asset.prices_revision,
            asset.ticker,
            asset.currency.value,
            start,
            end,
            fields,
            asset.prices_source,
        )


class SeriesRenderer(Protocol[T_co]):
    """Turns an asset's bars (the ``fields`` columns, in that order) into what is sent and
    cached: the rendering is the caller's (JSON for the gateway); pure, so it can be cached."""

    def __call__(self, asset: Asset, bars: pd.DataFrame, fields: tuple[str, ...], /) -> T_co: ...


class SeriesCache(Protocol[T]):
    """Rendered series by key. May forget any entry at any time (bounded); never needs to
    invalidate one, since a write moves the asset to a new key."""

    def get(self, key: SeriesKey) -> T | None: ...

    def put(self, key: SeriesKey, series: T) -> None: ...


class NoSeriesCache(Generic[T]):
    """A cache that keeps nothing: every request reads the store."""

    def get(self, key: SeriesKey) -> T | None:
        return None

    def put(self, key: SeriesKey, series: T) -> None:
        return None


HeldCheck = Callable[[Sequence[SeriesKey]], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceHistoryRequest:
    asset_id: int
    start: date | None = None
    end: date | None = None
    fields: tuple[str, ...] = ()  # empty: every price field
    # True when the caller already holds the series at these keys: then nothing is read.
    already_held: HeldCheck | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PricesRequest:
    asset_ids: tuple[int, ...]
    start: date | None = None
    end: date | None = None
    fields: tuple[str, ...] = ()  # empty: every price field
    already_held: HeldCheck | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSeries(Generic[T]):
    """The rendered series, one per asset in request order, and the keys they were built at
    (a write may have moved an asset on while its bars were read: the keys name what is sent).
    ``series`` is None when the caller already held them (``already_held``)."""

    keys: tuple[SeriesKey, ...]
    series: tuple[T, ...] | None
    from_cache: int = 0
    read: int = 0  # series read from the store, every attempt counted


def price_columns(fields: Sequence[str]) -> tuple[str, ...]:
    """The requested price fields in ``PRICE_FIELDS`` order; none means all."""
    wanted = set(fields or PRICE_FIELDS)
    return tuple(f for f in PRICE_FIELDS if f in wanted)


class GetPriceHistory(Generic[T]):
    """One asset's daily bars, rendered by ``render`` and cached in ``cache``."""

    def __init__(
        self,
        *,
        assets: AssetRepository,
        prices: PriceRepository,
        render: SeriesRenderer[T],
        cache: SeriesCache[T] | None = None,
    ) -> None:
        self._assets = assets
        self._reader = _ConsistentSeriesReader(assets, prices, render, _or_no_cache(cache))

    async def __call__(self, request: PriceHistoryRequest) -> PriceSeries[T]:
        check_date_range(request.start, request.end)
        # The asset (and its prices revision) first, the bars after: see the module rules.
        asset = await get_asset(self._assets, request.asset_id)
        return await self._reader.read(
            [asset], request.start, request.end, price_columns(request.fields), request.already_held
        )


class GetPrices(Generic[T]):
    """Several assets' daily bars at once, rendered by ``render`` and cached in ``cache``."""

    def __init__(
        self,
        *,
        assets: AssetRepository,
        prices: PriceRepository,
        render: SeriesRenderer[T],
        cache: SeriesCache[T] | None = None,
        max_assets: int = 50,
    ) -> None:
        self._assets = assets
        self._max_assets = max_assets
        self._reader = _ConsistentSeriesReader(assets, prices, render, _or_no_cache(cache))

    async def __call__(self, request: PricesRequest) -> PriceSeries[T]:
        check_date_range(request.start, request.end)
        ids = list(dict.fromkeys(request.asset_ids))
        if len(ids) > self._max_assets:
            raise InvalidRequest(
                "too many assets",
                [
                    {
                        "field": "asset_id",
                        "message": f"at most {self._max_assets} assets per request",
                    }
                ],
            )
        found = await self._assets.find(list(ids))
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"assets {missing} do not exist")
        return await self._reader.read(
            [found[i] for i in ids],
            request.start,
            request.end,
            price_columns(request.fields),
            request.already_held,
        )


@dataclass(slots=True)
class _ConsistentSeriesReader(Generic[T]):
    assets: AssetRepository
    prices: PriceRepository
    render: SeriesRenderer[T]
    cache: SeriesCache[T] = field(default_factory=NoSeriesCache)

    async def read(
        self,
        assets: list[Asset],
        start: date | None,
        end: date | None,
        columns: tuple[str, ...],
        already_held: HeldCheck | None,
    ) -> PriceSeries[T]:
        """Each asset's rendered series, from the cache or read (one query for all the
        misses), and the keys they were built at."""
        keys = [SeriesKey.of(a, start, end, columns) for a in assets]
        if already_held is not None and already_held(keys):
            return PriceSeries(keys=tuple(keys), series=None)
        found = [self.cache.get(k) for k in keys]
        misses = [i for i, series in enumerate(found) if series is None]
        from_cache, read = len(found) - len(misses), 0
        for _ in range(CONSISTENT_READ_ATTEMPTS):
            if not misses:
                series = tuple(s for s in found if s is not None)
                return PriceSeries(
                    keys=tuple(keys), series=series, from_cache=from_cache, read=read
                )
            read += len(misses)
            frames = await self._bars([keys[i].asset_id for i in misses], start, end)
            current = await self._assets_now([keys[i].asset_id for i in misses])
            moved = []
            for i, frame in zip(misses, frames, strict=True):
                now = current.get(keys[i].asset_id)
                if now is None:  # assets are never deleted; kept for a store that would
                    raise NotFound(f"asset {keys[i].asset_id} does not exist")
                if now.prices_revision != keys[i].prices_revision:
                    assets[i], keys[i] = now, SeriesKey.of(now, start, end, columns)
                    moved.append(i)
                    continue
                found[i] = rendered = self.render(assets[i], frame, columns)
                self.cache.put(keys[i], rendered)
            misses = moved
        raise StorageUnavailable("prices kept changing while they were read; retry")

    async def _assets_now(self, ids: list[int]) -> dict[int, Asset]:
        """The assets as stored now (their revisions), one round trip."""
        if len(ids) == 1:
            asset = await self.assets.get(ids[0])
            return {ids[0]: asset} if asset is not None else {}
        found = await self.assets.find(list(ids))
        return {ref: a for ref, a in found.items() if isinstance(ref, int)}

    async def _bars(
        self, ids: list[int], start: date | None, end: date | None
    ) -> list[pd.DataFrame]:
        """Bars of each asset, in ``ids`` order (the SQL adapter reads several in one query)."""
        if len(ids) == 1:
            return [await self.prices.read(ids[0], start, end)]
        by_id = await self.prices.read_many(ids, start, end)
        return [by_id[i] for i in ids]


def _or_no_cache(cache: SeriesCache[T] | None) -> SeriesCache[T]:
    # ``is None``, not truthiness: an empty sized cache is falsy.
    return NoSeriesCache() if cache is None else cache
