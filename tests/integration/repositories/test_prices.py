"""PriceRepository contract, over every implementation."""

from __future__ import annotations

import asyncio
import math
from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from adapters.memory import repositories as memory_repositories
from adapters.sqlalchemy import postgres as postgres_module
from adapters.sqlalchemy import sqlite as sqlite_module
from adapters.sqlalchemy.tables import prices as prices_table
from domain.errors import NotFound
from domain.model import BAR_COLUMNS
from domain.ports import Repositories
from tests.integration.repositories.conftest import Backend, make_asset, make_bars


async def _asset_id(repos: Repositories) -> int:
    (asset,) = await repos.assets.upsert_many([make_asset()])
    assert asset.id is not None
    return asset.id


async def test_upserting_the_same_bars_twice_changes_nothing(repos: Repositories) -> None:
    asset_id = await _asset_id(repos)
    bars = make_bars(10)

    assert await repos.prices.upsert(asset_id, bars) == 10
    await repos.prices.upsert(asset_id, bars)

    assert await repos.prices.count(asset_id) == 10
    pd.testing.assert_frame_equal(await repos.prices.read(asset_id), bars)


async def test_upsert_adds_new_sessions_and_overwrites_changed_ones(repos: Repositories) -> None:
    asset_id = await _asset_id(repos)
    await repos.prices.upsert(asset_id, make_bars(5))
    changed = make_bars(5, start=date(2024, 1, 4), base=500.0)  # 2 overlap, 3 new

    await repos.prices.upsert(asset_id, changed)

    stored = await repos.prices.read(asset_id)
    assert len(stored) == 8
    assert stored.loc[stored["date"] == date(2024, 1, 4), "close"].item() == 500.0
    assert await repos.prices.last_dates([asset_id, 424242]) == {asset_id: date(2024, 1, 8)}


async def test_duplicate_dates_in_one_batch_keep_the_last_row(repos: Repositories) -> None:
    asset_id = await _asset_id(repos)
    await repos.prices.upsert(asset_id, make_bars(3))
    batch = pd.concat([make_bars(2), make_bars(2, base=7.0)])

    await repos.prices.upsert(asset_id, batch)

    assert (await repos.prices.read(asset_id))["close"].tolist() == [7.0, 8.0, 102.0]


async def test_missing_prices_are_stored_as_null_and_read_back_as_nan(backend: Backend) -> None:
    asset_id = await _asset_id(backend.repos)
    bars = make_bars(3)
    bars.loc[1, ["adj_close", "volume"]] = float("nan")

    await backend.repos.prices.upsert(asset_id, bars)

    stored = await backend.repos.prices.read(asset_id)
    assert math.isnan(stored.loc[1, "adj_close"]) and math.isnan(stored.loc[1, "volume"])
    assert stored.loc[0, "adj_close"] == pytest.approx(90.0)
    if backend.engine is not None:  # NULL in the table, not the float NaN
        async with backend.engine.connect() as conn:
            nulls = await conn.scalar(
                select(func.count()).where(prices_table.c.adj_close.is_(None))
            )
        assert nulls == 1


async def test_caller_frames_are_copied_not_aliased(repos: Repositories) -> None:
    asset_id = await _asset_id(repos)
    bars = make_bars(3)
    await repos.prices.upsert(asset_id, bars)
    bars.loc[0, "close"] = -1.0

    read = await repos.prices.read(asset_id)
    read.loc[0, "close"] = -2.0

    assert (await repos.prices.read(asset_id)).loc[0, "close"] == 100.0


async def test_replace_discards_the_old_history(repos: Repositories) -> None:
    asset_id = await _asset_id(repos)
    await repos.prices.upsert(asset_id, make_bars(10))

    assert await repos.prices.replace(asset_id, make_bars(4, base=50.0)) == 4

    stored = await repos.prices.read(asset_id)
    assert stored["close"].tolist() == [50.0, 51.0, 52.0, 53.0]


class _Crash(Exception):
    pass


def _crash(*_: object, **__: object) -> None:
    raise _Crash


def _break_replace_midway(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend.engine is not None:
        # After the old rows were deleted inside the transaction, before the new ones land.
        monkeypatch.setattr(postgres_module, "_copy", _crash)
        monkeypatch.setattr(sqlite_module, "_upsert_records", _crash)
    else:
        # The fake builds the new history before it swaps it in.
        monkeypatch.setattr(memory_repositories, "normalize_bars", _crash)


async def test_replace_that_fails_midway_leaves_the_old_history(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset_id = await _asset_id(backend.repos)
    await backend.repos.prices.upsert(asset_id, make_bars(10))
    _break_replace_midway(backend, monkeypatch)

    with pytest.raises(_Crash):
        await backend.repos.prices.replace(asset_id, make_bars(4, base=50.0))

    monkeypatch.undo()
    pd.testing.assert_frame_equal(await backend.repos.prices.read(asset_id), make_bars(10))


async def test_adj_close_panel_has_nan_not_zero_where_an_asset_has_no_bar(
    repos: Repositories,
) -> None:
    early, late = (await _asset_id(repos)), (await _asset_id(repos))
    await repos.prices.upsert(early, make_bars(5))
    await repos.prices.upsert(late, make_bars(2, start=date(2024, 1, 4)))

    panel = await repos.prices.read_adj_close([late, early, 31337], end=date(2024, 1, 4))

    assert list(panel.columns) == [late, early, 31337]
    assert isinstance(panel.index, pd.DatetimeIndex) and len(panel) == 4
    assert panel[late].isna().tolist() == [True, True, True, False]
    assert panel[31337].isna().all()
    assert panel[early].iloc[0] == pytest.approx(90.0)


async def test_read_filters_by_date_range_and_has_bar_columns(repos: Repositories) -> None:
    asset_id = await _asset_id(repos)
    await repos.prices.upsert(asset_id, make_bars(10))

    window = await repos.prices.read(asset_id, date(2024, 1, 3), date(2024, 1, 5))

    assert tuple(window.columns) == BAR_COLUMNS
    assert window["date"].tolist() == [date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]
    assert (await repos.prices.read(31337)).empty


async def test_upsert_many_writes_every_asset_of_a_batch(repos: Repositories) -> None:
    fresh, existing = (await _asset_id(repos)), (await _asset_id(repos))
    await repos.prices.upsert(existing, make_bars(3))

    written = await repos.prices.upsert_many(  # type: ignore[attr-defined]
        {fresh: make_bars(4), existing: make_bars(5, base=1.0)}
    )

    assert written == 9
    assert await repos.prices.count(fresh) == 4
    assert (await repos.prices.read(existing))["close"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert await repos.prices.count() == 9


async def test_bars_of_an_unknown_asset_are_refused(repos: Repositories) -> None:
    with pytest.raises(NotFound):
        await repos.prices.upsert(987_654, make_bars(2))


async def test_bars_with_unsorted_text_dates_are_normalized_on_write(repos: Repositories) -> None:
    asset_id = await _asset_id(repos)
    bars = make_bars(3).iloc[::-1]
    bars["date"] = bars["date"].astype(str)
    bars["volume"] = bars["volume"].astype("int64")

    assert await repos.prices.upsert(asset_id, bars) == 3

    pd.testing.assert_frame_equal(await repos.prices.read(asset_id), make_bars(3))


async def test_backfilling_sessions_before_the_stored_history_keeps_both(
    repos: Repositories,
) -> None:
    asset_id = await _asset_id(repos)
    await repos.prices.upsert(asset_id, make_bars(3, start=date(2024, 1, 10)))

    await repos.prices.upsert(asset_id, make_bars(12, start=date(2024, 1, 1), base=1.0))

    stored = await repos.prices.read(asset_id)
    assert stored["close"].tolist() == [float(v) for v in range(1, 13)]


async def test_concurrent_writers_of_one_asset_both_land(repos: Repositories) -> None:
    asset_id = await _asset_id(repos)
    first, second = make_bars(20), make_bars(20, start=date(2024, 1, 11), base=500.0)

    await asyncio.gather(
        repos.prices.upsert(asset_id, first), repos.prices.upsert(asset_id, second)
    )

    stored = await repos.prices.read(asset_id)
    assert stored["date"].tolist() == [date(2024, 1, 1) + timedelta(days=i) for i in range(30)]
    assert stored["close"].iloc[-1] == 519.0


async def test_read_many_returns_what_read_returns_for_every_asked_id(repos: Repositories) -> None:
    first, second = (await _asset_id(repos)), (await _asset_id(repos))
    await repos.prices.upsert(first, make_bars(10))
    await repos.prices.upsert(second, make_bars(4))
    window = (date(2024, 1, 3), date(2024, 1, 8))

    many = await repos.prices.read_many([second, first, 31337], *window)

    assert set(many) == {first, second, 31337}
    for asset_id in (first, second):
        pd.testing.assert_frame_equal(many[asset_id], await repos.prices.read(asset_id, *window))
    assert many[31337].empty and tuple(many[31337].columns) == BAR_COLUMNS
