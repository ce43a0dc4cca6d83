"""SQLAlchemy Core implementations of the repository ports (PostgreSQL and SQLite).

Each repository takes what differs between the databases from ``adapters.sqlalchemy.dialects``
when it is built, so every method has one code path. Every method runs in its own transaction,
except the job and result repositories of a unit of work (``SqlaUnitOfWork``), which share its
transaction. A job is saved with a compare-and-set UPDATE on its version, so two workers can
never both win a claim. Errors leave as domain errors (``adapters.sqlalchemy.errors``).
"""

from __future__ import annotations

import builtins
import functools
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, and_, delete, func, insert, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.coltypes import INT32_MAX, INT32_MIN, UTCDateTime
from adapters.sqlalchemy.dialects import POSTGRES, UpsertInsert, dialect_of
from adapters.sqlalchemy.engine import WRITE_TRANSACTION
from adapters.sqlalchemy.errors import read_only, transaction, translated

# The job status read goes to asyncpg too, through the PostgreSQL module's record access.
from adapters.sqlalchemy.postgres import RecordFields as _Fields
from adapters.sqlalchemy.postgres import asyncpg_connection as _driver
from adapters.sqlalchemy.prices import SqlaPriceRepository
from adapters.sqlalchemy.tables import (
    assets,
    backtest_jobs,
    backtest_results,
    ingestion_runs,
    macro_observations,
    macro_series,
    portfolios,
)
from domain.errors import NotFound, StaleJobVersion
from domain.model import (
    ACTIVE_JOB_STATUSES,
    INGESTION_RUN_MUTABLE_FIELDS,
    JOB_MUTABLE_FIELDS,
    Asset,
    AssetQuery,
    AssetType,
    BacktestJob,
    BacktestResult,
    Currency,
    Exchange,
    IngestionRun,
    JobStatus,
    MacroFrequency,
    MacroSeries,
    Market,
    Page,
    Portfolio,
    RunStatus,
    RunTrigger,
)
from domain.observations import normalize_observations, observations_frame
from domain.pagination import cursor_parts, encode_cursor
from domain.ports import Repositories


def dialect_insert(connection: AsyncConnection, table: Any) -> UpsertInsert:
    """INSERT with the dialect's ON CONFLICT support (both backends have it)."""
    return dialect_of(connection).insert(table)


def _newest_first_page(
    stmt: Select[Any], at: Any, ident: Any, limit: int, cursor: str | None
) -> Select[Any]:
    """Order newest first by (at, id) and continue strictly after the cursor's row."""
    if cursor is not None:
        stamp, last_id = cursor_parts(cursor, 2)
        after_at, after_id = datetime.fromisoformat(stamp), uuid.UUID(last_id)
        stmt = stmt.where(or_(at < after_at, and_(at == after_at, ident < after_id)))
    return stmt.order_by(at.desc(), ident.desc()).limit(max(limit, 0) + 1)


def _cut(rows: builtins.list[Any], limit: int, at: str) -> tuple[builtins.list[Any], str | None]:
    page = rows[: max(limit, 0)]
    if len(rows) <= len(page) or not page:
        return page, None
    return page, encode_cursor(getattr(page[-1], at).isoformat(), str(page[-1].id))


# --- assets -------------------------------------------------------------------------------


def _asset(row: Any) -> Asset:
    return Asset(
        id=row.id,
        ticker=row.ticker,
        name=row.name,
        market=Market(row.market),
        exchange=Exchange(row.exchange),
        currency=Currency(row.currency),
        asset_type=AssetType(row.asset_type),
        sector=row.sector,
        active=row.active,
        prices_revision=row.prices_revision,
        prices_source=row.prices_source,
    )


def _asset_values(asset: Asset) -> dict[str, Any]:
    return {
        "ticker": asset.ticker,
        "provider_symbol": asset.provider_symbol,
        "name": asset.name,
        "market": asset.market.value,
        "exchange": asset.exchange.value,
        "currency": asset.currency.value,
        "asset_type": asset.asset_type.value,
        "sector": asset.sector,
        "active": asset.active,
    }


def _stored(asset: Asset, asset_id: int, prices_revision: int, prices_source: str | None) -> Asset:
    return replace(
        asset.with_id(asset_id), prices_revision=prices_revision, prices_source=prices_source
    )


class SqlaAssetRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = dialect_of(engine)

    async def upsert_many(self, assets_in: Sequence[Asset]) -> builtins.list[Asset]:
        if not assets_in:
            return []
        # One row per natural key (the last wins), so ON CONFLICT never meets a key twice.
        unique = {(a.market.value, a.ticker): _asset_values(a) for a in assets_in}
        async with transaction(self._engine) as conn:
            stmt = self._dialect.insert(assets)
            updatable = {c: stmt.excluded[c] for c in _asset_values(assets_in[0])}
            stmt = stmt.on_conflict_do_update(index_elements=["market", "ticker"], set_=updatable)
            await conn.execute(stmt, builtins.list(unique.values()))
            rows = await conn.execute(
                select(
                    assets.c.id,
                    assets.c.market,
                    assets.c.ticker,
                    assets.c.prices_revision,
                    assets.c.prices_source,
                ).where(tuple_(assets.c.market, assets.c.ticker).in_(builtins.list(unique)))
            )
            stored = {
                (r.market, r.ticker): (r.id, r.prices_revision, r.prices_source) for r in rows
            }
        return [_stored(a, *stored[(a.market.value, a.ticker)]) for a in assets_in]

    async def get(self, asset_id: int) -> Asset | None:
        if not INT32_MIN <= asset_id <= INT32_MAX:  # no such key can be stored
            return None
        async with read_only(self._engine) as conn:
            row = await self._dialect.assets.get(conn, asset_id)
        return _asset(row) if row is not None else None

    async def find(self, refs: Sequence[str | int]) -> dict[str | int, Asset]:
        ids = [r for r in refs if isinstance(r, int)]
        tickers = {r.upper() for r in refs if isinstance(r, str)}
        if not ids and not tickers:
            return {}
        async with read_only(self._engine) as conn:
            rows = [_asset(r) for r in await self._dialect.assets.find(conn, ids, tickers)]
        by_id = {a.id: a for a in rows}
        by_ticker: dict[str, builtins.list[Asset]] = {}
        for a in rows:
            by_ticker.setdefault(a.ticker.upper(), []).append(a)
        found: dict[str | int, Asset] = {}
        for ref in refs:
            if isinstance(ref, int):
                if ref in by_id:
                    found[ref] = by_id[ref]
            elif len(by_ticker.get(ref.upper(), [])) == 1:  # in both markets: ambiguous
                found[ref] = by_ticker[ref.upper()][0]
        return found

    async def list(self, query: AssetQuery) -> Page[Asset]:
        after = None
        if query.cursor:
            # Outside the key range "after" is "before every id" or "after every id".
            after = min(max(int(cursor_parts(query.cursor, 1)[0]), INT32_MIN - 1), INT32_MAX)
        async with read_only(self._engine) as conn:
            rows = [_asset(r) for r in await self._dialect.assets.list(conn, query, after)]
        page = rows[: max(query.limit, 0)]
        more = len(rows) > len(page) and bool(page)
        return Page(items=page, next_cursor=encode_cursor(page[-1].id) if more else None)

    async def by_market(
        self, market: Market, tickers: Sequence[str] | None = None
    ) -> builtins.list[Asset]:
        stmt = (
            select(assets)
            .where(assets.c.market == market.value, assets.c.active.is_(True))
            .order_by(assets.c.ticker)
        )
        if tickers is not None:
            stmt = stmt.where(func.upper(assets.c.ticker).in_({t.upper() for t in tickers}))
        async with read_only(self._engine) as conn:
            return [_asset(r) for r in await conn.execute(stmt)]


# --- macro --------------------------------------------------------------------------------


class SqlaMacroRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_of(engine).insert

    async def upsert_series(self, series: Sequence[MacroSeries]) -> None:
        if not series:
            return
        rows = {
            s.code: {
                "code": s.code,
                "name": s.name,
                "frequency": s.frequency.value,
                "units": s.units,
            }
            for s in series
        }
        async with transaction(self._engine) as conn:
            stmt = self._insert(macro_series)
            stmt = stmt.on_conflict_do_update(
                index_elements=["code"],
                set_={c: stmt.excluded[c] for c in ("name", "frequency", "units")},
            )
            await conn.execute(stmt, builtins.list(rows.values()))

    async def list_series(self) -> builtins.list[MacroSeries]:
        async with read_only(self._engine) as conn:
            rows = await conn.execute(select(macro_series).order_by(macro_series.c.code))
            return [_series(r) for r in rows]

    async def get_series(self, code: str) -> MacroSeries | None:
        async with read_only(self._engine) as conn:
            stmt = select(macro_series).where(macro_series.c.code == code)
            row = (await conn.execute(stmt)).first()
        return _series(row) if row else None

    async def upsert_observations(
        self, code: str, observations: pd.DataFrame, source: str | None = None
    ) -> int:
        return await self._write_observations(code, observations, source, replace_all=False)

    async def replace_observations(
        self, code: str, observations: pd.DataFrame, source: str | None = None
    ) -> int:
        return await self._write_observations(code, observations, source, replace_all=True)

    async def _write_observations(
        self, code: str, observations: pd.DataFrame, source: str | None, *, replace_all: bool
    ) -> int:
        clean = normalize_observations(observations)
        # NaN becomes None, i.e. SQL NULL: a missing value is never stored as zero or NaN.
        rows = [
            {"code": code, "date": d, "value": None if pd.isna(v) else float(v)}
            for d, v in zip(clean["date"], clean["value"], strict=True)
        ]
        async with transaction(self._engine) as conn:
            # Recording the source first also locks the series row on PostgreSQL, so writers
            # of one series queue up and the source committed is the one of the last write.
            known = await conn.execute(
                update(macro_series).where(macro_series.c.code == code).values(source=source)
            )
            if known.rowcount == 0:
                raise NotFound(f"macro series {code} does not exist")
            if replace_all:
                await conn.execute(
                    delete(macro_observations).where(macro_observations.c.code == code)
                )
            if rows:
                stmt = self._insert(macro_observations)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["code", "date"], set_={"value": stmt.excluded.value}
                )
                await conn.execute(stmt, rows)
        return len(rows)

    async def read_observations(
        self, code: str, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        stmt = (
            select(macro_observations.c.date, macro_observations.c.value)
            .where(macro_observations.c.code == code)
            .order_by(macro_observations.c.date)
        )
        if start is not None:
            stmt = stmt.where(macro_observations.c.date >= start)
        if end is not None:
            stmt = stmt.where(macro_observations.c.date <= end)
        async with read_only(self._engine) as conn:
            rows = [(r.date, r.value) for r in await conn.execute(stmt)]
        return observations_frame(rows)

    async def last_dates(self) -> dict[str, date]:
        stmt = select(macro_observations.c.code, func.max(macro_observations.c.date)).group_by(
            macro_observations.c.code
        )
        async with read_only(self._engine) as conn:
            return {code: last for code, last in await conn.execute(stmt)}


def _series(row: Any) -> MacroSeries:
    return MacroSeries(
        code=row.code,
        name=row.name,
        frequency=MacroFrequency(row.frequency),
        units=row.units,
        source=row.source,
    )


# --- jobs ---------------------------------------------------------------------------------


_GET_JOB = (
    f"SELECT {', '.join(c.name for c in backtest_jobs.columns)} FROM backtest_jobs WHERE id = $1"
)
_JOB_TIMES = frozenset(c.name for c in backtest_jobs.columns if isinstance(c.type, UTCDateTime))


class _JobFields(_Fields):
    """A driver record of a job, its values as the SQLAlchemy column types return them."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        value = self._record[name]
        if value is None:
            return None
        if name == "id":  # asyncpg's own UUID class, made a plain uuid.UUID
            return uuid.UUID(bytes=value.bytes)
        if name in _JOB_TIMES:
            return value.astimezone(UTC)
        return value


def _job(row: Any) -> BacktestJob:
    return BacktestJob(
        id=row.id,
        status=JobStatus(row.status),
        spec=row.spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
        idempotency_key=row.idempotency_key,
        request_hash=row.request_hash,
        owner=row.owner,
        attempts=row.attempts,
        error=row.error,
        progress=row.progress,
        started_at=row.started_at,
        finished_at=row.finished_at,
        enqueued_at=row.enqueued_at,
        heartbeat_at=row.heartbeat_at,
        version=row.version,
    )


_JOB_COLUMNS = tuple(c.name for c in backtest_jobs.columns)


def _job_values(job: BacktestJob, names: Sequence[str] = _JOB_COLUMNS) -> dict[str, Any]:
    values = {name: getattr(job, name) for name in names}
    if "status" in values:
        values["status"] = job.status.value
    return values


class _Joinable:
    """A repository that runs every call in a transaction of its own, or, given a unit of
    work's connection, inside that unit's transaction."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection | None = None) -> None:
        self._engine = engine
        self._connection = connection

    def _writing(self) -> AbstractAsyncContextManager[AsyncConnection]:
        if self._connection is not None:
            return _joined(self._connection)
        return transaction(self._engine)

    def _reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        if self._connection is not None:
            return _joined(self._connection)
        return read_only(self._engine)


@asynccontextmanager
async def _joined(connection: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """A unit of work's connection, its errors translated as ``transaction()`` does."""
    with translated():
        yield connection


class SqlaJobRepository(_Joinable):
    async def add(self, job: BacktestJob) -> BacktestJob:
        async with self._writing() as conn:
            await conn.execute(insert(backtest_jobs).values(_job_values(job)))
        return job

    async def get(self, job_id: uuid.UUID) -> BacktestJob | None:
        if self._connection is not None or dialect_of(self._engine) is not POSTGRES:
            return await self._one(backtest_jobs.c.id == job_id)
        # asyncpg directly, as assets.get(): job status polls are the gateway's most frequent
        # read, and SQLAlchemy's BEGIN/ROLLBACK and row processing cost more than the query.
        async with read_only(self._engine) as conn:
            record = await (await _driver(conn)).fetchrow(_GET_JOB, job_id)
        return _job(_JobFields(record)) if record else None

    async def save(self, job: BacktestJob) -> BacktestJob:
        # Compare-and-set on the version: of two saves based on the same read, one matches.
        stmt = (
            update(backtest_jobs)
            .where(backtest_jobs.c.id == job.id, backtest_jobs.c.version == job.version)
            .values(_job_values(job, JOB_MUTABLE_FIELDS) | {"version": job.version + 1})
        )
        async with self._writing() as conn:
            if (await conn.execute(stmt)).rowcount == 1:
                return replace(job, version=job.version + 1)
            exists = select(backtest_jobs.c.id).where(backtest_jobs.c.id == job.id)
            found = (await conn.execute(exists)).first() is not None
        if not found:
            raise NotFound(f"job {job.id} does not exist")
        raise StaleJobVersion(f"job {job.id} was saved by another writer since it was read")

    async def by_idempotency_key(self, key: str) -> BacktestJob | None:
        return await self._one(backtest_jobs.c.idempotency_key == key)

    async def list(
        self, status: JobStatus | None, limit: int, cursor: str | None
    ) -> Page[BacktestJob]:
        stmt = select(backtest_jobs)
        if status is not None:
            stmt = stmt.where(backtest_jobs.c.status == status.value)
        stmt = _newest_first_page(
            stmt, backtest_jobs.c.created_at, backtest_jobs.c.id, limit, cursor
        )
        async with self._reading() as conn:
            rows = [_job(r) for r in await conn.execute(stmt)]
        items, next_cursor = _cut(rows, limit, "created_at")
        return Page(items=items, next_cursor=next_cursor)

    async def stale_queued(
        self, enqueued_before: datetime, limit: int
    ) -> builtins.list[BacktestJob]:
        stmt = (
            select(backtest_jobs)
            .where(
                backtest_jobs.c.status == JobStatus.QUEUED.value,
                or_(
                    backtest_jobs.c.enqueued_at.is_(None),
                    backtest_jobs.c.enqueued_at < enqueued_before,
                ),
            )
            .order_by(backtest_jobs.c.created_at, backtest_jobs.c.id)
            .limit(max(limit, 0))
        )
        async with self._reading() as conn:
            return [_job(r) for r in await conn.execute(stmt)]

    async def count_active(self, owner: str | None) -> int:
        owner_match = (
            backtest_jobs.c.owner.is_(None) if owner is None else backtest_jobs.c.owner == owner
        )
        active = [s.value for s in ACTIVE_JOB_STATUSES]
        stmt = select(func.count()).where(backtest_jobs.c.status.in_(active), owner_match)
        async with self._reading() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def _one(self, condition: Any) -> BacktestJob | None:
        async with self._reading() as conn:
            row = (await conn.execute(select(backtest_jobs).where(condition))).first()
        return _job(row) if row else None


# --- results and portfolios ---------------------------------------------------------------

_RESULT_JSON = ("metrics", "nav", "benchmark", "weights", "analytics")


class SqlaResultRepository(_Joinable):
    async def save(self, result: BacktestResult) -> None:
        values = {name: getattr(result, name) for name in _RESULT_JSON}
        values |= {"job_id": result.job_id, "created_at": result.created_at}
        async with self._writing() as conn:
            stmt = dialect_insert(conn, backtest_results).values(values)
            stmt = stmt.on_conflict_do_update(
                index_elements=["job_id"],
                set_={c: stmt.excluded[c] for c in (*_RESULT_JSON, "created_at")},
            )
            await conn.execute(stmt)

    async def get(self, job_id: uuid.UUID) -> BacktestResult | None:
        stmt = select(backtest_results).where(backtest_results.c.job_id == job_id)
        async with self._reading() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        return BacktestResult(
            job_id=row.job_id,
            metrics=row.metrics,
            nav=row.nav,
            benchmark=row.benchmark,
            weights=row.weights,
            analytics=row.analytics,
            created_at=row.created_at,
        )


class SqlaUnitOfWork:
    """One database transaction, on one connection, over jobs and results. Like every write
    transaction (``transaction()``) it takes SQLite's write lock when it begins, so on SQLite
    units run one at a time and never lose a save; on PostgreSQL a save that lost raises
    StaleJobVersion."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._scope = AsyncExitStack()

    async def __aenter__(self) -> SqlaUnitOfWork:
        with translated():
            connection = await self._scope.enter_async_context(self._engine.connect())
            try:
                await connection.execution_options(**{WRITE_TRANSACTION: True})
                self._transaction = await connection.begin()
            except BaseException:
                await self._scope.aclose()
                raise
        self.jobs = SqlaJobRepository(self._engine, connection)
        self.results = SqlaResultRepository(self._engine, connection)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Closing the connection rolls back whatever was not committed.
        with translated():
            await self._scope.aclose()

    async def commit(self) -> None:
        with translated():
            await self._transaction.commit()


def _portfolio(row: Any) -> Portfolio:
    return Portfolio(id=row.id, name=row.name, job_id=row.job_id, created_at=row.created_at)


class SqlaPortfolioRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, portfolio: Portfolio) -> Portfolio:
        values = {
            "id": portfolio.id,
            "name": portfolio.name,
            "job_id": portfolio.job_id,
            "created_at": portfolio.created_at,
        }
        async with transaction(self._engine) as conn:
            await conn.execute(insert(portfolios).values(values))
        return portfolio

    async def get(self, portfolio_id: uuid.UUID) -> Portfolio | None:
        stmt = select(portfolios).where(portfolios.c.id == portfolio_id)
        async with read_only(self._engine) as conn:
            row = (await conn.execute(stmt)).first()
        return _portfolio(row) if row else None

    async def list(self) -> builtins.list[Portfolio]:
        """Newest first."""
        stmt = select(portfolios).order_by(portfolios.c.created_at.desc(), portfolios.c.id.desc())
        async with read_only(self._engine) as conn:
            return [_portfolio(r) for r in await conn.execute(stmt)]

    async def delete(self, portfolio_id: uuid.UUID) -> bool:
        async with transaction(self._engine) as conn:
            result = await conn.execute(delete(portfolios).where(portfolios.c.id == portfolio_id))
        return bool(result.rowcount == 1)


# --- ingestion runs -----------------------------------------------------------------------


def _run(row: Any) -> IngestionRun:
    return IngestionRun(
        id=row.id,
        command=row.command,
        command_type=row.command_type,
        trigger=RunTrigger(row.trigger),
        status=RunStatus(row.status),
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
        parent_id=row.parent_id,
        counts=row.counts,
        failures=row.failures,
        issues=row.issues,
        dry_run=row.dry_run,
        source=row.source,
    )


def _run_values(run: IngestionRun, names: Sequence[str]) -> dict[str, Any]:
    values = {name: getattr(run, name) for name in names}
    for enum_field in ("status", "trigger"):
        if enum_field in values:
            values[enum_field] = values[enum_field].value
    return values


class SqlaIngestionRunRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, run: IngestionRun) -> IngestionRun:
        values = _run_values(run, [c.name for c in ingestion_runs.columns])
        async with transaction(self._engine) as conn:
            await conn.execute(insert(ingestion_runs).values(values))
        return run

    async def get(self, run_id: uuid.UUID) -> IngestionRun | None:
        stmt = select(ingestion_runs).where(ingestion_runs.c.id == run_id)
        async with read_only(self._engine) as conn:
            row = (await conn.execute(stmt)).first()
        return _run(row) if row else None

    async def update(self, run: IngestionRun) -> None:
        stmt = (
            update(ingestion_runs)
            .where(ingestion_runs.c.id == run.id)
            .values(_run_values(run, INGESTION_RUN_MUTABLE_FIELDS))
        )
        async with transaction(self._engine) as conn:
            result = await conn.execute(stmt)
            if result.rowcount == 0:
                raise NotFound(f"ingestion run {run.id} does not exist")

    async def list(
        self, limit: int, cursor: str | None, parent_id: uuid.UUID | None = None
    ) -> Page[IngestionRun]:
        stmt = select(ingestion_runs)
        if parent_id is not None:
            stmt = stmt.where(ingestion_runs.c.parent_id == parent_id)
        stmt = _newest_first_page(
            stmt, ingestion_runs.c.started_at, ingestion_runs.c.id, limit, cursor
        )
        async with read_only(self._engine) as conn:
            rows = [_run(r) for r in await conn.execute(stmt)]
        items, next_cursor = _cut(rows, limit, "started_at")
        return Page(items=items, next_cursor=next_cursor)

    async def children(self, parent_id: uuid.UUID) -> builtins.list[IngestionRun]:
        """Oldest first (the order they were started in)."""
        stmt = (
            select(ingestion_runs)
            .where(ingestion_runs.c.parent_id == parent_id)
            .order_by(ingestion_runs.c.started_at, ingestion_runs.c.id)
        )
        async with read_only(self._engine) as conn:
            return [_run(r) for r in await conn.execute(stmt)]

    async def abandon_stale(self, heartbeat_before: datetime, now: datetime) -> int:
        last_sign = func.coalesce(
            ingestion_runs.c.heartbeat_at,
            ingestion_runs.c.started_at,
            type_=ingestion_runs.c.started_at.type,
        )
        stmt = (
            update(ingestion_runs)
            .where(
                ingestion_runs.c.status == RunStatus.RUNNING.value,
                last_sign < heartbeat_before,
            )
            .values(status=RunStatus.ABANDONED.value, finished_at=now)
        )
        async with transaction(self._engine) as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)


class SqlaHealthCheck:
    """Readiness of the database: one round trip."""

    name = "database"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> None:
        async with read_only(self._engine) as conn:
            await conn.execute(text("SELECT 1"))


def build_sqla_repositories(engine: AsyncEngine) -> Repositories:
    """Every repository over one engine (the composition roots own and dispose the engine)."""
    return Repositories(
        assets=SqlaAssetRepository(engine),
        prices=SqlaPriceRepository(engine),
        macro=SqlaMacroRepository(engine),
        jobs=SqlaJobRepository(engine),
        results=SqlaResultRepository(engine),
        portfolios=SqlaPortfolioRepository(engine),
        runs=SqlaIngestionRunRepository(engine),
        health=SqlaHealthCheck(engine),
        unit_of_work=functools.partial(SqlaUnitOfWork, engine),
    )
