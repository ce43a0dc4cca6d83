"""In-memory market and macro data providers: histories set by the test, served like a vendor.

A test restates a history (a split, a dividend, a revision) by assigning a new frame; failures
and transient errors are scripted per ticker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from domain.errors import NotFound, ProviderUnavailable
from domain.model import Asset, MacroSeries, normalize_bars
from domain.ports import PriceFetch


class InMemoryMarketDataProvider:
    name = "memory"

    def __init__(self, histories: dict[str, pd.DataFrame] | None = None) -> None:
        # Keyed by provider symbol (``005930.KS``), as a vendor knows them.
        self.histories: dict[str, pd.DataFrame] = {
            k: normalize_bars(v) for k, v in (histories or {}).items()
        }
        self.failures: dict[str, str] = {}
        self.transient_failures = 0
        self.calls: list[tuple[tuple[str, ...], date | None, date | None]] = []

    async def fetch(
        self, assets: Sequence[Asset], start: date | None, end: date | None
    ) -> PriceFetch:
        self.calls.append((tuple(a.provider_symbol for a in assets), start, end))
        if self.transient_failures:
            self.transient_failures -= 1
            raise ProviderUnavailable("scripted transient failure")
        bars: dict[int, pd.DataFrame] = {}
        failures: dict[int, str] = {}
        for asset in assets:
            assert asset.id is not None
            symbol = asset.provider_symbol
            if symbol in self.failures:
                failures[asset.id] = self.failures[symbol]
            elif symbol not in self.histories:
                failures[asset.id] = f"unknown symbol {symbol}"
            else:
                bars[asset.id] = _between(self.histories[symbol], start, end)
        return PriceFetch(bars=bars, failures=failures)


class InMemoryMacroDataProvider:
    name = "memory"

    def __init__(self, series: dict[MacroSeries, pd.DataFrame] | None = None) -> None:
        self.series = {s.code: s for s in (series or {})}
        self.observations: dict[str, pd.DataFrame] = {
            s.code: f.copy() for s, f in (series or {}).items()
        }
        self.calls: list[tuple[str, date | None]] = []

    def catalog(self) -> list[MacroSeries]:
        return list(self.series.values())

    async def fetch(self, code: str, start: date | None) -> pd.DataFrame:
        self.calls.append((code, start))
        if code not in self.observations:
            raise NotFound(f"unknown series {code}")
        frame = self.observations[code]
        if start is not None:
            frame = frame[pd.to_datetime(frame["date"]).dt.date >= start]
        return frame.reset_index(drop=True).copy()


def _between(frame: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    if start is not None:
        mask &= frame["date"] >= start
    if end is not None:
        mask &= frame["date"] <= end
    return frame.loc[mask].reset_index(drop=True).copy()
