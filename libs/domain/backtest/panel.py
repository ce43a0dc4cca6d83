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


# Month starts kept before the panel's first session for month arithmetic: the longest
# lookback plus skip (60 + 12 months) and more.
_MONTHS_BEFORE = 120


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionIndex:
    """The panel's sessions as integers (tz-naive dates only): day and month number of each
    session, computed once per panel so that month arithmetic and period ends need no datetime
    conversion per call. Integer arithmetic and searches here replace ``pd.DateOffset`` on the
    hot path of every strategy; ``tests/unit/engine/test_fast_paths.py`` holds them to it."""

    stamps: np.ndarray  # int64 in the index's unit
    day: np.ndarray  # days since 1970-01-01 (floor)
    month: np.ndarray  # months since 1970-01
    units_per_day: int
    month_start: np.ndarray  # day number of the 1st of months first_month, first_month + 1, …
    first_month: int

    @classmethod
    def of(cls, dates: pd.DatetimeIndex) -> SessionIndex | None:
        if dates.tz is not None or len(dates) == 0:
            return None
        values = dates.values
        one_day = np.array([1], dtype="datetime64[D]").astype(values.dtype).view(np.int64)
        day = values.astype("datetime64[D]").astype(np.int64)
        ends = day[[0, -1]].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        first_month = int(ends[0]) - _MONTHS_BEFORE
        months = np.arange(first_month, int(ends[1]) + 2).astype("datetime64[M]")
        month_start = months.astype("datetime64[D]").astype(np.int64)
        # Each session's month by a search in the month starts (sessions are sorted): far
        # cheaper than numpy's calendar conversion of every date.
        month = first_month + month_start.searchsorted(day, "right") - 1
        return cls(
            stamps=values.view(np.int64),
            day=day,
            month=month,
            units_per_day=int(one_day[0]),
            month_start=month_start,
            first_month=first_month,
        )

    def months_back(self, sessions: np.ndarray, months: int | np.ndarray) -> np.ndarray | None:
        """The last session on or before each session's date minus ``months`` calendar months
        (``pd.DateOffset`` semantics: the same day of the month, clipped to the month's last
        day, same time), -1 before the first; None if the table does not reach back that far.
        ``months`` may be one number per session."""
        now = self.month[sessions] - self.first_month
        then = now - months
        if len(then) and then.min() < 0:
            return None
        start = self.month_start[then]
        length = self.month_start[then + 1] - start
        day = self.day[sessions]
        day_of_month = day - self.month_start[now]
        time_of_day = self.stamps[sessions] - day * self.units_per_day
        target = (start + np.minimum(day_of_month, length - 1)) * self.units_per_day + time_of_day
        result: np.ndarray = self.stamps.searchsorted(target, "right") - 1
        return result


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    """Prices of the universe on the union calendar of its markets, in the base currency.

    ``prices`` is forward-filled (a holiday in one market carries its last close); before an
    asset's first bar (or the first FX quote it needs) it holds a placeholder (see
    ``repair_columns``). ``first_valid[j]`` is the first session where asset ``j`` has a price
    (``n_days`` if never). ``cash_growth`` is the cumulative growth of one unit of cash (1.0 on
    the first session).
    """

    dates: pd.DatetimeIndex
    labels: tuple[str, ...]
    prices: np.ndarray
    first_valid: np.ndarray
    start_idx: int
    cash_growth: np.ndarray
    benchmark: np.ndarray | None
    base_currency: Currency | None
    session_index: SessionIndex | None = None  # None for tz-aware dates (pandas does the months)


def asof(series: pd.Series, dates: pd.DatetimeIndex) -> np.ndarray:
    """The last observation on or before each date (NaN before the first one)."""
    stamps = dates.asi8
    if (
        len(series) == len(dates)
        and (stamps[1:] > stamps[:-1]).all()
        and series.index.equals(dates)
        and not series.hasnans
    ):  # already on the dates (a benchmark column of the panel): every date is its own as-of
        same: np.ndarray = series.to_numpy(dtype=float, copy=True)
        return same
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


def repair_columns(prices: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Carry the last close over sessions without a bar, in place, and return each asset's first
    session with a price (``n_days`` if never). Only ``columns`` (those with a hole or a
    non-positive close, which is a missing bar, never a price) are touched; vectorised.

    Sessions before an asset's first bar get its first close: a finite placeholder the engine
    never values a holding at (it never holds an unlisted asset, and ``first_valid`` gates every
    signal), so no NaN can leak into a NAV and no price is ever zero."""
    n = prices.shape[0]
    first_valid: np.ndarray = np.zeros(prices.shape[1], dtype=np.intp)
    if len(columns) == 0:
        return first_valid
    # One contiguous row per repaired column: reductions along sessions are then fast whatever
    # the panel's width (a column of a row-major panel is strided).
    sub = np.ascontiguousarray(prices[:, columns].T)
    valid = sub > 0  # False on NaN
    found = valid.any(axis=1)
    first = np.where(found, valid.argmax(axis=1), n)
    first_valid[columns] = first
    # Most gaps are a late listing: every bar from the first on. Those columns need only their
    # head set to the first close (or to 1.0 if they never trade); the rest carry closes forward.
    late_only = valid.sum(axis=1) == n - first
    for j, column, head in zip(
        np.flatnonzero(late_only).tolist(),
        columns[late_only].tolist(),
        first[late_only].tolist(),
        strict=True,
    ):
        prices[:head, column] = sub[j, head] if head < n else 1.0
    gaps = ~late_only
    if gaps.any():
        prices[:, columns[gaps]] = _carry_forward(sub[gaps], valid[gaps], first[gaps]).T
    return first_valid


def _carry_forward(sub: np.ndarray, valid: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Each entry (rows: columns, along: sessions) replaced by the last valid one at or before
    it (the first one before it; 1.0 in a row without any)."""
    n = sub.shape[1]
    found = first < n
    at = np.where(valid, np.arange(n)[None, :], 0)
    np.maximum.accumulate(at, axis=1, out=at)
    np.maximum(at, np.where(found, first, 0)[:, None], out=at)
    filled = np.take_along_axis(sub, at, axis=1)
    filled[~found] = 1.0  # never traded in the window: never eligible either
    return filled
