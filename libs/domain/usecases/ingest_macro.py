"""IngestMacro: keep the FRED series current and pick up revisions.

Business rules
- The catalog of series is upserted first, so a new series is a data change.
- For a series already stored, the last ``revision_window`` observations are fetched again every
  time and upserted, so revised values replace old ones; older history is never re-fetched.
- Missing values (FRED's ".") are stored as NULL, never as zero, never dropped.
- Re-running writes nothing new; each series is written in one transaction.
- A series' stored observations are from one provider, recorded with them
  (``MacroSeries.source``): when they came from another provider, or from one not recorded,
  the whole history is fetched again and replaced.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from domain.errors import NotFound
from domain.messages import UpdateMacro
from domain.model import IngestionRun, RunStatus
from domain.ports import Clock, MacroDataProvider, Repositories, Telemetry
from domain.usecases.runs import RunRecorder, report_finished


@dataclass(frozen=True, slots=True, kw_only=True)
class MacroOptions:
    revision_window: int = 24


class IngestMacro:
    def __init__(
        self,
        *,
        repositories: Repositories,
        provider: MacroDataProvider,
        clock: Clock,
        options: MacroOptions = MacroOptions(),
        telemetry: Telemetry | None = None,
    ) -> None:
        self._repos = repositories
        self._provider = provider
        self._clock = clock
        self._options = options
        self._telemetry = telemetry

    async def __call__(
        self,
        command: UpdateMacro,
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
        catalog = {s.code: s for s in self._provider.catalog()}
        if not command.dry_run:
            await self._repos.macro.upsert_series(list(catalog.values()))
        codes = command.series or sorted(catalog)
        # Who wrote each stored series, read once for the run rather than once per series.
        stored_sources = {s.code: s.source for s in await self._repos.macro.list_series()}
        counts = {"series_ok": 0, "series_failed": 0, "rows_written": 0}
        for code in codes:
            try:
                written = await self._ingest_series(
                    code, command, recorder, stored_sources.get(code)
                )
            except NotFound as exc:
                recorder.fail(code, str(exc) or "unknown series")
                counts["series_failed"] += 1
                continue
            counts["series_ok"] += 1
            counts["rows_written"] += written
            if heartbeat is not None:
                await heartbeat()
        status = RunStatus.SUCCEEDED
        if counts["series_failed"]:
            status = RunStatus.PARTIAL if counts["series_ok"] else RunStatus.FAILED
        run = await recorder.finish(counts, status)
        report_finished(self._telemetry, run)
        return run

    async def _ingest_series(
        self,
        code: str,
        command: UpdateMacro,
        recorder: RunRecorder,
        stored_source: str | None,
    ) -> int:
        stored = await self._repos.macro.read_observations(code)
        source = self._provider.name
        if not stored.empty and stored_source != source:
            history = await self._provider.fetch(code, None)
            recorder.note_source_changed(code, stored_source, source, subject_key="series")
            if command.dry_run:
                return len(history)
            return await self._repos.macro.replace_observations(code, history, source)
        start = command.start
        if start is None and not stored.empty:
            window = stored["date"].iloc[-self._options.revision_window :]
            start = window.iloc[0]
        fetched = await self._provider.fetch(code, start)
        changed = _new_or_revised(stored, fetched)
        if changed.empty or command.dry_run:
            return len(changed)
        return await self._repos.macro.upsert_observations(code, changed, source)


def _new_or_revised(stored: pd.DataFrame, fetched: pd.DataFrame) -> pd.DataFrame:
    if fetched.empty:
        return fetched
    fetched = fetched.assign(date=pd.to_datetime(fetched["date"]).dt.date)
    merged = fetched.merge(stored, on="date", how="left", suffixes=("", "_old"), indicator=True)
    new = merged["value"].to_numpy(dtype=float)
    old = merged["value_old"].to_numpy(dtype=float)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    revised = ~np.isclose(new, old, rtol=1e-12, atol=0.0, equal_nan=True)
    changed: pd.DataFrame = fetched.loc[is_new | revised, ["date", "value"]]
    return changed.reset_index(drop=True)
