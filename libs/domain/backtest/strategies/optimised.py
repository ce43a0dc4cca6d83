"""The optimising strategies: one small optimisation per decision on a shrunk covariance,
with the covariances of consecutive decisions estimated in batches (docs/engine.md,
"Optimisers")."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from domain.backtest import optimize
from domain.backtest.strategies.context import SignalContext
from domain.backtest.strategies.params import MaxSharpeParams, MinVarianceParams, RiskParityParams
from domain.backtest.strategies.signals import put_rest_in_safe, rankable

OptimizerFn = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray | None]


def _blocks(
    valid: np.ndarray, lo: np.ndarray, hi: np.ndarray, panel_elements: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Runs of consecutive solvable decisions with the same eligible columns: (rows, columns).
    Their covariances are estimated together (optimize.window_moments), chunked to bound memory."""
    solvable = valid.any(axis=1) & (hi - lo >= 3)
    rows = np.flatnonzero(solvable)
    if len(rows) == 0:
        return []
    changed = np.flatnonzero((valid[rows[1:]] != valid[rows[:-1]]).any(axis=1)) + 1
    blocks = []
    for run in np.split(rows, changed):
        columns = np.flatnonzero(valid[run[0]])
        longest = int((hi[run] - lo[run]).max())
        for part in optimize.chunks(len(run), longest, len(columns), panel_elements):
            blocks.append((run[part], columns))
    return blocks


def _optimised(
    ctx: SignalContext, lookback_months: int, solve: OptimizerFn, safe: int | None = None
) -> np.ndarray:
    """One small optimisation per decision, in decision order (each is warm-started from the
    previous one); the Ledoit-Wolf covariances are estimated in batches of decisions."""
    start = ctx.months_back(lookback_months)
    valid = rankable(ctx, ctx.listed_since(start), safe)
    weights = np.zeros((len(ctx.decisions), len(ctx.labels)))
    previous: np.ndarray | None = None
    previous_columns: np.ndarray | None = None
    growth = ctx.cash_growth
    for rows, columns in _blocks(valid, start, ctx.decisions, ctx.prices.size):
        lo, hi = start[rows], ctx.decisions[rows]
        covs, means = optimize.window_moments(ctx.prices, lo, hi, columns)
        rf_daily = (growth[hi] / growth[lo]) ** (1.0 / (hi - lo)) - 1.0
        excess = means - rf_daily[:, None]
        same = previous_columns is not None and np.array_equal(columns, previous_columns)
        warm = previous if same else None
        for k, row in enumerate(rows.tolist()):
            solved = solve(covs[k], excess[k], warm)
            if solved is None:
                continue
            weights[row, columns] = solved
            warm = solved
        previous, previous_columns = warm, columns
    return put_rest_in_safe(weights, ctx, safe)


def risk_parity(ctx: SignalContext, params: RiskParityParams) -> np.ndarray:
    return _optimised(
        ctx, params.lookback_months, lambda cov, _, warm: optimize.risk_parity(cov, warm)
    )


def _support(warm: np.ndarray | None) -> np.ndarray | None:
    return None if warm is None else np.flatnonzero(warm > 0)


def min_variance(ctx: SignalContext, params: MinVarianceParams) -> np.ndarray:
    def solve(cov: np.ndarray, _: np.ndarray, warm: np.ndarray | None) -> np.ndarray:
        w = optimize.min_variance(cov, params.max_weight, _support(warm))
        return _cap_infeasible(w, params.max_weight)

    return _optimised(ctx, params.lookback_months, solve)


def max_sharpe(ctx: SignalContext, params: MaxSharpeParams) -> np.ndarray:
    def solve(cov: np.ndarray, excess: np.ndarray, warm: np.ndarray | None) -> np.ndarray | None:
        w = optimize.max_sharpe(cov, excess, params.max_weight, _support(warm))
        return None if w is None else _cap_infeasible(w, params.max_weight)

    return _optimised(ctx, params.lookback_months, solve, ctx.column(params.safe_asset))


def _cap_infeasible(weights: np.ndarray, cap: float) -> np.ndarray:
    # With fewer than 1/cap assets the cap cannot be met fully invested: the excess is cash.
    result: np.ndarray = np.minimum(weights, cap)
    return result
