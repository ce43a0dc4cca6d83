"""The bulk write paths of the price repository: replace by delete + COPY, the overlap merge
(delete changed rows, COPY all but the unchanged), the binary COPY encoding, and atomicity when
a write fails midway. Contract tests run over every implementation; the few that inspect
PostgreSQL's row versions say so."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from adapters.sqlalchemy import postgres as postgres_module
from adapters.sqlalchemy import sqlite as sqlite_module
from domain.model import BAR_COLUMNS
from domain.ports import Repositories
from tests.integration.repositories.conftest import Backend, make_asset, make_bars

ONLY_POSTGRES = pytest.mark.parametrize(
    "backend_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def _asset_ids(repos: Repositories, count: int) -> list[int]:
    stored = await repos.assets.upsert_many([make_asset() for _ in range(count)])
    ids = [a.id for a in stored]
    assert all(i is not None for i in ids)
    return [i for i in ids if i is not None]


async def test_replace_keeps_other_assets_untouched(repos: Repositories) -> None:
    target, other = await _asset_ids(repos, 2)
    await repos.prices.upsert_many(  # type: ignore[attr-defined]
        {target: make_bars(10), other: make_bars(10, base=7.0)}
    )

    await repos.prices.replace(target, make_bars(3, start=date(2023, 6, 1), base=1.0))

    pd.testing.assert_frame_equal(await repos.prices.read(other), make_bars(10, base=7.0))
    assert (await repos.prices.read(target))["close"].tolist() == [1.0, 2.0, 3.0]


async def test_upsert_keeps_stored_sessions_the_batch_leaves_out(repos: Repositories) -> None:
    (asset_id,) = await _asset_ids(repos, 1)
    await repos.prices.upsert(asset_id, make_bars(10))  # 2024-01-01 .. 01-10, close 100..109
    stored = make_bars(10)
    # Restate three stored sessions (every other day) and add one after a gap.
    batch = pd.concat(
        [
            make_bars(1, start=date(2024, 1, 2), base=500.0),
            make_bars(1, start=date(2024, 1, 4), base=501.0),
            make_bars(1, start=date(2024, 1, 6), base=502.0),
            make_bars(1, start=date(2024, 1, 12), base=600.0),
        ],
        ignore_index=True,
    )

    assert await repos.prices.upsert(asset_id, batch) == 4

    result = await repos.prices.read(asset_id)
    expected = [*stored["close"].tolist(), 600.0]
    expected[1], expected[3], expected[5] = 500.0, 501.0, 502.0
    assert result["close"].tolist() == expected
    assert date(2024, 1, 11) not in set(result["date"])


async def test_nulls_in_any_field_and_dates_before_2000_round_trip(repos: Repositories) -> None:
    first, second = await _asset_ids(repos, 2)
    # Dates on both sides of 1970 and 2000 (the COPY format counts days from 2000-01-01).
    bars = make_bars(12, start=date(1969, 12, 25))
    bars = pd.concat([bars, make_bars(6, start=date(1999, 12, 29), base=300.0)])
    bars = bars.reset_index(drop=True)
    # Every field NULL somewhere, several NULL patterns, runs of them, and an infinite value.
    bars.loc[[1, 2], "volume"] = np.nan
    bars.loc[3, ["open", "high", "low"]] = np.nan
    bars.loc[4, list(BAR_COLUMNS[1:])] = np.nan
    bars.loc[7, "adj_close"] = np.nan
    bars.loc[8, "close"] = math.inf
    bars.loc[15, ["volume", "adj_close"]] = np.nan
    await repos.prices.upsert(first, bars.iloc[:8])  # half stored before

    # One batch: ``first`` overlaps (with changes) and extends; ``second`` is all new.
    restated = bars.copy()
    restated.loc[5, "close"] = 999.0
    restated.loc[6, "volume"] = np.nan
    await repos.prices.upsert_many(  # type: ignore[attr-defined]
        {first: restated, second: bars}
    )

    pd.testing.assert_frame_equal(await repos.prices.read(first), restated)
    pd.testing.assert_frame_equal(await repos.prices.read(second), bars)


class _Crash(Exception):
    pass


def _crash_midway(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Break the write after part of it has reached the database in its transaction."""
    if backend.name == "postgres":
        # New sessions are COPYed and the changed stored rows deleted; the re-insert fails.
        def crash(*_: object) -> None:
            raise _Crash

        monkeypatch.setattr(postgres_module, "_without", crash)
    elif backend.name == "sqlite":
        real = sqlite_module._upsert_records

        async def write_half_then_crash(conn: Any, records: list[Any]) -> None:
            await real(conn, records[: len(records) // 2])
            raise _Crash

        monkeypatch.setattr(sqlite_module, "_upsert_records", write_half_then_crash)
    else:
        raise AssertionError(f"no way to break {backend.name} midway")


# The in-memory fake swaps whole frames: there is no midway to break.
@pytest.mark.parametrize(
    "backend_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_upsert_many_that_fails_midway_leaves_every_asset_as_it_was(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    repos = backend.repos
    first, second, fresh = await _asset_ids(repos, 3)
    await repos.prices.upsert(first, make_bars(10))
    await repos.prices.upsert(second, make_bars(10, base=50.0))
    _crash_midway(backend, monkeypatch)

    with pytest.raises(_Crash):
        await repos.prices.upsert_many(  # type: ignore[attr-defined]
            {
                first: make_bars(15, base=1.0),  # 10 changed, 5 new
                second: make_bars(12, base=2.0),
                fresh: make_bars(5),
            }
        )

    monkeypatch.undo()
    pd.testing.assert_frame_equal(await repos.prices.read(first), make_bars(10))
    pd.testing.assert_frame_equal(await repos.prices.read(second), make_bars(10, base=50.0))
    assert await repos.prices.count(fresh) == 0
    # The connection that failed is usable again, and its stage holds nothing stale.
    await repos.prices.upsert_many(  # type: ignore[attr-defined]
        {first: make_bars(11, base=1.0), fresh: make_bars(2)}
    )
    assert (await repos.prices.read(first))["close"].tolist() == [float(v) for v in range(1, 12)]
    assert await repos.prices.count() == 11 + 10 + 2


async def _row_versions(backend: Backend, asset_id: int) -> dict[date, str]:
    assert backend.engine is not None
    async with backend.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT date, ctid::text FROM prices WHERE asset_id = :a"), {"a": asset_id}
        )
        return {row.date: row.ctid for row in rows}


@ONLY_POSTGRES  # row versions (ctid) are PostgreSQL's
async def test_upsert_rewrites_only_the_rows_it_changes(backend: Backend) -> None:
    (asset_id,) = await _asset_ids(backend.repos, 1)
    await backend.repos.prices.upsert(asset_id, make_bars(10))
    before = await _row_versions(backend, asset_id)
    batch = make_bars(12)  # the stored 10 sessions as they are, plus 2 new
    batch.loc[4, "close"] = 7.0  # one restated

    await backend.repos.prices.upsert(asset_id, batch)

    after = await _row_versions(backend, asset_id)
    changed = {d for d in before if after[d] != before[d]}
    assert changed == {date(2024, 1, 5)}
    assert set(after) - set(before) == {date(2024, 1, 11), date(2024, 1, 12)}
    pd.testing.assert_frame_equal(await backend.repos.prices.read(asset_id), batch)


@ONLY_POSTGRES  # row versions (ctid) are PostgreSQL's
async def test_merge_of_a_wide_batch_touches_only_the_batch_assets(backend: Backend) -> None:
    ids = await _asset_ids(backend.repos, 4)
    start = date(2024, 1, 1)
    for asset_id in ids:
        await backend.repos.prices.upsert(asset_id, make_bars(20, start=start))
    bystander = ids.pop()
    before = await _row_versions(backend, bystander)
    # The batch's date range covers all of the bystander's rows, with different values.
    await backend.repos.prices.upsert_many(  # type: ignore[attr-defined]
        {i: make_bars(25, start=start - timedelta(days=2), base=float(i)) for i in ids}
    )

    assert await _row_versions(backend, bystander) == before
    for asset_id in ids:
        stored = await backend.repos.prices.read(asset_id)
        assert len(stored) == 25 and stored["close"].iloc[0] == float(asset_id)
