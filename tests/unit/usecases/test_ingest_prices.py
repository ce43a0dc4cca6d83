"""IngestPrices on in-memory fakes: incremental, restatement-safe, idempotent, honest."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pandas as pd
import pytest

from adapters.clock import ManualClock
from adapters.memory import build_memory_repositories
from adapters.memory.providers import InMemoryMarketDataProvider
from adapters.memory.queue import InMemoryMessageQueue
from domain.messages import UpdatePrices, parse_message
from domain.model import Exchange, Market, RunStatus, RunTrigger
from domain.usecases.ingest_prices import IngestOptions, IngestPrices
from tests.unit.usecases.factories import bars, business_days, kr_asset, us_asset


@pytest.fixture
def world():
    class World:
        repos = build_memory_repositories()
        provider = InMemoryMarketDataProvider()
        queue = InMemoryMessageQueue("ingest")
        clock = ManualClock()

        def ingest(self, **options: object) -> IngestPrices:
            return IngestPrices(
                repositories=self.repos,
                provider=self.provider,
                queue=self.queue,
                clock=self.clock,
                options=IngestOptions(**options),
            )  # type: ignore[arg-type]

    return World()


async def run(world, command: UpdatePrices, **options: object):
    return await world.ingest(**options)(command, run_id=uuid.uuid4())


async def seed(world, *assets):
    return await world.repos.assets.upsert_many(list(assets))


async def test_new_asset_gets_its_full_history(world):
    [spy] = await seed(world, us_asset("SPY"))
    world.provider.histories["SPY"] = bars(business_days("2020-01-01", "2020-06-30"))

    result = await run(world, UpdatePrices(market=Market.US))

    assert result.status is RunStatus.SUCCEEDED
    assert result.counts["rows_written"] == len(world.provider.histories["SPY"])
    assert await world.repos.prices.count(spy.id) == len(world.provider.histories["SPY"])
    assert world.provider.calls[0][1] is None  # no start: the whole history


async def test_rerun_fetches_only_the_overlap_and_writes_nothing(world):
    [spy] = await seed(world, us_asset("SPY"))
    world.provider.histories["SPY"] = bars(business_days("2020-01-01", "2020-06-30"))
    await run(world, UpdatePrices(market=Market.US))
    before = await world.repos.prices.read(spy.id)

    again = await run(world, UpdatePrices(market=Market.US), overlap_days=7)

    assert again.counts["rows_written"] == 0
    assert again.counts["assets_unchanged"] == 1
    assert world.provider.calls[-1][1] == date(2020, 6, 30) - pd.Timedelta(days=7)
    pd.testing.assert_frame_equal(await world.repos.prices.read(spy.id), before)


async def test_new_sessions_are_appended_without_touching_history(world):
    [spy] = await seed(world, us_asset("SPY"))
    full = bars(business_days("2020-01-01", "2020-07-31"))
    world.provider.histories["SPY"] = full[full["date"] <= date(2020, 6, 30)]
    await run(world, UpdatePrices(market=Market.US))
    world.provider.histories["SPY"] = full

    result = await run(world, UpdatePrices(market=Market.US))

    july = int((full["date"] > date(2020, 6, 30)).sum())
    assert result.counts["rows_written"] == july
    assert await world.repos.prices.count(spy.id) == len(full)


async def test_a_split_since_the_last_run_replaces_the_whole_history(world):
    [aapl] = await seed(world, us_asset("AAPL", asset_type="stock", exchange=Exchange.NASDAQ))
    days = business_days("2020-06-01", "2020-09-30")
    before_split = bars(days[:62])
    world.provider.histories["AAPL"] = before_split
    await run(world, UpdatePrices(market=Market.US))
    # The vendor now reports the 4:1 split: every earlier adjusted close is divided by 4.
    after = bars(days)
    after.loc[:61, ["open", "high", "low", "close", "adj_close"]] = (
        before_split[["open", "high", "low", "close", "adj_close"]].to_numpy() / 4
    )
    world.provider.histories["AAPL"] = after

    result = await run(world, UpdatePrices(market=Market.US))

    assert result.counts["assets_restated"] == 1
    stored = await world.repos.prices.read(aapl.id)
    assert stored["adj_close"].to_numpy() == pytest.approx(after["adj_close"].to_numpy())
    assert any(issue["kind"] == "restated" for issue in result.issues)


async def test_per_asset_failures_are_recorded_and_the_rest_is_written(world):
    spy, _ = await seed(world, us_asset("SPY"), us_asset("GONE"))
    world.provider.histories["SPY"] = bars(business_days("2020-01-01", "2020-02-28"))
    world.provider.failures["GONE"] = "No data found, symbol may be delisted"

    result = await run(world, UpdatePrices(market=Market.US))

    assert result.status is RunStatus.PARTIAL
    assert result.counts["assets_failed"] == 1 and result.counts["assets_ok"] == 1
    assert result.failures == [
        {"subject": "GONE", "reason": "No data found, symbol may be delisted"}
    ]
    assert await world.repos.prices.count(spy.id) > 0


async def test_unknown_tickers_in_a_command_are_reported(world):
    await seed(world, us_asset("SPY"))
    world.provider.histories["SPY"] = bars(business_days("2020-01-01", "2020-01-31"))

    result = await run(world, UpdatePrices(market=Market.US, tickers=["SPY", "NOPE"]))

    assert {"subject": "NOPE", "reason": "unknown US ticker"} in result.failures
    assert result.status is RunStatus.PARTIAL


async def test_dry_run_checks_everything_and_writes_no_prices(world):
    [spy] = await seed(world, us_asset("SPY"))
    world.provider.histories["SPY"] = bars(business_days("2020-01-01", "2020-03-31"))

    result = await run(world, UpdatePrices(market=Market.US, dry_run=True))

    assert result.dry_run and result.counts["rows_written"] == len(world.provider.histories["SPY"])
    assert await world.repos.prices.count(spy.id) == 0


async def test_kosdaq_listings_are_fetched_with_the_kosdaq_suffix(world):
    await seed(world, kr_asset("247540", Exchange.KOSDAQ), kr_asset("005930"))
    world.provider.histories["247540.KQ"] = bars(business_days("2021-01-01", "2021-02-26"))
    world.provider.histories["005930.KS"] = bars(business_days("2021-01-01", "2021-02-26"))

    result = await run(world, UpdatePrices(market=Market.KR))

    assert result.counts["assets_ok"] == 2
    assert sorted(world.provider.calls[0][0]) == ["005930.KS", "247540.KQ"]


async def test_a_large_market_fans_out_and_the_parent_aggregates_its_children(world):
    tickers = [f"T{i}" for i in range(5)]
    await seed(world, *(us_asset(t) for t in tickers))
    for index, ticker in enumerate(tickers):
        world.provider.histories[ticker] = bars(
            business_days("2020-01-01", "2020-01-31"), seed=index
        )
    parent_id = uuid.uuid4()

    parent = await world.ingest(batch_size=2)(UpdatePrices(market=Market.US), run_id=parent_id)

    assert parent.status is RunStatus.RUNNING and parent.counts["children"] == 3
    messages = await world.queue.receive(10, 0, 30)
    children = [parse_message(m.body) for m in messages]
    assert sorted(t for c in children for t in c.tickers) == tickers
    assert all(c.parent_run_id == parent_id and c.trigger is RunTrigger.CHILD for c in children)
    for child in children:
        await world.ingest(batch_size=2)(child, run_id=uuid.uuid4())
    final = await world.repos.runs.get(parent_id)
    assert final.status is RunStatus.SUCCEEDED
    assert final.counts["assets_ok"] == 5
    assert json.loads(messages[0].body)["type"] == "update_prices"


async def test_quality_issues_are_recorded_and_the_bars_kept_as_sent(world):
    [kq] = await seed(world, kr_asset("086520", Exchange.KOSDAQ))
    history = bars(business_days("2021-03-01", "2021-03-31"))
    history.loc[5, ["open", "high", "low"]] = 0.0  # a halt the vendor zero-filled
    world.provider.histories["086520.KQ"] = history

    result = await run(world, UpdatePrices(market=Market.KR))

    halts = [(i["ticker"], i["date"]) for i in result.issues if i["kind"] == "zero_filled_halt"]
    assert halts == [("086520", str(history["date"][5]))]
    stored = await world.repos.prices.read(kq.id)
    assert stored.loc[5, "open"] == 0.0 and len(stored) == len(history)


async def test_the_run_and_the_stored_prices_name_the_provider_that_served_them(world):
    [spy] = await seed(world, us_asset("SPY"))
    world.provider.histories["SPY"] = bars(business_days("2020-01-01", "2020-03-31"))

    result = await run(world, UpdatePrices(market=Market.US))

    assert result.source == "memory"
    stored_run = await world.repos.runs.get(result.id)
    assert stored_run is not None and stored_run.source == "memory"
    stored = await world.repos.assets.get(spy.id)
    assert stored is not None and stored.prices_source == "memory"


async def test_prices_from_another_provider_are_replaced_whole_never_mixed(world):
    [spy] = await seed(world, us_asset("SPY"))
    # Synthetic sample bars from an earlier stack, reaching further back than the new vendor.
    sample = bars(business_days("2019-01-01", "2020-06-30"), start_price=50.0, seed=7)
    await world.repos.prices.replace(spy.id, sample, "sample")
    vendor = bars(business_days("2020-01-01", "2020-06-30"))
    world.provider.histories["SPY"] = vendor
    world.provider.name = "yfinance"

    result = await run(world, UpdatePrices(market=Market.US))

    stored = await world.repos.prices.read(spy.id)
    assert stored["date"].tolist() == vendor["date"].tolist()
    assert stored["adj_close"].to_numpy() == pytest.approx(vendor["adj_close"].to_numpy())
    after = await world.repos.assets.get(spy.id)
    assert after is not None and after.prices_source == "yfinance"
    assert world.provider.calls[-1][1] is None  # the whole history, not the overlap
    [issue] = [i for i in result.issues if i["kind"] == "source_changed"]
    assert issue["ticker"] == "SPY" and "sample" in issue["detail"]


async def test_prices_of_an_unrecorded_provider_are_replaced_once_then_updated_incrementally(
    world,
):
    [spy] = await seed(world, us_asset("SPY"))
    history = bars(business_days("2020-01-01", "2020-06-30"))
    await world.repos.prices.upsert(spy.id, history)  # written before sources were recorded
    world.provider.histories["SPY"] = history

    first = await run(world, UpdatePrices(market=Market.US))
    second = await run(world, UpdatePrices(market=Market.US), overlap_days=7)

    assert [i["kind"] for i in first.issues] == ["source_changed"]
    assert second.issues == [] and second.counts["assets_unchanged"] == 1
    assert world.provider.calls[-1][1] == date(2020, 6, 30) - pd.Timedelta(days=7)
    stored = await world.repos.assets.get(spy.id)
    assert stored is not None and stored.prices_source == "memory"


async def test_a_dry_run_over_another_providers_prices_changes_nothing(world):
    [spy] = await seed(world, us_asset("SPY"))
    sample = bars(business_days("2020-01-01", "2020-06-30"), seed=7)
    await world.repos.prices.replace(spy.id, sample, "sample")
    world.provider.histories["SPY"] = bars(business_days("2020-01-01", "2020-06-30"))

    result = await run(world, UpdatePrices(market=Market.US, dry_run=True))

    assert [i["kind"] for i in result.issues] == ["source_changed"]
    stored = await world.repos.assets.get(spy.id)
    assert stored is not None and stored.prices_source == "sample"
    pd.testing.assert_frame_equal(await world.repos.prices.read(spy.id), sample)
