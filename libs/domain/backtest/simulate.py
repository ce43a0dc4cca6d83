"""Holding a portfolio between trades (docs/engine.md, "Execution, costs and cash").

Between two trades the share counts are constant, so the whole NAV path is vectorised: with
``S_k = w_k / P[e_k]`` (units bought per unit of value at trade ``k``), the value per unit at
session ``t`` of segment ``k`` is ``g(t) = P[t]·S_k + cash_k · G[t]/G[e_k]``, and the value after
each trade is a cumulative product of segment growths and (1 − fee fraction). Weights drift,
fees and NAV are therefore independent of scale, except for a minimum fee in currency units,
which the (slower) sequential path handles. Only band triggers need a loop over segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domain.backtest.spec import RebalanceBand

_FEE_ITERATIONS = 8  # fixed point c = f·Σ|w(1−c) − d|; contraction factor ≤ f, so f⁸ error
_TRADE_EPSILON = 1e-9  # trades below this share of NAV are rounding, not trades (no min fee)


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """Target weights (rows) decided at ``decisions`` and executed at ``executions``."""

    decisions: np.ndarray
    executions: np.ndarray
    targets: np.ndarray
    triggers: np.ndarray  # "calendar" or "band"


@dataclass(frozen=True, slots=True, kw_only=True)
class Costs:
    fee_rate: float
    min_fee: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Simulation:
    """``nav`` over the window; per trade: ``drifted`` weights just before it, ``turnover``
    (traded notional / value before the trade) and ``fees`` in currency."""

    nav: np.ndarray
    schedule: Schedule
    drifted: np.ndarray
    turnover: np.ndarray
    fees: np.ndarray


def apply_bands(
    prices: np.ndarray, schedule: Schedule, band: RebalanceBand | None, lag: int
) -> Schedule:
    """Insert a trade back to the current target wherever a weight leaves its band.

    A breach seen at a close is a decision at that close, executed ``lag`` sessions later like
    any calendar decision. Drift is scale-free, so this needs no NAV."""
    if band is None or len(schedule.executions) == 0:
        return schedule
    n = prices.shape[0]
    decisions, executions, rows, triggers = [], [], [], []
    calendar = schedule.executions.tolist()
    for k, exe in enumerate(calendar):
        target = schedule.targets[k]
        decisions.append(int(schedule.decisions[k]))
        executions.append(exe)
        rows.append(k)
        triggers.append("calendar")
        stop = calendar[k + 1] if k + 1 < len(calendar) else n
        anchor = exe
        units = target / prices[anchor]
        cash = 1.0 - float(target.sum())
        while anchor + 1 + lag < stop:
            values = prices[anchor + 1 : stop - lag] * units
            weights = values / (values.sum(axis=1) + cash)[:, None]
            hit = _first_breach(weights, target, band)
            if hit is None:
                break
            decision = anchor + 1 + hit
            anchor = decision + lag
            decisions.append(decision)
            executions.append(anchor)
            rows.append(k)
            triggers.append("band")
            units = target / prices[anchor]
    return Schedule(
        decisions=np.array(decisions),
        executions=np.array(executions),
        targets=schedule.targets[np.array(rows)],
        triggers=np.array(triggers),
    )


def _first_breach(weights: np.ndarray, target: np.ndarray, band: RebalanceBand) -> int | None:
    drift = np.abs(weights - target[None, :])
    breach = np.zeros(len(weights), dtype=bool)
    if band.absolute is not None:
        breach |= (drift > band.absolute).any(axis=1)
    if band.relative is not None:
        relative = np.divide(drift, target, out=np.zeros_like(drift), where=target > 0)
        breach |= (relative > band.relative).any(axis=1)
    hits = np.flatnonzero(breach)
    return int(hits[0]) if len(hits) else None


def _fee_fractions(targets: np.ndarray, drifted: np.ndarray, fee_rate: float) -> np.ndarray:
    """Fee as a share of the value before each trade, solved for all trades at once: fees come
    out of the traded value, so the targets hold exactly on the value after fees."""
    cost = np.zeros(len(targets))
    if fee_rate == 0.0:
        return cost
    for _ in range(_FEE_ITERATIONS):
        previous = cost
        cost = fee_rate * np.abs(targets * (1.0 - cost)[:, None] - drifted).sum(axis=1)
        if np.array_equal(cost, previous):  # a fixed point in floats: more rounds change nothing
            break
    return cost


def simulate(
    prices: np.ndarray,
    cash_growth: np.ndarray,
    schedule: Schedule,
    *,
    start: int,
    capital: float,
    costs: Costs,
) -> Simulation:
    """NAV from session ``start`` to the last session of ``prices``, in cash until the first
    trade. ``prices`` must be forward-filled and finite (unlisted entries are never held)."""
    n, m = prices.shape
    exe = schedule.executions
    targets = schedule.targets
    k_count = len(exe)
    units = targets / prices[exe]  # per unit of value after trade k
    cash_w = 1.0 - targets.sum(axis=1)
    # Segment k covers sessions (e_k, e_{k+1}]; sessions up to e_0 are cash.
    seg = np.searchsorted(exe, np.arange(start, n), side="left") - 1
    invested = seg >= 0
    rows = np.arange(start, n)[invested]
    k_of = seg[invested]
    growth = holdings_value(prices, units, exe, rows, k_of)
    growth += cash_w[k_of] * cash_growth[rows] / cash_growth[exe[k_of]]
    # Drifted weights just before each trade (all cash before the first).
    drifted = np.zeros((k_count, m))
    if k_count > 1:
        before = exe[1:]
        held = prices[before] * units[:-1]
        drifted[1:] = held / _at(growth, rows, before)[:, None]
    pre_first = capital * cash_growth[exe[0]] / cash_growth[start] if k_count else capital
    seg_growth = _segment_growth(growth, rows, exe)  # growth of segment k up to e_{k+1}
    if costs.min_fee > 0.0:
        fees_frac = _sequential_fees(targets, drifted, seg_growth, pre_first, costs)
    else:
        fees_frac = _fee_fractions(targets, drifted, costs.fee_rate)
    after = pre_first * np.cumprod((1.0 - fees_frac) * np.concatenate([[1.0], seg_growth]))
    nav = np.empty(n - start)
    in_cash = len(seg) - len(rows)
    nav[:in_cash] = capital * cash_growth[start : start + in_cash] / cash_growth[start]
    nav[invested] = after[k_of] * growth
    if k_count:
        nav[exe - start] = after
    value_before = np.concatenate([[pre_first], after[:-1] * seg_growth])[:k_count]
    turnover = np.abs(targets * (1.0 - fees_frac)[:, None] - drifted).sum(axis=1)
    return Simulation(
        nav=nav,
        schedule=schedule,
        drifted=drifted,
        turnover=turnover,
        fees=fees_frac * value_before,
    )


# Up to this many assets the value of the holdings is one row-wise product over the whole
# window (the units of each session's segment gathered: sessions × assets, small); beyond it,
# one mat-vec per segment on a view of the panel (no sessions × assets temporary).
_GATHER_MAX_ASSETS = 32
_GATHER_ELEMENTS = 16_384  # 128 kB blocks: reused heap memory, not fresh pages each run


def holdings_value(
    prices: np.ndarray, units: np.ndarray, exe: np.ndarray, rows: np.ndarray, k_of: np.ndarray
) -> np.ndarray:
    """Value at each session of ``rows`` of the units bought at its segment's trade."""
    if len(rows) == 0:
        return np.zeros(0)
    growth = np.empty(len(rows))
    m = prices.shape[1]
    if m <= _GATHER_MAX_ASSETS:
        step = max(1, _GATHER_ELEMENTS // max(m, 1))  # sessions per block of gathered units
        for a in range(0, len(rows), step):
            b = min(a + step, len(rows))
            window = prices[rows[a] : rows[a] + (b - a)]
            np.einsum("tj,tj->t", window, units[k_of[a:b]], out=growth[a:b])
        return growth
    bounds = np.append(exe, len(prices) - 1).tolist()
    for k in range(len(exe)):
        a, b = bounds[k] + 1, bounds[k + 1] + 1
        np.dot(prices[a:b], units[k], out=growth[a - rows[0] : b - rows[0]])
    return growth


def _at(growth: np.ndarray, rows: np.ndarray, sessions: np.ndarray) -> np.ndarray:
    """growth at the given sessions (rows is a contiguous range of sessions)."""
    result: np.ndarray = growth[sessions - rows[0]]
    return result


def _segment_growth(growth: np.ndarray, rows: np.ndarray, exe: np.ndarray) -> np.ndarray:
    return _at(growth, rows, exe[1:]) if len(exe) > 1 else np.zeros(0)


def _sequential_fees(
    targets: np.ndarray,
    drifted: np.ndarray,
    seg_growth: np.ndarray,
    pre_first: float,
    costs: Costs,
) -> np.ndarray:
    """Fee fractions when a minimum fee per trade (currency units) makes costs scale-dependent."""
    fractions = np.zeros(len(targets))
    value = pre_first
    for k in range(len(targets)):
        cost = 0.0
        for _ in range(_FEE_ITERATIONS):
            traded = np.abs(targets[k] * (1.0 - cost) - drifted[k]) * value
            traded[traded < _TRADE_EPSILON * value] = 0.0
            fee = np.where(traded > 0, np.maximum(traded * costs.fee_rate, costs.min_fee), 0.0)
            cost = min(float(fee.sum()) / value, 1.0)
        fractions[k] = cost
        if k < len(seg_growth):
            value = value * (1.0 - cost) * seg_growth[k]
    return fractions
