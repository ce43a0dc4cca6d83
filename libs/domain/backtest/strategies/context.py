"""What a strategy may look at on each decision date, and the date arithmetic on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from domain.backtest.panel import SessionIndex


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalContext:
    """What a strategy may look at. Row ``d`` of ``prices`` is the close of session ``d``."""

    dates: pd.DatetimeIndex
    labels: tuple[str, ...]
    prices: np.ndarray  # forward-filled, base currency, NaN before listing
    first_valid: np.ndarray
    cash_growth: np.ndarray
    decisions: np.ndarray
    session_index: SessionIndex | None = None  # integer day/month numbers: fast month arithmetic

    def months_back(self, months: int, sessions: np.ndarray | None = None) -> np.ndarray:
        """For each decision, the last session on or before its date minus ``months`` calendar
        months (``pd.DateOffset`` semantics; -1 when the panel does not reach back that far)."""
        at = self.decisions if sessions is None else sessions
        if months == 0:
            return at.copy()
        if self.session_index is not None:
            found = self.session_index.months_back(at, months)
            if found is not None:
                return found
        # Wall-clock months, also across DST shifts of tz-aware dates.
        target = self.dates[at] - pd.DateOffset(months=months)
        return np.asarray(self.dates.searchsorted(target, side="right") - 1)

    def listed_since(self, since: np.ndarray) -> np.ndarray:
        """decisions × assets: the asset has a price at session ``since`` (so a full window)."""
        return (since[:, None] >= 0) & (self.first_valid[None, :] <= since[:, None])

    def column(self, label: str | None) -> int | None:
        return None if label is None else self.labels.index(label)

    def label_order(self) -> np.ndarray:
        """Column indices sorted by label: the tie-break order, independent of column order."""
        return np.asarray(sorted(range(len(self.labels)), key=self.labels.__getitem__))

    def trailing_return(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """decisions × assets: the return from close ``start`` to close ``end`` of each row."""
        safe_start = np.maximum(start, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            result: np.ndarray = self.prices[end] / self.prices[safe_start] - 1.0
        return result
