"""Parse asset and macro-series catalogs from CSV (the shipped seed or a user's directory)."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path
from typing import IO

from domain.model import (
    MARKET_CURRENCY,
    Asset,
    AssetType,
    Currency,
    Exchange,
    MacroFrequency,
    MacroSeries,
    Market,
)

# Vendors spell exchanges differently; accept the common aliases so users' files load as-is.
_EXCHANGE_ALIASES: dict[str, Exchange] = {
    "ARCA": Exchange.NYSEARCA,
    "NYSE ARCA": Exchange.NYSEARCA,
    "NYSEARCA": Exchange.NYSEARCA,
    "PCX": Exchange.NYSEARCA,
    "NMS": Exchange.NASDAQ,
    "NGM": Exchange.NASDAQ,
    "NCM": Exchange.NASDAQ,
    "NASDAQ": Exchange.NASDAQ,
    "NYQ": Exchange.NYSE,
    "NYSE": Exchange.NYSE,
    "BATS": Exchange.BATS,
    "BZX": Exchange.BATS,
    "KOSPI": Exchange.KOSPI,
    "KSC": Exchange.KOSPI,
    "KOSDAQ": Exchange.KOSDAQ,
    "KOE": Exchange.KOSDAQ,
}


def parse_exchange(value: str) -> Exchange:
    try:
        return _EXCHANGE_ALIASES[value.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown exchange {value!r}") from None


def _asset_from_row(row: dict[str, str], line: int) -> Asset:
    try:
        market = Market(row["market"].strip().upper())
        exchange = parse_exchange(row["exchange"])
        currency_text = (row.get("currency") or "").strip().upper()
        currency = Currency(currency_text) if currency_text else MARKET_CURRENCY[market]
        sector = (row.get("sector") or "").strip() or None
        # KR tickers are 6-digit KRX codes stored bare; a file may carry the Yahoo suffix.
        ticker = row["ticker"].strip().upper().removesuffix(".KS").removesuffix(".KQ")
        return Asset(
            ticker=ticker,
            name=row["name"].strip(),
            market=market,
            exchange=exchange,
            currency=currency,
            asset_type=AssetType(row["asset_type"].strip().lower()),
            sector=sector,
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"assets.csv line {line}: {exc}") from exc


def _read_assets(handle: IO[str]) -> list[Asset]:
    return [_asset_from_row(row, i) for i, row in enumerate(csv.DictReader(handle), start=2)]


def _read_series(handle: IO[str]) -> list[MacroSeries]:
    series: list[MacroSeries] = []
    for line, row in enumerate(csv.DictReader(handle), start=2):
        try:
            series.append(
                MacroSeries(
                    code=row["code"].strip().upper(),
                    name=row["name"].strip(),
                    frequency=MacroFrequency(row["frequency"].strip().upper()),
                    units=row["units"].strip(),
                )
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"macro_series.csv line {line}: {exc}") from exc
    return series


def load_assets_csv(path: Path) -> list[Asset]:
    """Assets from a CSV with columns ticker,name,market,exchange,currency,asset_type,sector
    (extra columns such as provider_symbol are ignored: the symbol follows from the exchange)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return _read_assets(handle)


def load_macro_series_csv(path: Path) -> list[MacroSeries]:
    """Series from a CSV with columns code,name,frequency,units."""
    with path.open(encoding="utf-8", newline="") as handle:
        return _read_series(handle)


def seed_assets() -> list[Asset]:
    """The universe shipped with the project (US ETFs and stocks, KOSPI and KOSDAQ)."""
    with resources.files(__package__).joinpath("assets.csv").open(encoding="utf-8") as handle:
        return _read_assets(handle)


def seed_macro_series() -> list[MacroSeries]:
    """The FRED series catalog shipped with the project."""
    ref = resources.files(__package__).joinpath("macro_series.csv")
    with ref.open(encoding="utf-8") as handle:
        return _read_series(handle)
