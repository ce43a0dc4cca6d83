"""In-memory fakes of every repository port.

They follow the port docstrings exactly (the same contract suite runs over them, SQLite and
PostgreSQL), so unit tests of use cases can trust them. Everything handed in or out is a copy:
a caller mutating a frame or a spec dict never changes what is stored.
"""

from __future__ import annotations

import builtins
import copy
import dataclasses
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypeVar

import pandas as pd

from domain.errors import Conflict, NotFound, StaleJobVersion
from domain.model import (
    ACTIVE_JOB_STATUSES,
    INGESTION_RUN_MUTABLE_FIELDS,
    JOB_MUTABLE_FIELDS,
    Asset,
    AssetQuery,
    BacktestJob,
    BacktestResult,
    IngestionRun,
    JobStatus,
    MacroSeries,
    Market,
    Page,
    Portfolio,
    RunStatus,
    empty_bars,
    normalize_bars,
)
from domain.observations import normalize_observations, observations_frame
from domain.pagination import cursor_parts, encode_cursor
from domain.ports import Repositories

_T = TypeVar("_T")


def _deep(obj: _T) -> _T:
    """A deep copy of a dataclass: its JSON fields (dicts, lists) are never shared."""
    return copy.deepcopy(obj)


def _newest_key(at: datetime, ident: uuid.UUID) -> tuple[datetime, str]:
    return (at, str(ident))


def _page_newest_first(
    items: list[Any], at: str, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """Sort newest first by (``at``, id) and cut one page after the cursor."""
    ordered = sorted(items, key=lambda i: _newest_key(getattr(i, at), i.id), reverse=True)
    if cursor is not None:
        stamp, ident = cursor_parts(cursor, 2)
        after = (datetime.fromisoformat(stamp), ident)
        ordered = [i for i in ordered if _newest_key(getattr(i, at), i.id) < after]
    page = ordered[: max(limit, 0)]
    if len(ordered) <= len(page) or not page:
        return page, None
    return page, encode_cursor(getattr(page[-1], at).isoformat(), str(page[-1].id))


@dataclass
class MemoryStore:
    """The shared state behind one set of fake repositories (one "database")."""

    assets: dict[int, Asset] = field(default_factory=dict)
    prices: dict[int, pd.DataFrame] = field(default_factory=dict)
    series: dict[str, MacroSeries] = field(default_factory=dict)
    observations: dict[str, dict[date, float]] = field(default_factory=dict)
    jobs: dict[uuid.UUID, BacktestJob] = field(default_factory=dict)
    results: dict[uuid.UUID, BacktestResult] = field(default_factory=dict)
    portfolios: dict[uuid.UUID, Portfolio] = field(default_factory=dict)
    runs: dict[uuid.UUID, IngestionRun] = field(default_factory=dict)
    next_asset_id: int = 1


class InMemoryAssetRepository:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self._s = store or MemoryStore()

    async def upsert_many(self, assets: Sequence[Asset]) -> list[Asset]:
        by_key = {(a.market, a.ticker): a for a in self._s.assets.values()}
        out: list[Asset] = []
        for asset in assets:
            existing = by_key.get((asset.market, asset.ticker))
            revision, source = 0, None
            if existing is not None and existing.id is not None:
                asset_id = existing.id
                revision, source = existing.prices_revision, existing.prices_source
            else:
                asset_id = self._s.next_asset_id
                self._s.next_asset_id += 1
            # Updating an asset's attributes keeps its prices' revision and source, as the SQL
            # stores do.
            stored = replace(
                asset.with_id(asset_id), prices_revision=revision, prices_source=source
            )
            self._s.assets[asset_id] = stored
            by_key[(asset.market, asset.ticker)] = stored
            out.append(stored)
        return out

    async def get(self, asset_id: int) -> Asset | None:
        return self._s.assets.get(asset_id)

    async def find(self, refs: Sequence[str | int]) -> dict[str | int, Asset]:
        found: dict[str | int, Asset] = {}
        for ref in refs:
            if isinstance(ref, int):
                asset = self._s.assets.get(ref)
                if asset is not None:
                    found[ref] = asset
                continue
            matches = [a for a in self._s.assets.values() if a.ticker.upper() == ref.upper()]
            if len(matches) == 1:  # in both markets: ambiguous, resolves to neither
                found[ref] = matches[0]
        return found

    async def list(self, query: AssetQuery) -> Page[Asset]:
        after = int(cursor_parts(query.cursor, 1)[0]) if query.cursor else 0
        text = query.text.lower() if query.text else None
        rows = [
            a
            for _, a in sorted(self._s.assets.items())
            if (a.id or 0) > after
            and (query.market is None or a.market == query.market)
            and (query.asset_type is None or a.asset_type == query.asset_type)
            and (text is None or text in a.ticker.lower() or text in a.name.lower())
        ]
        page = rows[: max(query.limit, 0)]
        more = len(rows) > len(page) and bool(page)
        return Page(items=page, next_cursor=encode_cursor(page[-1].id) if more else None)

    async def by_market(
        self, market: Market, tickers: Sequence[str] | None = None
    ) -> builtins.list[Asset]:
        wanted = {t.upper() for t in tickers} if tickers is not None else None
        rows = [
            a
            for a in self._s.assets.values()
            if a.market == market and a.active and (wanted is None or a.ticker.upper() in wanted)
        ]
        return sorted(rows, key=lambda a: a.ticker)


def _filter_dates(frame: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    if start is not None:
        mask &= frame["date"] >= start
    if end is not None:
        mask &= frame["date"] <= end
    return frame.loc[mask]


class InMemoryPriceRepository:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self._s = store or MemoryStore()

    async def last_dates(self, asset_ids: Sequence[int]) -> dict[int, date]:
        return {
            i: self._s.prices[i]["date"].iloc[-1]
            for i in asset_ids
            if i in self._s.prices and not self._s.prices[i].empty
        }

    async def read(
        self, asset_id: int, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        frame = self._s.prices.get(asset_id)
        if frame is None:
            return empty_bars()
        return _filter_dates(frame, start, end).reset_index(drop=True).copy()

    async def read_many(
        self, asset_ids: Sequence[int], start: date | None = None, end: date | None = None
    ) -> dict[int, pd.DataFrame]:
        return {asset_id: await self.read(asset_id, start, end) for asset_id in asset_ids}

    async def read_adj_close(
        self, asset_ids: Sequence[int], start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        ids = list(dict.fromkeys(asset_ids))
        series: dict[int, pd.Series] = {}
        for asset_id in ids:
            bars = await self.read(asset_id, start, end)
            series[asset_id] = pd.Series(
                bars["adj_close"].to_numpy(dtype="float64"),
                index=pd.DatetimeIndex(pd.to_datetime(bars["date"])),
                dtype="float64",
            )
        return _panel(series, ids)

    async def upsert(self, asset_id: int, bars: pd.DataFrame, source: str | None = None) -> int:
        self._require_asset(asset_id)
        new = normalize_bars(bars)
        old = self._s.prices.get(asset_id)
        merged = new if old is None else pd.concat([old, new], ignore_index=True)
        self._s.prices[asset_id] = normalize_bars(merged)
        self._bump_revision(asset_id, source)
        return len(new)

    async def replace(self, asset_id: int, bars: pd.DataFrame, source: str | None = None) -> int:
        self._require_asset(asset_id)
        new = normalize_bars(bars)
        self._s.prices[asset_id] = new
        self._bump_revision(asset_id, source)
        return len(new)

    async def upsert_many(self, batch: dict[int, pd.DataFrame], source: str | None = None) -> int:
        """Upsert several assets (each one atomically); return rows written."""
        return sum([await self.upsert(asset_id, bars, source) for asset_id, bars in batch.items()])

    async def count(self, asset_id: int | None = None) -> int:
        if asset_id is not None:
            return len(self._s.prices.get(asset_id, ()))
        return sum(len(f) for f in self._s.prices.values())

    def _bump_revision(self, asset_id: int, source: str | None) -> None:
        """Every write bumps the asset's ``prices_revision`` and records its source, as the
        SQL stores do."""
        asset = self._s.assets[asset_id]
        self._s.assets[asset_id] = replace(
            asset, prices_revision=asset.prices_revision + 1, prices_source=source
        )

    def _require_asset(self, asset_id: int) -> None:
        # Mirrors the foreign key of the SQL stores: bars of an unknown asset are refused.
        if asset_id not in self._s.assets:
            raise NotFound(f"asset {asset_id} does not exist")


def _panel(series: dict[int, pd.Series], ids: list[int]) -> pd.DataFrame:
    """Outer-join per-asset series on date; a missing bar stays NaN (never zero)."""
    index = pd.DatetimeIndex([], name="date")
    for s in series.values():
        index = index.union(pd.DatetimeIndex(s.index))
    panel = pd.DataFrame(
        {i: series[i].reindex(index) if i in series else float("nan") for i in ids},
        index=index,
        columns=ids,
        dtype="float64",
    )
    panel.index.name = "date"
    return panel


class InMemoryMacroRepository:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self._s = store or MemoryStore()

    async def upsert_series(self, series: Sequence[MacroSeries]) -> None:
        for s in series:
            # The catalog never says where observations came from: the stored source stays.
            stored = self._s.series.get(s.code)
            self._s.series[s.code] = replace(s, source=stored.source if stored else None)

    async def list_series(self) -> list[MacroSeries]:
        return sorted(self._s.series.values(), key=lambda s: s.code)

    async def get_series(self, code: str) -> MacroSeries | None:
        return self._s.series.get(code)

    async def upsert_observations(
        self, code: str, observations: pd.DataFrame, source: str | None = None
    ) -> int:
        series = self._s.series.get(code)
        if series is None:
            raise NotFound(f"macro series {code} does not exist")
        clean = normalize_observations(observations)
        stored = self._s.observations.setdefault(code, {})
        stored.update(zip(clean["date"], clean["value"], strict=True))
        self._s.series[code] = replace(series, source=source)
        return len(clean)

    async def replace_observations(
        self, code: str, observations: pd.DataFrame, source: str | None = None
    ) -> int:
        if code not in self._s.series:
            raise NotFound(f"macro series {code} does not exist")
        self._s.observations[code] = {}
        return await self.upsert_observations(code, observations, source)

    async def read_observations(
        self, code: str, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        stored = self._s.observations.get(code, {})
        rows = sorted(
            (d, v)
            for d, v in stored.items()
            if (start is None or d >= start) and (end is None or d <= end)
        )
        return observations_frame(rows)

    async def last_dates(self) -> dict[str, date]:
        return {code: max(obs) for code, obs in self._s.observations.items() if obs}


class InMemoryJobRepository:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self._s = store or MemoryStore()

    async def add(self, job: BacktestJob) -> BacktestJob:
        if job.id in self._s.jobs:
            raise Conflict(f"job {job.id} already exists")
        if job.idempotency_key is not None and await self.by_idempotency_key(job.idempotency_key):
            raise Conflict("idempotency key already used")
        self._s.jobs[job.id] = _deep(job)
        return _deep(job)

    async def get(self, job_id: uuid.UUID) -> BacktestJob | None:
        job = self._s.jobs.get(job_id)
        return _deep(job) if job else None

    async def save(self, job: BacktestJob) -> BacktestJob:
        stored = self._s.jobs.get(job.id)
        if stored is None:
            raise NotFound(f"job {job.id} does not exist")
        if stored.version != job.version:
            raise StaleJobVersion(f"job {job.id} was saved by another writer since it was read")
        changes = {name: copy.deepcopy(getattr(job, name)) for name in JOB_MUTABLE_FIELDS}
        saved = replace(stored, **changes, version=stored.version + 1)
        self._s.jobs[job.id] = saved
        return _deep(saved)

    async def by_idempotency_key(self, key: str) -> BacktestJob | None:
        for job in self._s.jobs.values():
            if job.idempotency_key == key:
                return _deep(job)
        return None

    async def list(
        self, status: JobStatus | None, limit: int, cursor: str | None
    ) -> Page[BacktestJob]:
        rows = [j for j in self._s.jobs.values() if status is None or j.status == status]
        page, next_cursor = _page_newest_first(rows, "created_at", limit, cursor)
        return Page(items=[_deep(j) for j in page], next_cursor=next_cursor)

    async def stale_queued(
        self, enqueued_before: datetime, limit: int
    ) -> builtins.list[BacktestJob]:
        rows = [
            j
            for j in self._s.jobs.values()
            if j.status == JobStatus.QUEUED
            and (j.enqueued_at is None or j.enqueued_at < enqueued_before)
        ]
        rows.sort(key=lambda j: _newest_key(j.created_at, j.id))
        return [_deep(j) for j in rows[: max(limit, 0)]]

    async def count_active(self, owner: str | None) -> int:
        return sum(
            1 for j in self._s.jobs.values() if j.status in ACTIVE_JOB_STATUSES and j.owner == owner
        )


class InMemoryResultRepository:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self._s = store or MemoryStore()

    async def save(self, result: BacktestResult) -> None:
        if result.job_id not in self._s.jobs:
            raise NotFound(f"job {result.job_id} does not exist")
        self._s.results[result.job_id] = _deep(result)

    async def get(self, job_id: uuid.UUID) -> BacktestResult | None:
        result = self._s.results.get(job_id)
        return _deep(result) if result else None


class InMemoryUnitOfWork:
    """One transaction over a MemoryStore's jobs and results. The block works on its own copy
    of both; ``commit()`` publishes the block's changes at once, or refuses them all with
    StaleJobVersion when another unit committed a change to one of the same jobs first (the
    first to commit wins, as row versions make it in SQL). Without ``commit()`` the copy is
    dropped: nothing happened."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._work = store

    @property
    def jobs(self) -> InMemoryJobRepository:
        return InMemoryJobRepository(self._work)

    @property
    def results(self) -> InMemoryResultRepository:
        return InMemoryResultRepository(self._work)

    async def __aenter__(self) -> InMemoryUnitOfWork:
        self._begin()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._work = self._store

    async def commit(self) -> None:
        jobs = _changed(self._work.jobs, self._jobs_before)
        if any(self._store.jobs.get(i) is not self._jobs_before.get(i) for i in jobs):
            raise StaleJobVersion("a job was saved by another writer since this unit read it")
        self._store.jobs.update(jobs)
        self._store.results.update(_changed(self._work.results, self._results_before))
        self._begin()

    def _begin(self) -> None:
        self._jobs_before = dict(self._store.jobs)
        self._results_before = dict(self._store.results)
        self._work = replace(
            self._store, jobs=dict(self._jobs_before), results=dict(self._results_before)
        )


_K = TypeVar("_K")
_V = TypeVar("_V")


def _changed(work: dict[_K, _V], before: dict[_K, _V]) -> dict[_K, _V]:
    # Every write stores a new object, so identity tells what the unit wrote.
    return {key: value for key, value in work.items() if before.get(key) is not value}


class InMemoryPortfolioRepository:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self._s = store or MemoryStore()

    async def add(self, portfolio: Portfolio) -> Portfolio:
        if any(p.name == portfolio.name for p in self._s.portfolios.values()):
            raise Conflict(f"portfolio name {portfolio.name!r} is taken")
        if portfolio.id in self._s.portfolios:
            raise Conflict(f"portfolio {portfolio.id} already exists")
        if portfolio.job_id not in self._s.jobs:
            raise NotFound(f"job {portfolio.job_id} does not exist")
        self._s.portfolios[portfolio.id] = portfolio
        return portfolio

    async def get(self, portfolio_id: uuid.UUID) -> Portfolio | None:
        return self._s.portfolios.get(portfolio_id)

    async def list(self) -> list[Portfolio]:
        """Newest first."""
        rows = list(self._s.portfolios.values())
        return sorted(rows, key=lambda p: _newest_key(p.created_at, p.id), reverse=True)

    async def delete(self, portfolio_id: uuid.UUID) -> bool:
        return self._s.portfolios.pop(portfolio_id, None) is not None


class InMemoryIngestionRunRepository:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self._s = store or MemoryStore()

    async def add(self, run: IngestionRun) -> IngestionRun:
        if run.id in self._s.runs:
            raise Conflict(f"ingestion run {run.id} already exists")
        self._s.runs[run.id] = _deep(run)
        return _deep(run)

    async def get(self, run_id: uuid.UUID) -> IngestionRun | None:
        run = self._s.runs.get(run_id)
        return _deep(run) if run else None

    async def update(self, run: IngestionRun) -> None:
        stored = self._s.runs.get(run.id)
        if stored is None:
            raise NotFound(f"ingestion run {run.id} does not exist")
        changes = {name: copy.deepcopy(getattr(run, name)) for name in INGESTION_RUN_MUTABLE_FIELDS}
        self._s.runs[run.id] = dataclasses.replace(stored, **changes)

    async def list(
        self, limit: int, cursor: str | None, parent_id: uuid.UUID | None = None
    ) -> Page[IngestionRun]:
        rows = [r for r in self._s.runs.values() if parent_id is None or r.parent_id == parent_id]
        page, next_cursor = _page_newest_first(rows, "started_at", limit, cursor)
        return Page(items=[_deep(r) for r in page], next_cursor=next_cursor)

    async def children(self, parent_id: uuid.UUID) -> builtins.list[IngestionRun]:
        """Oldest first (the order they were started in)."""
        rows = [r for r in self._s.runs.values() if r.parent_id == parent_id]
        rows.sort(key=lambda r: _newest_key(r.started_at, r.id))
        return [_deep(r) for r in rows]

    async def abandon_stale(self, heartbeat_before: datetime, now: datetime) -> int:
        stale = [
            r
            for r in self._s.runs.values()
            if r.status == RunStatus.RUNNING and (r.heartbeat_at or r.started_at) < heartbeat_before
        ]
        for run in stale:
            self._s.runs[run.id] = replace(run, status=RunStatus.ABANDONED, finished_at=now)
        return len(stale)


class InMemoryHealthCheck:
    """Always healthy, unless a test sets ``failure`` to the error it should raise."""

    name = "database"

    def __init__(self) -> None:
        self.failure: Exception | None = None

    async def check(self) -> None:
        if self.failure is not None:
            raise self.failure


def build_memory_repositories(store: MemoryStore | None = None) -> Repositories:
    """Every fake over one shared store (foreign keys between them hold as in SQL)."""
    s = store or MemoryStore()
    return Repositories(
        assets=InMemoryAssetRepository(s),
        prices=InMemoryPriceRepository(s),
        macro=InMemoryMacroRepository(s),
        jobs=InMemoryJobRepository(s),
        results=InMemoryResultRepository(s),
        portfolios=InMemoryPortfolioRepository(s),
        runs=InMemoryIngestionRunRepository(s),
        health=InMemoryHealthCheck(),
        unit_of_work=functools.partial(InMemoryUnitOfWork, s),
    )


__all__ = [
    "InMemoryAssetRepository",
    "InMemoryHealthCheck",
    "InMemoryIngestionRunRepository",
    "InMemoryJobRepository",
    "InMemoryMacroRepository",
    "InMemoryPortfolioRepository",
    "InMemoryPriceRepository",
    "InMemoryResultRepository",
    "InMemoryUnitOfWork",
    "MemoryStore",
    "build_memory_repositories",
]
