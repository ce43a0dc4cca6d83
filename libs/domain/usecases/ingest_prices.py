"""IngestPrices: bring one market's daily bars up to date, incrementally and restatement-safe.

Business rules
- Only what is new is fetched: each asset from its last stored session minus a small overlap.
- The overlap is the restatement check: when the vendor's adjusted closes on dates we already
  hold differ beyond a tolerance (a split or dividend since the last run), that asset's whole
  history is fetched again and replaced atomically.
- Assets without rows, and every asset under ``full_refresh``, get their full history.
- A stored history is from one provider, recorded with it (``Asset.prices_source``): when the
  stored prices came from another provider, or from one not recorded, the whole history is
  fetched again and replaced, so synthetic sample bars never mix with market data under one
  label.
- Each asset is written in one transaction; re-running a command writes nothing new.
- A market with more assets than the batch size fans out into child commands on the same queue;
  the parent run aggregates its children.
- Per-asset failures and data-quality issues are recorded on the run, never dropped or fixed.
- ``dry_run`` fetches and checks everything and writes nothing but the run record.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from domain.messages import UpdatePrices, encode_message
from domain.model import Asset, IngestionRun, RunStatus, RunTrigger, normalize_bars
from domain.ports import (
    Clock,
    MarketDataProvider,
    MessageQueue,
    Repositories,
    Telemetry,
    TradingCalendar,
)
from domain.quality import DEFAULT_MAX_DAILY_MOVE, check_bars
from domain.usecases.runs import RunRecorder, aggregate_parent, report_finished

# The columns whose change on an already-stored date is a vendor restatement.
_COMPARED = ("open", "high", "low", "close", "adj_close", "volume")


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestOptions:
    batch_size: int = 100
    overlap_days: int = 10
    restatement_tolerance: float = 1e-6
    max_daily_move: float = DEFAULT_MAX_DAILY_MOVE


@dataclass(frozen=True, slots=True, kw_only=True)
class _AssetPlan:
    asset: Asset
    last_date: date | None
    fetch_start: date | None
    # Stored bars exist but came from another provider (or one not recorded).
    source_changed: bool = False


@dataclass(slots=True)
class _Tally:
    assets_ok: int = 0
    assets_failed: int = 0
    assets_restated: int = 0
    assets_unchanged: int = 0
    rows_written: int = 0

    def as_counts(self) -> dict[str, int]:
        return {
            "assets_ok": self.assets_ok,
            "assets_failed": self.assets_failed,
            "assets_restated": self.assets_restated,
            "assets_unchanged": self.assets_unchanged,
            "rows_written": self.rows_written,
        }


class IngestPrices:
    def __init__(
        self,
        *,
        repositories: Repositories,
        provider: MarketDataProvider,
        queue: MessageQueue,
        clock: Clock,
        options: IngestOptions = IngestOptions(),
        calendar: TradingCalendar | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._repos = repositories
        self._provider = provider
        self._queue = queue
        self._clock = clock
        self._options = options
        self._calendar = calendar
        self._telemetry = telemetry

    async def __call__(
        self,
        command: UpdatePrices,
        *,
        run_id: uuid.UUID,
        heartbeat: Callable[[], Awaitable[None]] | None = None,
    ) -> IngestionRun:
        recorder = await RunRecorder.start(
            self._repos.runs,
            self._clock,
            run_id=run_id,
            command=command,
            source=self._provider.name,
        )
        assets = await self._resolve_assets(command, recorder)
        if command.parent_run_id is None and len(assets) > self._options.batch_size:
            return await self._fan_out(command, assets, recorder)
        tally = _Tally(assets_failed=len(recorder.failures))
        for batch in _chunks(assets, self._options.batch_size):
            await self._ingest_batch(command, batch, recorder, tally)
            await recorder.beat(tally.as_counts())
            if heartbeat is not None:
                await heartbeat()
        run = await recorder.finish(tally.as_counts(), _status(tally))
        if run.parent_id is not None:
            await aggregate_parent(self._repos.runs, run.parent_id, self._clock, self._telemetry)
        report_finished(self._telemetry, run)
        return run

    async def _resolve_assets(self, command: UpdatePrices, recorder: RunRecorder) -> list[Asset]:
        assets = await self._repos.assets.by_market(command.market, command.tickers)
        if command.tickers:
            known = {a.ticker.upper() for a in assets}
            for ticker in command.tickers:
                if ticker.upper() not in known:
                    recorder.fail(ticker, f"unknown {command.market} ticker")
        return assets

    async def _fan_out(
        self, command: UpdatePrices, assets: Sequence[Asset], recorder: RunRecorder
    ) -> IngestionRun:
        chunks = list(_chunks(assets, self._options.batch_size))
        for index, chunk in enumerate(chunks):
            child = command.model_copy(
                update={
                    "tickers": [a.ticker for a in chunk],
                    "parent_run_id": recorder.run.id,
                    "trigger": RunTrigger.CHILD,
                    "command_id": f"{command.command_id or recorder.run.id}:{index}",
                }
            )
            await self._queue.send(encode_message(child))
        return await recorder.checkpoint({"children": len(chunks), "assets": len(assets)})

    async def _ingest_batch(
        self, command: UpdatePrices, batch: Sequence[Asset], recorder: RunRecorder, tally: _Tally
    ) -> None:
        ids = [a.id for a in batch if a.id is not None]
        last_dates = await self._repos.prices.last_dates(ids)
        plans = [self._plan(asset, last_dates.get(asset.id or -1), command) for asset in batch]
        by_start: dict[date | None, list[_AssetPlan]] = defaultdict(list)
        for plan in plans:
            by_start[plan.fetch_start].append(plan)
        for start, group in by_start.items():
            fetched = await self._provider.fetch([p.asset for p in group], start, None)
            for plan in group:
                asset_id = plan.asset.id or -1
                if asset_id in fetched.failures or asset_id not in fetched.bars:
                    reason = fetched.failures.get(asset_id, "provider returned no data")
                    recorder.fail(plan.asset.ticker, reason)
                    tally.assets_failed += 1
                    continue
                bars = _from(normalize_bars(fetched.bars[asset_id]), start)
                self._check_quality(plan.asset, bars, fetched.actions.get(asset_id), recorder)
                await self._apply(command, plan, bars, recorder, tally)

    def _plan(self, asset: Asset, last_date: date | None, command: UpdatePrices) -> _AssetPlan:
        if last_date is not None and asset.prices_source != self._provider.name:
            return _AssetPlan(
                asset=asset, last_date=last_date, fetch_start=None, source_changed=True
            )
        if last_date is None or command.full_refresh:
            return _AssetPlan(asset=asset, last_date=last_date, fetch_start=command.start)
        start = last_date - timedelta(days=self._options.overlap_days)
        if command.start is not None and command.start < start:
            start = command.start  # a backfill widens the window
        return _AssetPlan(asset=asset, last_date=last_date, fetch_start=start)

    async def _apply(
        self,
        command: UpdatePrices,
        plan: _AssetPlan,
        bars: pd.DataFrame,
        recorder: RunRecorder,
        tally: _Tally,
    ) -> None:
        asset = plan.asset
        asset_id = asset.id
        assert asset_id is not None
        if bars.empty:
            recorder.fail(asset.ticker, "empty history")
            tally.assets_failed += 1
            return
        if plan.last_date is None or command.full_refresh or plan.source_changed:
            if plan.source_changed:
                recorder.note_source_changed(asset.ticker, asset.prices_source, self._provider.name)
            rows = len(bars) if command.dry_run else await self._write_full(plan, bars, command)
            tally.rows_written += rows
            tally.assets_ok += 1
            return
        stored = await self._repos.prices.read(asset_id, plan.fetch_start, plan.last_date)
        if _restated(stored, bars, self._options.restatement_tolerance):
            full = await self._provider.fetch([asset], None, None)
            history = normalize_bars(full.bars.get(asset_id, bars))
            if not command.dry_run:
                await self._repos.prices.replace(asset_id, history, self._provider.name)
            recorder.note_restated(asset.ticker, plan.last_date)
            tally.assets_restated += 1
            tally.assets_ok += 1
            tally.rows_written += len(history)
            return
        changed = _new_or_changed(stored, bars)
        if changed.empty:
            tally.assets_unchanged += 1
        elif not command.dry_run:
            await self._repos.prices.upsert(asset_id, changed, self._provider.name)
        tally.rows_written += len(changed)
        tally.assets_ok += 1

    def _check_quality(
        self, asset: Asset, bars: pd.DataFrame, actions: pd.DataFrame | None, recorder: RunRecorder
    ) -> None:
        """Record every data-quality issue on the run; the bars are stored as the vendor sent
        them (never silently dropped or "fixed")."""
        if bars.empty:
            return
        sessions = None
        if self._calendar is not None:
            sessions = self._calendar.sessions(
                asset.market, bars["date"].iloc[0], bars["date"].iloc[-1]
            )
        action_dates = set(actions["date"]) if actions is not None and not actions.empty else set()
        for issue in check_bars(
            bars,
            sessions=sessions,
            action_dates=action_dates,
            max_daily_move=self._options.max_daily_move,
        ):
            recorder.issue({"ticker": asset.ticker, **issue.as_dict()})

    async def _write_full(self, plan: _AssetPlan, bars: pd.DataFrame, command: UpdatePrices) -> int:
        asset_id = plan.asset.id
        assert asset_id is not None
        source = self._provider.name
        if command.start is not None and not command.full_refresh and not plan.source_changed:
            return await self._repos.prices.upsert(asset_id, bars, source)
        return await self._repos.prices.replace(asset_id, bars, source)


def _from(bars: pd.DataFrame, start: date | None) -> pd.DataFrame:
    """Only the sessions asked for: a vendor answering with more must not make old rows look new."""
    if start is None or bars.empty:
        return bars
    return bars.loc[bars["date"] >= start].reset_index(drop=True)


def _restated(stored: pd.DataFrame, fetched: pd.DataFrame, tolerance: float) -> bool:
    """True when the vendor's adjusted close on a date we already hold moved beyond tolerance."""
    if stored.empty:
        return False
    both = stored.merge(fetched, on="date", suffixes=("_old", "_new"))
    if both.empty:
        return False
    old = both["adj_close_old"].to_numpy(dtype=float)
    new = both["adj_close_new"].to_numpy(dtype=float)
    comparable = np.isfinite(old) & np.isfinite(new)
    if not comparable.any():
        return False
    relative = np.abs(new[comparable] - old[comparable]) / np.maximum(
        np.abs(old[comparable]), 1e-12
    )
    return bool((relative > tolerance).any())


def _new_or_changed(stored: pd.DataFrame, fetched: pd.DataFrame) -> pd.DataFrame:
    """Fetched rows on dates not stored, plus stored dates whose raw fields changed."""
    merged = fetched.merge(stored, on="date", how="left", suffixes=("", "_old"), indicator=True)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    differs = np.zeros(len(merged), dtype=bool)
    for column in _COMPARED:
        new = merged[column].to_numpy(dtype=float)
        old = merged[f"{column}_old"].to_numpy(dtype=float)
        both_nan = np.isnan(new) & np.isnan(old)
        differs |= ~both_nan & ~np.isclose(new, old, rtol=1e-9, atol=0.0, equal_nan=True)
    return fetched.loc[is_new | differs].reset_index(drop=True)


def _status(tally: _Tally) -> RunStatus:
    if tally.assets_failed and not tally.assets_ok:
        return RunStatus.FAILED
    return RunStatus.PARTIAL if tally.assets_failed else RunStatus.SUCCEEDED


def _chunks(items: Sequence[Asset], size: int) -> list[list[Asset]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


__all__ = ["IngestOptions", "IngestPrices"]
