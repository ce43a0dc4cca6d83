"""Loading real prices from the shared vendor data, and small synthetic panels."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from domain.backtest import MarketData
from tests.support.shared_data import shared_data_dir


@cache
def _adj_close(ticker: str) -> pd.Series:
    path = shared_data_dir() / "canonical" / "prices" / f"{ticker}.csv"
    frame = pd.read_csv(path, usecols=["date", "adj_close"], parse_dates=["date"], index_col="date")
    return frame["adj_close"].rename(ticker)


@cache
def _macro(code: str) -> pd.Series:
    path = shared_data_dir() / "canonical" / "macro" / f"{code}.csv"
    frame = pd.read_csv(path, parse_dates=["date"], index_col="date")
    return frame["value"].rename(code)


def real_prices(*tickers: str) -> pd.DataFrame:
    """Adjusted closes on the union of the tickers' sessions (NaN where one has no bar)."""
    return pd.concat([_adj_close(t) for t in tickers], axis=1, sort=True)


def dtb3() -> pd.Series:
    return _macro("DTB3").copy()


def dexkous() -> pd.Series:
    return _macro("DEXKOUS").copy()


def synthetic(
    n_days: int, labels: list[str], seed: int = 7, start: str = "2010-01-01"
) -> pd.DataFrame:
    """Geometric random walks on business days."""
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0003, 0.01, size=(n_days, len(labels)))
    prices = 100.0 * np.exp(np.cumsum(returns, axis=0))
    return pd.DataFrame(prices, index=pd.bdate_range(start, periods=n_days), columns=labels)


def market(prices: pd.DataFrame, **kwargs: object) -> MarketData:
    return MarketData(prices=prices, **kwargs)  # type: ignore[arg-type]
