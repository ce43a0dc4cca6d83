"""The strategies' rules: target weights at each decision date from what the context shows.

Every strategy maps the decision sessions to a target weight matrix (decisions × assets) using
only prices up to each decision's close. Weights are long-only and sum to at most 1; what is not
invested sits in the safe asset or in cash, never in a NaN (docs/engine.md, "Strategies").
"""

from __future__ import annotations

import numpy as np

from domain.backtest.strategies.context import SignalContext
from domain.backtest.strategies.kernels import first_n_stable, window_sums
from domain.backtest.strategies.params import (
    DualMomentumParams,
    EqualWeightParams,
    FixedWeightsParams,
    InverseVolatilityParams,
    MomentumParams,
)


def top_n(ctx: SignalContext, score: np.ndarray, valid: np.ndarray, n: int) -> np.ndarray:
    """decisions × assets mask of the ``n`` best valid scores. Ties go to the label that sorts
    first, whatever the column order."""
    order = ctx.label_order()
    keyed = np.where(valid, -score, np.inf)[:, order]
    mask = np.zeros_like(valid)
    rows = np.arange(len(valid))[:, None]
    mask[rows, order[None, :]] = first_n_stable(keyed, n)
    result: np.ndarray = mask & valid
    return result


def put_rest_in_safe(weights: np.ndarray, ctx: SignalContext, safe: int | None) -> np.ndarray:
    """Move the uninvested remainder into the safe asset where it is listed (else: cash)."""
    if safe is None:
        return weights
    rest = np.clip(1.0 - weights.sum(axis=1), 0.0, 1.0)
    listed = ctx.first_valid[safe] <= ctx.decisions
    weights[:, safe] += np.where(listed, rest, 0.0)
    return weights


def equal_weight(ctx: SignalContext, _: EqualWeightParams) -> np.ndarray:
    listed = ctx.listed_since(ctx.decisions).astype(float)
    count = listed.sum(axis=1, keepdims=True)
    result: np.ndarray = np.divide(listed, count, out=np.zeros_like(listed), where=count > 0)
    return result


def fixed_weights(ctx: SignalContext, params: FixedWeightsParams) -> np.ndarray:
    target = np.array([params.weights.get(label, 0.0) for label in ctx.labels])
    # An asset not listed yet leaves its weight in cash until it joins.
    result: np.ndarray = ctx.listed_since(ctx.decisions) * target[None, :]
    return result


def momentum(ctx: SignalContext, params: MomentumParams) -> np.ndarray:
    end = ctx.months_back(params.skip_months)
    start = ctx.months_back(params.lookback_months, end)
    valid = ctx.listed_since(start)
    chosen = top_n(ctx, ctx.trailing_return(start, end), valid, params.top_n).astype(float)
    count = chosen.sum(axis=1, keepdims=True)
    result: np.ndarray = np.divide(chosen, count, out=np.zeros_like(chosen), where=count > 0)
    return result


def rankable(ctx: SignalContext, valid: np.ndarray, safe: int | None) -> np.ndarray:
    """``valid`` without the safe asset's column: it takes the rest, it is never ranked."""
    if safe is not None:
        valid = valid.copy()
        valid[:, safe] = False
    return valid


def dual_momentum(ctx: SignalContext, params: DualMomentumParams) -> np.ndarray:
    safe = ctx.column(params.safe_asset)
    if params.variant == "score":
        weights = _score_momentum(ctx, params, safe)
    else:
        end = ctx.months_back(params.skip_months)
        start = ctx.months_back(params.lookback_months, end)
        valid = rankable(ctx, ctx.listed_since(start), safe)
        ret = ctx.trailing_return(start, end)
        growth = ctx.cash_growth
        hurdle = growth[end] / growth[np.maximum(start, 0)] - 1.0
        chosen = top_n(ctx, ret, valid, params.top_n)
        # Absolute momentum: a slot whose asset does not beat cash goes to the safe asset.
        passed = chosen & (ret > hurdle[:, None])
        weights = passed / float(params.top_n)
    return put_rest_in_safe(weights, ctx, safe)


def _score_momentum(ctx: SignalContext, params: DualMomentumParams, safe: int | None) -> np.ndarray:
    """The score variant: score = share of positive 1..12-month trailing returns."""
    horizons = 12
    count = len(ctx.decisions)
    starts = None
    if ctx.session_index is not None:  # every horizon's start in one call
        months = np.repeat(np.arange(1, horizons + 1), count)
        starts = ctx.session_index.months_back(np.tile(ctx.decisions, horizons), months)
    if starts is None:
        starts = np.concatenate([ctx.months_back(h) for h in range(1, horizons + 1)])
    starts = np.maximum(starts, 0).reshape(horizons, count)
    positive = np.zeros((count, len(ctx.labels)))
    closes = ctx.prices[ctx.decisions]
    with np.errstate(invalid="ignore", divide="ignore"):
        for start in starts:
            # fl(x / y) − 1 > 0 exactly when fl(x / y) > 1 (Sterbenz): the trailing return's sign.
            positive += closes / ctx.prices[start] > 1.0
    score = positive / horizons
    valid = rankable(ctx, ctx.listed_since(ctx.months_back(horizons)), safe) & (score > 0)
    chosen = top_n(ctx, score, valid, params.top_n) * score
    total = chosen.sum(axis=1, keepdims=True)
    result: np.ndarray = np.divide(chosen, total, out=np.zeros_like(chosen), where=total > 0)
    return result


def inverse_volatility(ctx: SignalContext, params: InverseVolatilityParams) -> np.ndarray:
    start = ctx.months_back(params.lookback_months)
    valid = ctx.listed_since(start)
    lo = np.maximum(start, 0)
    n = (ctx.decisions - lo)[:, None].astype(float)
    sum1, sum2 = window_sums(ctx.prices, lo, ctx.decisions)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (sum2 - sum1**2 / n) / (n - 1.0)
        inv = np.where(valid & (var > 0), 1.0 / np.sqrt(var), 0.0)
    total = inv.sum(axis=1, keepdims=True)
    result: np.ndarray = np.divide(inv, total, out=np.zeros_like(inv), where=total > 0)
    return result
