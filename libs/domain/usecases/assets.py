"""The asset catalog: list (filtered, paginated) and look up one asset.

Business rules:

- Assets are listed by market, type and text in their ticker or name, a page at a time; the
  cursor of a page continues it.
- An asset id that names no stored asset is NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import NotFound
from domain.model import Asset, AssetQuery, AssetType, Market, Page
from domain.ports import AssetRepository


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAssetsRequest:
    market: Market | None = None
    asset_type: AssetType | None = None
    text: str | None = None  # in the ticker or the name; empty means no filter
    limit: int = 100
    cursor: str | None = None


class ListAssets:
    """One page of the asset catalog."""

    def __init__(self, *, assets: AssetRepository) -> None:
        self._assets = assets

    async def __call__(self, request: ListAssetsRequest) -> Page[Asset]:
        return await self._assets.list(
            AssetQuery(
                market=request.market,
                asset_type=request.asset_type,
                text=request.text or None,
                limit=request.limit,
                cursor=request.cursor,
            )
        )


class GetAsset:
    """One asset by id."""

    def __init__(self, *, assets: AssetRepository) -> None:
        self._assets = assets

    async def __call__(self, asset_id: int) -> Asset:
        return await get_asset(self._assets, asset_id)


async def get_asset(assets: AssetRepository, asset_id: int) -> Asset:
    """The stored asset ``asset_id``; NotFound when there is none."""
    asset = await assets.get(asset_id)
    if asset is None:
        raise NotFound(f"asset {asset_id} does not exist")
    return asset
