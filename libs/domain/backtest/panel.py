"""Turning the loaded market data into aligned numpy arrays (docs/engine.md, "Inputs").

Everything here is as-of: a value at session ``t`` uses observations dated on or before ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from domain.backtest.errors import UnrunnableBacktest
from domain.model import Currency

# Money-market convention of the T-bill rate (FRED DTB3 is quoted on a 360-day basis).
RATE_DAY_BASIS = 360.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    """Prices of the universe on the union calendar of its markets, in the base currency.

    ``prices`` is forward-filled (a holiday in one market carries its last close); before an
    asset's first bar (or the first FX quote it needs) it holds a placeholder (see fill_prices). ``first_valid[j]`` is the
    first session where asset ``j`` has a price (``n_days`` if never). ``cash_growth`` is the
    cumulative growth of one unit of cash (1.0 on the first session).
    """

    dates: pd.DatetimeIndex
    labels: tuple[str, ...]
    prices: np.ndarray
    first_valid: np.ndarray
    start_idx: int
    cash_growth: np.ndarray
    benchmark: np.ndarray | None
    base_currency: Currency | None


def asof(series: pd.Series, dates: pd.DatetimeIndex) -> np.ndarray:
    """The last observation on or before each date (NaN before the first one)."""
    clean = series
    if clean.hasnans:
        clean = clean.dropna()
    if not clean.index.is_monotonic_increasing:
        clean = clean.sort_index()
    if not clean.index.is_unique:
        clean = clean[~clean.index.duplicated(keep="last")]
    if clean.empty:
        return np.full(len(dates), np.nan)
    idx = clean.index.searchsorted(dates, side="right") - 1
    values = clean.to_numpy(dtype=float)
    out = values[np.maximum(idx, 0)]
    out[idx < 0] = np.nan
    return out


def resolve_base_currency(
    currencies: dict[str, Currency], labels: tuple[str, ...], requested: Currency | None
) -> Currency | None:
    """The requested base, else the universe's single currency, else USD (mixed universes)."""
    if requested is not None:
        return requested
    found = {currencies[label] for label in labels if label in currencies}
    if len(found) == 1:
        return found.pop()
    return Currency.USD if found else None


def to_base(
    values: np.ndarray, currency: Currency | None, base: Currency | None, fx: np.ndarray | None
) -> np.ndarray:
    """Convert prices quoted in ``currency`` to ``base`` with FX in KRW per USD."""
    if currency is None or base is None or currency == base:
        return values
    if fx is None:
        raise UnrunnableBacktest(
            f"converting {currency} prices to {base} needs the FX series (FRED DEXKOUS)",
            [{"field": "base_currency", "message": "FX series (DEXKOUS) missing"}],
        )
    rate = fx if values.ndim == 1 else fx[:, None]
    result: np.ndarray = values / rate if currency == Currency.KRW else values * rate
    return result


def cash_growth(risk_free: pd.Series | None, dates: pd.DatetimeIndex) -> np.ndarray:
    """Cumulative growth of cash: session t accrues the rate known at t-1 (annualised %) over the
    calendar days between the two sessions, act/360. No series → cash earns nothing."""
    if risk_free is None or len(dates) < 2:
        return np.ones(len(dates))
    rate = np.nan_to_num(asof(risk_free, dates), nan=0.0) / 100.0
    days = np.diff(dates.values.astype("datetime64[D]").astype(np.int64))
    growth = np.empty(len(dates))
    growth[0] = 1.0
    np.cumprod(1.0 + rate[:-1] * days / RATE_DAY_BASIS, out=growth[1:])
    return growth


def first_valid_index(prices: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """First session with a price, per column (``n_days`` if never); ``missing`` is
    ``isnan(prices)`` when the caller already has it. Only columns with a hole are searched."""
    if missing is None:
        missing = np.isnan(prices)
    result: np.ndarray = np.zeros(prices.shape[1], dtype=np.intp)
    columns = np.flatnonzero(missing.any(axis=0))
    if len(columns):
        valid = ~missing[:, columns]
        result[columns] = np.where(valid.any(axis=0), valid.argmax(axis=0), prices.shape[0])
    return result


def fill_prices(
    prices: np.ndarray, first_valid: np.ndarray, missing: np.ndarray | None = None
) -> np.ndarray:
    """Carry the last close over sessions without a bar; in place, vectorised, column-wise.

    Sessions before an asset's first bar get its first close: a finite placeholder the engine
    never values a holding at (it never holds an unlisted asset, and ``first_valid`` gates every
    signal), so no NaN can leak into a NAV and no price is ever zero. ``missing`` is
    ``isnan(prices)`` when the caller already has it."""
    if missing is None:
        missing = np.isnan(prices)
    columns = np.flatnonzero(missing.any(axis=0))
    if len(columns) == 0:
        return prices
    sub = prices[:, columns]
    rows = np.where(missing[:, columns], 0, np.arange(len(prices))[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    never = first_valid[columns] >= len(prices)
    rows = np.maximum(rows, np.where(never, 0, first_valid[columns])[None, :])
    filled = np.take_along_axis(sub, rows, axis=0)
    filled[:, never] = 1.0  # never traded in the window: never eligible either
    prices[:, columns] = filled
    return prices
