"""Providers over a directory of CSV files (users' own data; tests' real vendor data).

Layout (as ``../shared/data/canonical``): ``prices/<TICKER>.csv`` with
``date,open,high,low,close,adj_close,volume`` (KR instruments named by their 6-digit code),
``macro/<SERIES>.csv`` with ``date,value`` (an empty value is missing: NaN, never zero) and
``assets.csv`` (the universe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd

from adapters.universe import load_assets_csv, load_macro_series_csv, seed_macro_series
from domain.errors import NotFound
from domain.model import BAR_COLUMNS, Asset, MacroSeries, empty_bars, normalize_bars
from domain.ports import PriceFetch

CSV_NAME = "csv"


def load_universe_csv(directory: Path | str) -> list[Asset]:
    """The assets listed in ``<directory>/assets.csv``."""
    return load_assets_csv(Path(directory) / "assets.csv")


def _read_bars(path: Path, start: date | None, end: date | None) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"date": str})
    missing = [c for c in BAR_COLUMNS if c not in frame.columns and c != "adj_close"]
    if missing:
        raise ValueError(f"{path.name} lacks columns {missing}")
    if "adj_close" not in frame.columns:
        # Files without an adjusted close are taken as unadjusted for dividends.
        frame["adj_close"] = frame["close"]
    bars = normalize_bars(frame)
    if start is not None:
        bars = bars[bars["date"] >= start]
    if end is not None:
        bars = bars[bars["date"] <= end]
    return bars.reset_index(drop=True)


class CsvMarketDataProvider:
    """Bars from ``<directory>/prices/<TICKER>.csv``; a missing or unreadable file fails that
    asset only. An empty full history is a failure; an empty window after ``start`` is not
    (nothing new since the last run)."""

    name = CSV_NAME

    def __init__(self, directory: Path | str) -> None:
        self._prices = Path(directory) / "prices"

    def _fetch_sync(
        self, assets: Sequence[Asset], start: date | None, end: date | None
    ) -> PriceFetch:
        bars: dict[int, pd.DataFrame] = {}
        failures: dict[int, str] = {}
        for asset in assets:
            if asset.id is None:
                raise ValueError(f"asset {asset.ticker} has no id")
            path = self._prices / f"{asset.ticker}.csv"
            if not path.is_file():
                failures[asset.id] = f"no price file {path.name}"
                continue
            try:
                frame = _read_bars(path, start, end)
            except (ValueError, pd.errors.ParserError) as exc:
                failures[asset.id] = f"unreadable price file {path.name}: {exc}"
                continue
            if frame.empty and start is None:
                failures[asset.id] = f"empty history in {path.name}"
                continue
            bars[asset.id] = frame if not frame.empty else empty_bars()
        return PriceFetch(bars=bars, failures=failures)

    async def fetch(
        self, assets: Sequence[Asset], start: date | None, end: date | None
    ) -> PriceFetch:
        # Parsing a few hundred thousand rows takes long enough to stall the event loop.
        return await asyncio.to_thread(self._fetch_sync, assets, start, end)


class CsvMacroDataProvider:
    """Observations from ``<directory>/macro/<SERIES>.csv``. The catalog is the project's
    seed catalog restricted to the series present (or ``macro_series.csv`` when the
    directory has one)."""

    name = CSV_NAME

    def __init__(self, directory: Path | str) -> None:
        self._directory = Path(directory)
        self._macro = self._directory / "macro"

    def catalog(self) -> list[MacroSeries]:
        own = self._directory / "macro_series.csv"
        known = load_macro_series_csv(own) if own.is_file() else seed_macro_series()
        return [s for s in known if (self._macro / f"{s.code}.csv").is_file()]

    def _read(self, code: str, start: date | None) -> pd.DataFrame:
        path = self._macro / f"{code}.csv"
        if not path.is_file():
            raise NotFound(f"macro series {code!r} has no file {path.name}")
        frame = pd.read_csv(path, dtype={"date": str})
        out = pd.DataFrame(
            {
                "date": pd.to_datetime(frame["date"]).dt.date,
                # Empty cells and FRED's "." are missing: NaN, stored as NULL.
                "value": pd.to_numeric(frame["value"], errors="coerce").astype("float64"),
            }
        )
        if start is not None:
            out = out[out["date"] >= start]
        return out.sort_values("date").reset_index(drop=True)

    async def fetch(self, code: str, start: date | None) -> pd.DataFrame:
        return await asyncio.to_thread(self._read, code, start)
