"""Daily bars: reads, and per-asset-atomic bulk writes.

Every write runs in one transaction that locks the assets, bumps their prices revision and
writes the bars, so a crash never leaves an asset half-written and a revision never names bars
older than it. How rows travel is the dialect's (``adapters.sqlalchemy.dialects``): binary COPY
and asyncpg array reads on PostgreSQL, batched upserts and Core selects on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.bars import adj_close_panel, normalized_with_days
from adapters.sqlalchemy.coltypes import INT32_MAX, INT32_MIN
from adapters.sqlalchemy.dialects import dialect_of
from adapters.sqlalchemy.errors import read_only, transaction
from adapters.sqlalchemy.tables import assets, prices
from domain.errors import NotFound
from domain.model import empty_bars


class SqlaPriceRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._bars = dialect_of(engine).bars

    async def last_dates(self, asset_ids: Sequence[int]) -> dict[int, date]:
        if not asset_ids:
            return {}
        stmt = (
            select(prices.c.asset_id, func.max(prices.c.date))
            .where(prices.c.asset_id.in_(list(asset_ids)))
            .group_by(prices.c.asset_id)
        )
        async with read_only(self._engine) as conn:
            return {asset_id: last for asset_id, last in await conn.execute(stmt)}

    async def read(
        self, asset_id: int, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        if not INT32_MIN <= asset_id <= INT32_MAX:  # no such key can be stored
            return empty_bars()
        async with read_only(self._engine) as conn:
            return await self._bars.read(conn, asset_id, start, end)

    async def read_many(
        self, asset_ids: Sequence[int], start: date | None = None, end: date | None = None
    ) -> dict[int, pd.DataFrame]:
        """``read`` of several assets over ONE connection, each asset's frame as ``read``
        returns it; an asset without rows maps to empty bars."""
        ids = [i for i in dict.fromkeys(asset_ids) if INT32_MIN <= i <= INT32_MAX]
        if not ids:
            return {i: empty_bars() for i in asset_ids}
        async with read_only(self._engine) as conn:
            rows = await self._bars.read_many(conn, ids, start, end)
        frames = {i: empty_bars() for i in dict.fromkeys(asset_ids)}
        frames.update(self._bars.frames(rows))
        return frames

    async def read_adj_close(
        self, asset_ids: Sequence[int], start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        ids = list(dict.fromkeys(asset_ids))
        rows: Sequence[Sequence[Any]] = []
        if ids:
            async with read_only(self._engine) as conn:
                rows = await self._bars.read_adj_close(conn, ids, start, end)
        return adj_close_panel(rows, ids)

    async def count(self, asset_id: int | None = None) -> int:
        stmt = select(func.count()).select_from(prices)
        if asset_id is not None:
            stmt = stmt.where(prices.c.asset_id == asset_id)
        async with read_only(self._engine) as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def upsert(self, asset_id: int, bars: pd.DataFrame, source: str | None = None) -> int:
        return await self.upsert_many({asset_id: bars}, source)

    async def replace(self, asset_id: int, bars: pd.DataFrame, source: str | None = None) -> int:
        """Delete the asset's rows and write the new history, in one transaction: readers
        see the old history until commit, and a failure leaves it untouched."""
        frame, days = normalized_with_days(bars)
        async with transaction(self._engine) as conn:
            await _lock_assets(conn, [asset_id])
            await _bump_revisions(conn, [asset_id], source)
            await conn.execute(delete(prices).where(prices.c.asset_id == asset_id))
            await self._bars.insert(conn, asset_id, frame, days)
        return len(frame)

    async def upsert_many(self, batch: dict[int, pd.DataFrame], source: str | None = None) -> int:
        """Upsert several assets in ONE transaction (all or nothing, so each asset is atomic
        too), all from provider ``source``; return rows written."""
        frames = {asset_id: normalized_with_days(bars) for asset_id, bars in batch.items()}
        if not frames:
            return 0
        async with transaction(self._engine) as conn:
            last_dates = await _lock_assets(conn, list(frames))
            await _bump_revisions(conn, list(frames), source)
            await self._bars.upsert(conn, frames, last_dates)
        return sum(len(frame) for frame, _ in frames.values())


async def _lock_assets(conn: AsyncConnection, asset_ids: list[int]) -> dict[int, date]:
    """Lock the assets' rows (writers of one asset queue up, so the last stored date read
    here stays true until commit) and return the last stored date of those that have prices.
    NotFound when an id is unknown."""
    locking = (
        select(assets.c.id)
        .where(assets.c.id.in_(asset_ids))
        .order_by(assets.c.id)
        .with_for_update()
    )
    found = {row.id for row in await conn.execute(locking)}
    missing = set(asset_ids) - found
    if missing:
        raise NotFound(f"assets do not exist: {sorted(missing)}")
    # One backward index probe per asset (a GROUP BY would scan every stored row).
    last = select(func.max(prices.c.date)).where(prices.c.asset_id == assets.c.id).scalar_subquery()
    stmt = select(assets.c.id, last.label("last")).where(assets.c.id.in_(asset_ids))
    return {row.id: row.last for row in await conn.execute(stmt) if row.last is not None}


async def _bump_revisions(conn: AsyncConnection, asset_ids: list[int], source: str | None) -> None:
    """Bump the assets' ``prices_revision`` and record the writing provider in the writing
    transaction: both commit with the bars, so a revision read never names bars older than
    it (readers' caches key on it) and the source read with it is the one of those bars."""
    stmt = update(assets).where(assets.c.id.in_(asset_ids))
    await conn.execute(
        stmt.values(prices_revision=assets.c.prices_revision + 1, prices_source=source)
    )


__all__ = ["SqlaPriceRepository"]
