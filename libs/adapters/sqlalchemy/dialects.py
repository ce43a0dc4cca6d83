"""The one place the SQL dialect is chosen: once per repository, when it is built.

Repositories run one code path on PostgreSQL and SQLite. What differs between the two sits
behind the small interfaces below, with one implementation per database:
``adapters.sqlalchemy.postgres`` (asyncpg reads, binary COPY writes) and
``adapters.sqlalchemy.sqlite`` (SQLAlchemy Core, the embedded default of ``make run``).
Each method runs inside the connection or transaction the repository opened, so locking,
revisions and error translation stay in the repository.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.postgres import PostgresAssetReads, PostgresBarStore
from adapters.sqlalchemy.sqlite import SqliteAssetReads, SqliteBarStore
from domain.model import AssetQuery

UpsertInsert = postgresql.Insert | sqlite.Insert


class AssetReads(Protocol):
    """Reads of ``assets``: rows with the table's columns as attributes, in no set order."""

    async def get(self, conn: AsyncConnection, asset_id: int) -> Any | None:
        """The row of ``asset_id`` (within the INTEGER key range), or None."""
        ...

    async def find(self, conn: AsyncConnection, ids: list[int], tickers: set[str]) -> list[Any]:
        """Rows whose id is in ``ids`` or whose upper-cased ticker is in ``tickers``."""
        ...

    async def list(self, conn: AsyncConnection, query: AssetQuery, after: int | None) -> list[Any]:
        """Up to ``query.limit + 1`` rows matching ``query`` with ids above ``after``, by id."""
        ...


class BarStore(Protocol):
    """Reads and writes of ``prices`` rows. Writers run in the repository's transaction with
    the assets locked and their revisions bumped; ids are within the INTEGER key range."""

    async def read(
        self, conn: AsyncConnection, asset_id: int, start: date | None, end: date | None
    ) -> pd.DataFrame:
        """The asset's bars between ``start`` and ``end`` (both inclusive, None open)."""
        ...

    async def read_many(
        self, conn: AsyncConnection, asset_ids: list[int], start: date | None, end: date | None
    ) -> Any:
        """The rows of every asset, as read; ``frames`` turns them into bars."""
        ...

    def frames(self, rows: Any) -> dict[int, pd.DataFrame]:
        """``read_many``'s rows as each asset's bars (an asset without rows may be left out).
        Called after the connection is back in the pool: building the frames is CPU work
        that would otherwise hold a pooled connection (measured by make bench-api's
        prices_5_assets route)."""
        ...

    async def read_adj_close(
        self, conn: AsyncConnection, asset_ids: list[int], start: date | None, end: date | None
    ) -> Sequence[Sequence[Any]]:
        """(asset_id, date, adj_close) rows of the assets, in no set order."""
        ...

    async def insert(
        self, conn: AsyncConnection, asset_id: int, frame: pd.DataFrame, days: np.ndarray
    ) -> None:
        """Write normalized bars of an asset that has no stored rows (``days``: their dates
        as days since 1970-01-01)."""
        ...

    async def upsert(
        self,
        conn: AsyncConnection,
        frames: dict[int, tuple[pd.DataFrame, np.ndarray]],
        last_dates: dict[int, date],
    ) -> None:
        """Write normalized bars over the stored ones (a stored session's values are replaced);
        ``last_dates``: each asset's last stored date, where it has rows."""
        ...


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """What the repositories need to know about their database."""

    # INSERT with the dialect's ON CONFLICT clause (both databases have one).
    insert: Callable[[Table], UpsertInsert]
    assets: AssetReads
    bars: BarStore


POSTGRES = SqlDialect(
    insert=postgresql.insert, assets=PostgresAssetReads(), bars=PostgresBarStore()
)
SQLITE = SqlDialect(insert=sqlite.insert, assets=SqliteAssetReads(), bars=SqliteBarStore())


class _Bound(Protocol):
    @property
    def dialect(self) -> Dialect: ...


def dialect_of(bind: _Bound) -> SqlDialect:
    """The dialect of an engine or connection: PostgreSQL, or else SQLite (the only two
    ``adapters.sqlalchemy.engine`` creates)."""
    return POSTGRES if bind.dialect.name == "postgresql" else SQLITE
