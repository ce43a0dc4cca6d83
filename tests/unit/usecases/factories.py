"""Test data factories for the use-case tests."""

from __future__ import annotations

import uuid
from datetime import date

import numpy as np
import pandas as pd

from domain.model import Asset, AssetType, Currency, Exchange, Market


def us_asset(ticker: str, **overrides: object) -> Asset:
    fields: dict[str, object] = {
        "ticker": ticker,
        "name": f"{ticker} test asset",
        "market": Market.US,
        "exchange": Exchange.NYSEARCA,
        "currency": Currency.USD,
        "asset_type": AssetType.ETF,
    }
    fields.update(overrides)
    return Asset(**fields)  # type: ignore[arg-type]


def kr_asset(ticker: str, exchange: Exchange = Exchange.KOSPI) -> Asset:
    return Asset(
        ticker=ticker,
        name=f"{ticker} test",
        market=Market.KR,
        exchange=exchange,
        currency=Currency.KRW,
        asset_type=AssetType.STOCK,
    )


def business_days(start: str, end: str) -> list[date]:
    return [d.date() for d in pd.bdate_range(start, end)]


def bars(days: list[date], start_price: float = 100.0, seed: int = 1) -> pd.DataFrame:
    """A clean random walk with consistent OHLC; adj_close equals close (no actions yet)."""
    rng = np.random.default_rng(seed)
    close = start_price * np.exp(np.cumsum(rng.normal(0.0003, 0.01, len(days))))
    return pd.DataFrame(
        {
            "date": days,
            "open": close * 0.999,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": rng.integers(1_000, 10_000, len(days)).astype(float),
        }
    )


def random_id() -> str:
    return uuid.uuid4().hex[:8]
