"""The read use cases over the in-memory fakes: consistent price reads, conditional reads,
request limits, macro transforms and run maintenance."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from adapters.clock import ManualClock
from adapters.memory import build_memory_repositories
from domain.errors import InvalidRequest, NotFound, StorageUnavailable
from domain.model import (
    Asset,
    IngestionRun,
    MacroFrequency,
    MacroSeries,
    RunStatus,
    RunTrigger,
)
from domain.ports import Repositories
from domain.usecases.macro import GetMacroObservations, MacroObservationsRequest
from domain.usecases.price_history import (
    GetPriceHistory,
    GetPrices,
    PriceHistoryRequest,
    PricesRequest,
    SeriesKey,
)
from domain.usecases.runs import ListRuns, ListRunsRequest, MaintainRuns
from tests.unit.usecases.factories import bars, business_days, us_asset

DAYS = business_days("2024-01-01", "2024-03-29")


def render(asset: Asset, frame: pd.DataFrame, fields: tuple[str, ...]) -> tuple[Any, ...]:
    """A rendering that shows which revision and source the bars were read at."""
    return (asset.id, asset.prices_revision, asset.prices_source, len(frame), fields)


class DictCache:
    def __init__(self) -> None:
        self.entries: dict[SeriesKey, tuple[Any, ...]] = {}

    def get(self, key: SeriesKey) -> tuple[Any, ...] | None:
        return self.entries.get(key)

    def put(self, key: SeriesKey, series: tuple[Any, ...]) -> None:
        self.entries[key] = series


async def stored(*tickers: str) -> tuple[Repositories, list[int]]:
    repos = build_memory_repositories()
    assets = await repos.assets.upsert_many([us_asset(t) for t in tickers])
    ids = [a.id for a in assets if a.id is not None]
    for seed, asset_id in enumerate(ids):
        await repos.prices.upsert(asset_id, bars(DAYS, seed=seed), source="sample")
    return repos, ids


def writes_during_reads(repos: Repositories, times: int) -> list[int]:
    """Make the next ``times`` bars reads each race a write of another provider."""
    races: list[int] = []
    read = repos.prices.read

    async def racing_read(asset_id: int, *args: Any, **kwargs: Any) -> pd.DataFrame:
        frame = await read(asset_id, *args, **kwargs)
        if len(races) < times:
            races.append(asset_id)
            await repos.prices.replace(asset_id, bars(DAYS, seed=99), source="csv")
        return frame

    repos.prices.read = racing_read  # type: ignore[method-assign]
    return races


async def test_a_write_landing_mid_read_is_read_again_at_the_new_revision() -> None:
    repos, [spy] = await stored("SPY")
    cache = DictCache()
    get = GetPriceHistory(assets=repos.assets, prices=repos.prices, render=render, cache=cache)
    races = writes_during_reads(repos, times=1)

    found = await get(PriceHistoryRequest(asset_id=spy, fields=("close", "open")))

    after = await repos.assets.get(spy)
    assert after is not None and races == [spy]
    [series] = found.series or ()
    assert series == (spy, after.prices_revision, "csv", len(DAYS), ("open", "close"))
    assert found.keys[0].prices_revision == after.prices_revision
    assert (found.read, found.from_cache) == (2, 0)
    assert list(cache.entries) == list(found.keys)  # only the consistent read is cached


async def test_prices_that_keep_changing_are_storage_unavailable() -> None:
    repos, [spy] = await stored("SPY")
    get = GetPriceHistory(assets=repos.assets, prices=repos.prices, render=render)
    writes_during_reads(repos, times=10)

    with pytest.raises(StorageUnavailable):
        await get(PriceHistoryRequest(asset_id=spy))


async def test_a_caller_holding_the_current_keys_gets_nothing_read() -> None:
    repos, [spy] = await stored("SPY")
    get = GetPriceHistory(assets=repos.assets, prices=repos.prices, render=render)
    first = await get(PriceHistoryRequest(asset_id=spy))
    held: list[Sequence[SeriesKey]] = []

    def already_held(keys: Sequence[SeriesKey]) -> bool:
        held.append(keys)
        return tuple(keys) == first.keys

    again = await get(PriceHistoryRequest(asset_id=spy, already_held=already_held))

    assert again.series is None and again.keys == first.keys and again.read == 0
    await repos.prices.upsert(spy, bars(DAYS, seed=5))
    moved = await get(PriceHistoryRequest(asset_id=spy, already_held=already_held))
    assert moved.series is not None and moved.keys != first.keys


async def test_several_assets_come_in_request_order_from_cache_and_one_read() -> None:
    repos, [spy, efa, ief] = await stored("SPY", "EFA", "IEF")
    cache = DictCache()
    get = GetPrices(assets=repos.assets, prices=repos.prices, render=render, cache=cache)
    await get(PricesRequest(asset_ids=(efa,)))

    found = await get(PricesRequest(asset_ids=(ief, efa, spy, ief), end=date(2024, 2, 1)))
    found_again = await get(PricesRequest(asset_ids=(ief, efa, spy), end=date(2024, 2, 1)))

    assert [s[0] for s in found.series or ()] == [ief, efa, spy]
    assert (found.from_cache, found.read) == (0, 3)  # another range: another key
    assert (found_again.from_cache, found_again.read) == (3, 0)


async def test_price_requests_are_checked_before_anything_is_read() -> None:
    repos, [spy, efa] = await stored("SPY", "EFA")
    get = GetPrices(assets=repos.assets, prices=repos.prices, render=render, max_assets=1)

    with pytest.raises(InvalidRequest, match="too many assets"):
        await get(PricesRequest(asset_ids=(spy, efa)))
    with pytest.raises(NotFound, match=r"assets \[999\] do not exist"):
        await get(PricesRequest(asset_ids=(999,)))
    with pytest.raises(InvalidRequest, match="start is after end"):
        await get(PricesRequest(asset_ids=(spy,), start=date(2024, 2, 1), end=date(2024, 1, 1)))
    single = GetPriceHistory(assets=repos.assets, prices=repos.prices, render=render)
    with pytest.raises(NotFound, match="asset 999 does not exist"):
        await single(PriceHistoryRequest(asset_id=999))


async def test_year_over_year_compares_by_date_and_reads_before_start() -> None:
    repos = build_memory_repositories()
    series = MacroSeries(code="W", name="weekly", frequency=MacroFrequency.WEEKLY, units="x")
    await repos.macro.upsert_series([series])
    days = pd.date_range("2020-01-03", "2022-12-30", freq="W-FRI").date
    await repos.macro.upsert_observations(
        "W", pd.DataFrame({"date": days, "value": np.arange(1.0, len(days) + 1.0)})
    )
    get = GetMacroObservations(macro=repos.macro)

    found = await get(MacroObservationsRequest(code="W", start=date(2022, 1, 1), transform="yoy"))

    first_day = found.values.index[0]
    assert first_day >= pd.Timestamp("2022-01-01")
    year_ago = [d for d in days if pd.Timestamp(d) <= first_day - pd.DateOffset(years=1)][-1]
    now_value = float(list(days).index(first_day.date()) + 1)
    then_value = float(list(days).index(year_ago) + 1)
    assert found.values.iloc[0] == pytest.approx((now_value / then_value - 1.0) * 100.0)
    with pytest.raises(NotFound):
        await get(MacroObservationsRequest(code="NOPE"))


async def test_maintenance_closes_abandoned_runs_and_finished_parents() -> None:
    repos = build_memory_repositories()
    clock = ManualClock(datetime(2024, 6, 1, 12, tzinfo=UTC))
    long_ago = clock.now() - timedelta(hours=2)

    def run(**fields: Any) -> IngestionRun:
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "command": {"type": "update_prices"},
            "command_type": "update_prices",
            "trigger": RunTrigger.MANUAL,
            "status": RunStatus.RUNNING,
            "started_at": long_ago,
            "heartbeat_at": clock.now(),
        }
        values.update(fields)
        return IngestionRun(**values)

    abandoned = await repos.runs.add(run(heartbeat_at=long_ago))
    parent = await repos.runs.add(run(counts={"children": 1}))
    await repos.runs.add(
        run(
            parent_id=parent.id,
            trigger=RunTrigger.CHILD,
            status=RunStatus.SUCCEEDED,
            finished_at=clock.now(),
            counts={"bars": 3},
        )
    )
    maintain = MaintainRuns(runs=repos.runs, clock=clock, abandon_after=timedelta(minutes=10))

    assert await maintain() == 1

    closed = await repos.runs.get(abandoned.id)
    finished = await repos.runs.get(parent.id)
    assert closed is not None and closed.status is not RunStatus.RUNNING
    assert finished is not None and finished.status is RunStatus.SUCCEEDED
    assert finished.counts["bars"] == 3
    children = await ListRuns(runs=repos.runs)(ListRunsRequest(parent_id=parent.id))
    assert [c.parent_id for c in children.items] == [parent.id]
