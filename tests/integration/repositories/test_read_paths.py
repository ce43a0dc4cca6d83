"""The gateway's hot reads (asset list and find, job by id), over every implementation: the
PostgreSQL adapter answers them on asyncpg directly, and must agree with the others."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.model import AssetQuery, AssetType, JobStatus, Market
from domain.pagination import encode_cursor
from domain.ports import Repositories
from tests.integration.repositories.conftest import T0, make_asset, make_job


async def test_text_search_takes_wildcards_literally_and_matches_names(
    repos: Repositories,
) -> None:
    await repos.assets.upsert_many(
        [
            make_asset("PCT", name="100% Equity"),
            make_asset("PLAIN", name="1000 Equity"),
            make_asset("UND", name="A_B Fund"),
            make_asset("AXB", name="AXB Fund"),
            make_asset("SLASH", name="A/B Fund"),
        ]
    )

    async def tickers(text: str) -> list[str]:
        return [a.ticker for a in (await repos.assets.list(AssetQuery(text=text))).items]

    assert await tickers("0% eq") == ["PCT"]
    assert await tickers("a_b") == ["UND"]
    assert await tickers("a/b") == ["SLASH"]
    assert await tickers("axb") == ["AXB"]  # by ticker and name, case-insensitively


async def test_list_filters_by_type_and_market_and_pages_by_id(repos: Repositories) -> None:
    stored = await repos.assets.upsert_many(
        [
            make_asset(asset_type=AssetType.ETF),
            make_asset(asset_type=AssetType.STOCK),
            make_asset(asset_type=AssetType.ETF),
            make_asset(market=Market.KR, asset_type=AssetType.ETF),
        ]
    )
    query = AssetQuery(market=Market.US, asset_type=AssetType.ETF, limit=1)

    first = await repos.assets.list(query)
    assert first.next_cursor is not None
    second = await repos.assets.list(
        AssetQuery(market=Market.US, asset_type=AssetType.ETF, limit=1, cursor=first.next_cursor)
    )

    assert [a.id for a in first.items + second.items] == [stored[0].id, stored[2].id]
    assert second.next_cursor is None


async def test_cursors_beyond_the_key_range_mean_before_or_after_every_asset(
    repos: Repositories,
) -> None:
    stored = await repos.assets.upsert_many([make_asset(), make_asset()])

    after_all = await repos.assets.list(AssetQuery(cursor=encode_cursor(2**40)))
    before_all = await repos.assets.list(AssetQuery(cursor=encode_cursor(-(2**40))))

    assert after_all.items == [] and after_all.next_cursor is None
    assert [a.id for a in before_all.items] == [a.id for a in stored]


async def test_find_mixes_ids_and_tickers_and_ignores_ids_no_store_can_hold(
    repos: Repositories,
) -> None:
    one, two = await repos.assets.upsert_many([make_asset(), make_asset()])
    assert one.id is not None

    found = await repos.assets.find([one.id, two.ticker.lower(), 2**40, -(2**40)])

    assert found == {one.id: one, two.ticker.lower(): two}


async def test_a_job_with_every_field_set_round_trips_through_get(repos: Repositories) -> None:
    later = T0 + timedelta(minutes=5)
    job = make_job(
        status=JobStatus.RUNNING,
        spec={"strategy": {"type": "gem", "params": {"lookback": 12}}, "universe": ["SPY"]},
        idempotency_key=f"k-{uuid.uuid4()}",
        request_hash="h" * 64,
        owner="owner-1",
    )
    await repos.jobs.add(job)
    claimed = await repos.jobs.save(job.claim(later, stale_after_s=0))  # a stale running job

    got = await repos.jobs.get(job.id)

    assert got == claimed
    assert got is not None and type(got.id) is uuid.UUID
    assert (got.attempts, got.started_at, got.heartbeat_at) == (1, later, later)
    assert got.version == claimed.version == 1
    for stamp in (got.created_at, got.updated_at, got.started_at, got.heartbeat_at):
        assert isinstance(stamp, datetime) and stamp.utcoffset() == timedelta(0)
        assert stamp.tzinfo == UTC
