"""An independent, obviously-correct reference: a plain loop over the days.

It restates the documented conventions (docs/engine.md) without sharing code with the engine:
decide at the first session of the window and at the last session of each month, trade at the
next session's close, carry missing prices forward, no cash interest, proportional fees taken
from the traded value.
"""

from __future__ import annotations

import math

import pandas as pd


def reference_nav(
    prices: pd.DataFrame,
    start: str,
    end: str,
    target: dict[str, float] | None,
    capital: float,
    fee_rate: float = 0.0,
) -> list[float]:
    """``target`` None means equal weight across assets with a bar on or before the decision."""
    frame = prices.loc[:end]
    dates = list(frame.index)
    labels = list(frame.columns)
    last_price: dict[str, float] = {}
    filled: list[dict[str, float]] = []
    for values in frame.itertuples(index=False):
        row = {}
        for label, value in zip(labels, values, strict=True):
            if not math.isnan(value):
                last_price[label] = float(value)
            if label in last_price:
                row[label] = last_price[label]
        filled.append(row)
    first = next(i for i, d in enumerate(dates) if d >= pd.Timestamp(start))
    units: dict[str, float] = {}
    cash = capital
    pending: dict[str, float] | None = None
    navs = []
    for i in range(first, len(dates)):
        value = cash + sum(u * filled[i][label] for label, u in units.items())
        if pending is not None:
            value = _trade(pending, filled[i], units, value, fee_rate)
            cash = value - sum(u * filled[i][label] for label, u in units.items())
            pending = None
        navs.append(value)
        month_ends = i + 1 < len(dates) and dates[i + 1].month != dates[i].month
        if i == first or month_ends:
            if target is None:
                listed = [label for label in labels if label in filled[i]]
                pending = {label: 1.0 / len(listed) for label in listed}
            else:
                pending = {k: v for k, v in target.items() if k in filled[i]}
    return navs


def _trade(
    weights: dict[str, float],
    prices: dict[str, float],
    units: dict[str, float],
    value: float,
    fee_rate: float,
) -> float:
    after = value
    for _ in range(50):  # fee = rate × traded notional, solved by plain iteration
        traded = 0.0
        for label in set(weights) | set(units):
            held = units.get(label, 0.0) * prices[label]
            traded += abs(weights.get(label, 0.0) * after - held)
        after = value - fee_rate * traded
    units.clear()
    for label, weight in weights.items():
        units[label] = weight * after / prices[label]
    return after
