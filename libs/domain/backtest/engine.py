"""Backtest engine (stand-in: equal weight, calendar rebalancing; replaced by the full engine)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from domain.backtest.spec import BacktestSpec
from domain.model import Currency

TRADING_DAYS = 252


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketData:
    """Inputs of one backtest, already loaded. ``prices``: DatetimeIndex × one column per
    universe label (adjusted closes, NaN where an asset has no bar). ``risk_free``: annualised
    percent (FRED DTB3). ``fx``: KRW per USD (FRED DEXKOUS)."""

    prices: pd.DataFrame
    currencies: dict[str, Currency] = field(default_factory=dict)
    benchmark: pd.Series | None = None
    benchmark_currency: Currency | None = None
    risk_free: pd.Series | None = None
    fx: pd.Series | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestOutcome:
    nav: pd.Series
    benchmark_nav: pd.Series | None
    weights: list[dict[str, Any]]
    metrics: dict[str, float | None]
    analytics: dict[str, Any] = field(default_factory=dict)


def run_backtest(spec: BacktestSpec, data: MarketData) -> BacktestOutcome:
    prices = data.prices.loc[str(spec.start) : str(spec.end)].ffill()
    if prices.empty:
        raise ValueError("no prices in the requested range")
    returns = prices.pct_change().fillna(0.0).to_numpy()
    period = prices.index.to_period(spec.rebalance)
    rebalance_days = np.flatnonzero(np.r_[True, period[1:] != period[:-1]])
    nav = np.empty(len(prices))
    weights = np.full(prices.shape[1], 1.0 / prices.shape[1])
    holdings = weights.copy()
    value = spec.initial_capital
    records = []
    for i in range(len(prices)):
        if i > 0:
            growth = holdings * (1 + returns[i])
            value *= growth.sum() / holdings.sum()
            holdings = growth / growth.sum()
        if i in set(rebalance_days.tolist()):
            holdings = weights.copy()
            records.append({"date": prices.index[i].date().isoformat(),
                            "weights": dict(zip(prices.columns, weights.tolist(), strict=True))})
        nav[i] = value
    nav_series = pd.Series(nav, index=prices.index)
    daily = nav_series.pct_change().dropna()
    years = (prices.index[-1] - prices.index[0]).days / 365.25
    metrics: dict[str, float | None] = {
        "total_return": float(nav[-1] / nav[0] - 1),
        "cagr": float((nav[-1] / nav[0]) ** (1 / years) - 1) if years > 0 else None,
        "volatility": float(daily.std() * np.sqrt(TRADING_DAYS)),
        "max_drawdown": float((nav_series / nav_series.cummax() - 1).min()),
    }
    return BacktestOutcome(nav=nav_series, benchmark_nav=None, weights=records, metrics=metrics)
