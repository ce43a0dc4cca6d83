"""SQLite behind the repositories (the embedded default of ``make run``): SQLAlchemy Core.

The same calls as ``adapters.sqlalchemy.postgres`` answers on asyncpg, with the same results
(the contract suites run over both). Price writes are batched executemany upserts inside the
repository's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.bars import ROW_COLUMNS, Record, bar_records, bars_frame
from adapters.sqlalchemy.tables import assets, prices
from domain.model import BAR_COLUMNS, PRICE_FIELDS, AssetQuery

SQLITE_BATCH_ROWS = 5000


class SqliteAssetReads:
    """The asset reads in SQLAlchemy Core; rows come back as SQLAlchemy rows."""

    async def get(self, conn: AsyncConnection, asset_id: int) -> Any | None:
        return (await conn.execute(select(assets).where(assets.c.id == asset_id))).first()

    async def find(self, conn: AsyncConnection, ids: list[int], tickers: set[str]) -> list[Any]:
        conditions = []
        if ids:
            conditions.append(assets.c.id.in_(ids))
        if tickers:
            conditions.append(func.upper(assets.c.ticker).in_(tickers))
        return list(await conn.execute(select(assets).where(or_(*conditions))))

    async def list(self, conn: AsyncConnection, query: AssetQuery, after: int | None) -> list[Any]:
        return list(await conn.execute(_list_assets_stmt(query, after)))


def _list_assets_stmt(query: AssetQuery, after: int | None) -> Select[Any]:
    stmt = select(assets).order_by(assets.c.id).limit(max(query.limit, 0) + 1)
    if after is not None:
        stmt = stmt.where(assets.c.id > after)
    if query.market is not None:
        stmt = stmt.where(assets.c.market == query.market.value)
    if query.asset_type is not None:
        stmt = stmt.where(assets.c.asset_type == query.asset_type.value)
    if query.text:
        needle = query.text.lower()
        stmt = stmt.where(
            or_(
                func.lower(assets.c.ticker).contains(needle, autoescape=True),
                func.lower(assets.c.name).contains(needle, autoescape=True),
            )
        )
    return stmt


class SqliteBarStore:
    """The ``prices`` rows in SQLAlchemy Core: row reads, batched upserts."""

    async def read(
        self, conn: AsyncConnection, asset_id: int, start: date | None, end: date | None
    ) -> pd.DataFrame:
        stmt = select(*(prices.c[c] for c in BAR_COLUMNS)).where(prices.c.asset_id == asset_id)
        rows = (await conn.execute(_between(stmt, start, end).order_by(prices.c.date))).all()
        return bars_frame(rows)

    async def read_many(
        self, conn: AsyncConnection, asset_ids: list[int], start: date | None, end: date | None
    ) -> dict[int, pd.DataFrame]:
        return {i: await self.read(conn, i, start, end) for i in asset_ids}

    def frames(self, rows: dict[int, pd.DataFrame]) -> dict[int, pd.DataFrame]:
        return rows

    async def read_adj_close(
        self, conn: AsyncConnection, asset_ids: list[int], start: date | None, end: date | None
    ) -> Sequence[Sequence[Any]]:
        stmt = select(prices.c.asset_id, prices.c.date, prices.c.adj_close)
        stmt = _between(stmt.where(prices.c.asset_id.in_(asset_ids)), start, end)
        return (await conn.execute(stmt)).all()

    async def insert(
        self, conn: AsyncConnection, asset_id: int, frame: pd.DataFrame, days: np.ndarray
    ) -> None:
        await _upsert_records(conn, bar_records(asset_id, frame))

    async def upsert(
        self,
        conn: AsyncConnection,
        frames: dict[int, tuple[pd.DataFrame, np.ndarray]],
        last_dates: dict[int, date],
    ) -> None:
        records = [r for i, (frame, _) in frames.items() for r in bar_records(i, frame)]
        await _upsert_records(conn, records)


def _between(stmt: Any, start: date | None, end: date | None) -> Any:
    if start is not None:
        stmt = stmt.where(prices.c.date >= start)
    if end is not None:
        stmt = stmt.where(prices.c.date <= end)
    return stmt


async def _upsert_records(conn: AsyncConnection, records: list[Record]) -> None:
    stmt = sqlite.insert(prices)
    stmt = stmt.on_conflict_do_update(
        index_elements=["asset_id", "date"], set_={c: stmt.excluded[c] for c in PRICE_FIELDS}
    )
    for start in range(0, len(records), SQLITE_BATCH_ROWS):
        chunk = records[start : start + SQLITE_BATCH_ROWS]
        await conn.execute(stmt, [dict(zip(ROW_COLUMNS, r, strict=True)) for r in chunk])
