"""AssetRepository contract, over every implementation."""

from __future__ import annotations

from domain.model import AssetQuery, AssetType, Market
from domain.ports import Repositories
from tests.integration.repositories.conftest import make_asset


async def test_upserting_assets_twice_keeps_their_ids_and_updates_fields(
    repos: Repositories,
) -> None:
    first = await repos.assets.upsert_many([make_asset("AAPL"), make_asset("MSFT")])
    again = await repos.assets.upsert_many([make_asset("AAPL", name="Apple Inc.")])

    assert again[0].id == first[0].id
    stored = await repos.assets.get(first[0].id or 0)
    assert stored is not None and stored.name == "Apple Inc."
    assert len((await repos.assets.list(AssetQuery())).items) == 2


async def test_same_ticker_in_two_markets_is_two_assets(repos: Repositories) -> None:
    us, kr = await repos.assets.upsert_many(
        [make_asset("DUAL", Market.US), make_asset("DUAL", Market.KR)]
    )
    assert us.id != kr.id


async def test_find_resolves_ids_and_tickers_case_insensitively(repos: Repositories) -> None:
    spy, ief = await repos.assets.upsert_many([make_asset("SPY"), make_asset("IEF")])

    found = await repos.assets.find(["spy", ief.id or 0, "NOPE", 999_999])

    assert found == {"spy": spy, ief.id: ief}


async def test_ticker_listed_in_both_markets_resolves_to_neither(repos: Repositories) -> None:
    await repos.assets.upsert_many([make_asset("AMB", Market.US), make_asset("AMB", Market.KR)])
    assert await repos.assets.find(["AMB"]) == {}


async def test_asset_list_pages_in_id_order_and_filters(repos: Repositories) -> None:
    stored = await repos.assets.upsert_many(
        [make_asset(f"P{i}", asset_type=AssetType.ETF) for i in range(5)]
        + [make_asset("KRX", Market.KR)]
    )
    seen = []
    cursor = None
    while True:
        page = await repos.assets.list(AssetQuery(market=Market.US, limit=2, cursor=cursor))
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert [a.id for a in seen] == sorted(a.id or 0 for a in stored[:5])
    text_hits = await repos.assets.list(AssetQuery(text="krx"))
    assert [a.ticker for a in text_hits.items] == ["KRX"]


async def test_by_market_lists_active_assets_sorted_by_ticker(repos: Repositories) -> None:
    await repos.assets.upsert_many(
        [make_asset("ZZZ"), make_asset("AAA"), make_asset("OLD", active=False)]
    )
    listed = await repos.assets.by_market(Market.US)
    assert [a.ticker for a in listed] == ["AAA", "ZZZ"]
    only = await repos.assets.by_market(Market.US, ["zzz"])
    assert [a.ticker for a in only] == ["ZZZ"]
