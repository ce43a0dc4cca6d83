"""``Asset.prices_revision`` contract, over every implementation: each price write bumps the
written assets' revision (and only theirs), and every read path of an asset reports it."""

from __future__ import annotations

from domain.model import AssetQuery
from domain.ports import Repositories
from tests.integration.repositories.conftest import make_asset, make_bars


async def _revisions(repos: Repositories, ids: list[int]) -> dict[int, int]:
    found = await repos.assets.find(list(ids))
    return {i: found[i].prices_revision for i in ids}


async def test_a_new_asset_starts_at_revision_zero(repos: Repositories) -> None:
    (asset,) = await repos.assets.upsert_many([make_asset()])
    assert asset.id is not None

    stored = await repos.assets.get(asset.id)

    assert stored is not None
    assert stored.prices_revision == 0


async def test_every_price_write_bumps_the_written_assets_revision(repos: Repositories) -> None:
    a, b, untouched = await repos.assets.upsert_many([make_asset(), make_asset(), make_asset()])
    assert a.id is not None and b.id is not None and untouched.id is not None

    await repos.prices.upsert(a.id, make_bars(5))
    assert await _revisions(repos, [a.id, b.id, untouched.id]) == {
        a.id: 1,
        b.id: 0,
        untouched.id: 0,
    }

    await repos.prices.upsert_many({a.id: make_bars(6), b.id: make_bars(3)})
    await repos.prices.replace(b.id, make_bars(2, base=50.0))

    assert await _revisions(repos, [a.id, b.id, untouched.id]) == {
        a.id: 2,
        b.id: 2,
        untouched.id: 0,
    }


async def test_every_asset_read_reports_the_revision(repos: Repositories) -> None:
    (asset,) = await repos.assets.upsert_many([make_asset()])
    assert asset.id is not None
    await repos.prices.upsert(asset.id, make_bars(3))

    got = await repos.assets.get(asset.id)
    found = await repos.assets.find([asset.id, asset.ticker])
    listed = await repos.assets.list(AssetQuery(text=asset.ticker, limit=10))
    by_market = await repos.assets.by_market(asset.market, [asset.ticker])

    assert got is not None and got.prices_revision == 1
    assert [found[asset.id].prices_revision, found[asset.ticker].prices_revision] == [1, 1]
    assert [a.prices_revision for a in listed.items] == [1]
    assert [a.prices_revision for a in by_market] == [1]


async def test_updating_an_asset_keeps_its_revision(repos: Repositories) -> None:
    (asset,) = await repos.assets.upsert_many([make_asset()])
    assert asset.id is not None
    await repos.prices.upsert(asset.id, make_bars(3))

    (renamed,) = await repos.assets.upsert_many([make_asset(asset.ticker, name="Renamed")])
    stored = await repos.assets.get(asset.id)

    assert renamed.prices_revision == 1
    assert stored is not None and (stored.name, stored.prices_revision) == ("Renamed", 1)
