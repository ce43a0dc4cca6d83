"""Macro series: the catalog and a series' observations, optionally transformed.

Business rules:

- ``start`` must not be after ``end``; an unknown series code is NotFound.
- Transforms: ``yoy`` and ``mom`` are the percent change against the last observation on or
  before the same date a year (a month) earlier, found by date rather than by row count so
  daily and weekly series with gaps compare with the right observation; ``diff`` is the change
  from the previous observation. A transformed value with nothing that early to compare with
  is undefined (NaN). Observations before ``start`` are read as far as a transform needs so
  its first value in range is defined, then left out.
- Observations are labelled with the source that wrote them: they are used only when the
  series' source is the same after they were read as before (a change of provider replaces the
  whole history in one transaction), re-read up to ``CONSISTENT_READ_ATTEMPTS`` times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import pandas as pd

from domain.errors import NotFound, StorageUnavailable
from domain.model import MacroSeries
from domain.ports import MacroRepository
from domain.usecases.reads import CONSISTENT_READ_ATTEMPTS, check_date_range

Transform = Literal["yoy", "mom", "diff"]
# How far before ``start`` a transform must read so its first value is defined.
_WARMUP: dict[str, timedelta] = {
    "yoy": timedelta(days=380),
    "mom": timedelta(days=40),
    "diff": timedelta(days=120),
}


class ListMacroSeries:
    """The macro series catalog."""

    def __init__(self, *, macro: MacroRepository) -> None:
        self._macro = macro

    async def __call__(self) -> list[MacroSeries]:
        return await self._macro.list_series()


@dataclass(frozen=True, slots=True, kw_only=True)
class MacroObservationsRequest:
    code: str
    start: date | None = None
    end: date | None = None
    transform: Transform | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MacroObservations:
    """``values`` is indexed by observation date (a DatetimeIndex); NaN where undefined."""

    series: MacroSeries
    transform: Transform | None
    values: pd.Series


class GetMacroObservations:
    """One series' observations in a date range, optionally transformed."""

    def __init__(self, *, macro: MacroRepository) -> None:
        self._macro = macro

    async def __call__(self, request: MacroObservationsRequest) -> MacroObservations:
        check_date_range(request.start, request.end)
        start, transform = request.start, request.transform
        read_from = start - _WARMUP[transform] if (start and transform) else start
        series, frame = await self._labelled_observations(request.code, read_from, request.end)
        values = transformed(frame, transform)
        if start is not None:
            values = values[values.index >= pd.Timestamp(start)]
        return MacroObservations(series=series, transform=transform, values=values)

    async def _labelled_observations(
        self, code: str, start: date | None, end: date | None
    ) -> tuple[MacroSeries, pd.DataFrame]:
        series = await self._macro.get_series(code)
        for _ in range(CONSISTENT_READ_ATTEMPTS):
            if series is None:
                raise NotFound(f"macro series {code!r} does not exist")
            frame = await self._macro.read_observations(code, start, end)
            after = await self._macro.get_series(code)
            if after is not None and after.source == series.source:
                return series, frame
            series = after
        raise StorageUnavailable(f"macro series {code!r} kept changing while it was read; retry")


def transformed(frame: pd.DataFrame, transform: Transform | None) -> pd.Series:
    """The ``value`` column of ``frame`` by date, transformed (see the module rules)."""
    index = pd.DatetimeIndex(pd.to_datetime(frame["date"]))
    values = pd.Series(frame["value"].to_numpy(dtype="float64"), index=index)
    if transform is None or values.empty:
        return values
    if transform == "diff":
        return values.diff()
    offset = pd.DateOffset(years=1) if transform == "yoy" else pd.DateOffset(months=1)
    known = values.dropna()
    if known.empty:
        return values * float("nan")
    targets = index - offset
    prior = known.reindex(targets, method="ffill").to_numpy(dtype="float64", copy=True)
    prior[targets < known.index[0]] = float("nan")  # nothing that early to compare with
    return pd.Series((values.to_numpy() / prior - 1.0) * 100.0, index=index)
