"""The strategy catalog: parameter schemas and target weights at each decision date.

Every strategy maps the decision sessions to a target weight matrix (decisions × assets) using
only prices up to each decision's close. Weights are long-only and sum to at most 1; what is not
invested sits in the safe asset or in cash, never in a NaN (docs/engine.md, "Strategies").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from domain.backtest import optimize
from domain.backtest.panel import SessionCalendar

DAYS_PER_MONTH = 31  # calendar days requested per lookback month (upper bound)
HISTORY_MARGIN_DAYS = 10  # room for holidays at the start of the lookback window


class _Params(BaseModel):
    # Strict: lax validation reads `"top_n": true` as 1 and `"lookback_months": "12"` as 12.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EqualWeightParams(_Params):
    pass


class FixedWeightsParams(_Params):
    weights: dict[str, float] = Field(
        min_length=1, description="universe item → weight; the remainder (1 − Σ) is held in cash"
    )


class MomentumParams(_Params):
    lookback_months: int = Field(default=12, ge=1, le=60)
    skip_months: int = Field(default=0, ge=0, le=12, description="ignore the most recent months")
    top_n: int = Field(default=3, ge=1, le=200)


class DualMomentumParams(_Params):
    variant: Literal["antonacci", "score"] = Field(
        default="antonacci",
        description=(
            "antonacci: rank by trailing return, hold the top N if they beat the risk-free rate "
            "over the same window, else the safe asset (Portfolio Visualizer). score: the share "
            "of positive 1..12-month returns, top N with a positive score, score-weighted"
        ),
    )
    lookback_months: int = Field(default=12, ge=1, le=60)
    skip_months: int = Field(default=0, ge=0, le=12)
    top_n: int = Field(default=1, ge=1, le=200)
    safe_asset: str | None = Field(
        default=None, description="universe item held when the filter fails (cash when absent)"
    )


class InverseVolatilityParams(_Params):
    lookback_months: int = Field(default=6, ge=1, le=60)


class RiskParityParams(_Params):
    lookback_months: int = Field(default=6, ge=1, le=60)


class MinVarianceParams(_Params):
    lookback_months: int = Field(default=6, ge=1, le=60)
    max_weight: float = Field(default=1.0, gt=0, le=1)


class MaxSharpeParams(_Params):
    lookback_months: int = Field(default=12, ge=1, le=60)
    max_weight: float = Field(default=1.0, gt=0, le=1)
    safe_asset: str | None = Field(
        default=None, description="held when no asset has a positive expected excess return"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalContext:
    """What a strategy may look at. Row ``d`` of ``prices`` is the close of session ``d``."""

    dates: pd.DatetimeIndex
    labels: tuple[str, ...]
    prices: np.ndarray  # forward-filled, base currency, NaN before listing
    first_valid: np.ndarray
    cash_growth: np.ndarray
    decisions: np.ndarray
    calendar: SessionCalendar | None = None  # integer calendar fields: faster month arithmetic

    def months_back(self, months: int, sessions: np.ndarray | None = None) -> np.ndarray:
        """For each decision, the last session on or before its date minus ``months`` calendar
        months (-1 when the panel does not reach back that far)."""
        at = self.decisions if sessions is None else sessions
        if months == 0:
            return at.copy()
        if self.calendar is not None:
            found = self.calendar.months_back(at, months)
            if found is not None:
                return found
        if self.dates.tz is not None:  # wall-clock months across DST shifts: pandas knows how
            target = self.dates[at] - pd.DateOffset(months=months)
            return np.asarray(self.dates.searchsorted(target, side="right") - 1)
        stamps = self.dates.values
        earlier = months_earlier(stamps[at], months)
        return np.asarray(stamps.view(np.int64).searchsorted(earlier.view(np.int64), "right") - 1)

    def listed_since(self, since: np.ndarray) -> np.ndarray:
        """decisions × assets: the asset has a price at session ``since`` (so a full window)."""
        return (since[:, None] >= 0) & (self.first_valid[None, :] <= since[:, None])

    def column(self, label: str | None) -> int | None:
        return None if label is None else self.labels.index(label)

    def label_order(self) -> np.ndarray:
        """Column indices sorted by label: the tie-break order, independent of column order."""
        return np.asarray(sorted(range(len(self.labels)), key=self.labels.__getitem__))


def months_earlier(stamps: np.ndarray, months: int) -> np.ndarray:
    """``stamps − pd.DateOffset(months=months)`` for tz-naive datetime64 values, in numpy: the
    same day of the month ``months`` earlier, clipped to that month's last day, same time of
    day (a property test holds it to pandas)."""
    day = stamps.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    earlier = month - np.timedelta64(months, "M")
    first_day = earlier.astype("datetime64[D]")
    length = (earlier + np.timedelta64(1, "M")).astype("datetime64[D]") - first_day
    offset = np.minimum(day - month.astype("datetime64[D]"), length - np.timedelta64(1, "D"))
    time_of_day = stamps - day.astype(stamps.dtype)
    result: np.ndarray = (first_day + offset).astype(stamps.dtype) + time_of_day
    return result


def _trailing_return(ctx: SignalContext, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    safe_start = np.maximum(start, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: np.ndarray = ctx.prices[end] / ctx.prices[safe_start] - 1.0
    return result


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


def first_n_stable(keyed: np.ndarray, n: int) -> np.ndarray:
    """Row-wise mask of the first ``n`` entries of a stable ascending sort, without the sort:
    every key below the n-th smallest, then the ties at it from the left."""
    rows, width = keyed.shape
    if n >= width:
        return np.ones(keyed.shape, dtype=bool)
    if rows == 0 or np.isnan(keyed).any():  # NaN sorts after inf: let the sort place it
        chosen = np.zeros(keyed.shape, dtype=bool)
        ranked = np.argsort(keyed, axis=1, kind="stable")[:, :n]
        chosen[np.arange(rows)[:, None], ranked] = True
        return chosen
    nth = np.partition(keyed, n - 1, axis=1)[:, n - 1 : n]
    below = keyed < nth
    ties = keyed == nth
    room = n - below.sum(axis=1, keepdims=True)
    result: np.ndarray = below | (ties & (np.cumsum(ties, axis=1) <= room))
    return result


def _put_rest_in_safe(weights: np.ndarray, ctx: SignalContext, safe: int | None) -> np.ndarray:
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
    chosen = top_n(ctx, _trailing_return(ctx, start, end), valid, params.top_n).astype(float)
    count = chosen.sum(axis=1, keepdims=True)
    result: np.ndarray = np.divide(chosen, count, out=np.zeros_like(chosen), where=count > 0)
    return result


def _rankable(ctx: SignalContext, valid: np.ndarray, safe: int | None) -> np.ndarray:
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
        valid = _rankable(ctx, ctx.listed_since(start), safe)
        ret = _trailing_return(ctx, start, end)
        growth = ctx.cash_growth
        hurdle = growth[end] / growth[np.maximum(start, 0)] - 1.0
        chosen = top_n(ctx, ret, valid, params.top_n)
        # Absolute momentum: a slot whose asset does not beat cash goes to the safe asset.
        passed = chosen & (ret > hurdle[:, None])
        weights = passed / float(params.top_n)
    return _put_rest_in_safe(weights, ctx, safe)


def _score_momentum(ctx: SignalContext, params: DualMomentumParams, safe: int | None) -> np.ndarray:
    """The original app's variant: score = share of positive 1..12-month trailing returns."""
    horizons = 12
    count = len(ctx.decisions)
    starts = None
    if ctx.calendar is not None:  # every horizon's start in one call
        months = np.repeat(np.arange(1, horizons + 1), count)
        starts = ctx.calendar.months_back(np.tile(ctx.decisions, horizons), months)
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
    valid = _rankable(ctx, ctx.listed_since(ctx.months_back(horizons)), safe) & (score > 0)
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


# Sessions × assets per block of daily returns in window_sums: small enough to stay in the L2
# cache while it is divided, squared and summed (streaming the whole panel through memory for
# each step costs several times more, the more so on a loaded machine).
_BLOCK_ELEMENTS = 65_536


def window_sums(
    prices: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sums of the daily returns, and of their squares, over each window ``(lo_k, hi_k]``
    (returns from close ``lo_k`` to close ``hi_k``; a NaN return counts as 0): windows × assets.

    Windows overlap (six months at each month end), so the sums are differences of prefix sums
    taken only at the windows' ends ("cuts"): the returns between consecutive cuts are summed
    with ``reduceat`` (a cumulative sum down each column of the panel runs at the latency of one
    addition per element), a block of consecutive cuts at a time, then a cumulative sum over
    those few partial sums. Only the sessions from the first cut to the last are read; the
    prefix starts there, which also keeps the differences small."""
    cuts, where = np.unique(np.concatenate([lo, hi]), return_inverse=True)
    m = prices.shape[1]
    count = len(lo)
    if len(cuts) < 2:
        return np.zeros((count, m)), np.zeros((count, m))
    part1 = np.empty((len(cuts) - 1, m))
    part2 = np.empty((len(cuts) - 1, m))
    span = max(1, _BLOCK_ELEMENTS // m)  # sessions per block
    j = 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        while j < len(cuts) - 1:
            k = max(j + 1, int(np.searchsorted(cuts, cuts[j] + span, side="right")) - 1)
            first, last = int(cuts[j]), int(cuts[k])
            daily = np.divide(prices[first + 1 : last + 1], prices[first:last])
            daily -= 1.0
            starts = cuts[j:k] - first
            part1[j:k] = np.add.reduceat(daily, starts, axis=0)
            part2[j:k] = np.add.reduceat(np.square(daily, out=daily), starts, axis=0)
            j = k
    if not (np.isfinite(part1).all() and np.isfinite(part2).all()):
        first, last = int(cuts[0]), int(cuts[-1])
        return _window_sums_non_finite(prices[first : last + 1], cuts[:-1] - first, where, count)
    return _differences(part1, where, count), _differences(part2, where, count)


def _window_sums_non_finite(
    prices: np.ndarray, starts: np.ndarray, where: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """``window_sums`` when some return is not finite: NaN counts as 0, ±inf as ±max float."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        daily = np.nan_to_num(prices[1:] / prices[:-1] - 1.0)
        part1 = np.add.reduceat(daily, starts, axis=0)
        part2 = np.add.reduceat(np.square(daily, out=daily), starts, axis=0)
    return _differences(part1, where, count), _differences(part2, where, count)


def _differences(parts: np.ndarray, where: np.ndarray, count: int) -> np.ndarray:
    """Window sums from the partial sums between consecutive cuts: ``where`` maps each window's
    (lo, hi) to its cuts (first ``count`` entries: lo, next ``count``: hi)."""
    prefix = np.zeros((len(parts) + 1, parts.shape[1]))
    np.cumsum(parts, axis=0, out=prefix[1:])
    with np.errstate(invalid="ignore", over="ignore"):
        result: np.ndarray = prefix[where[count:]] - prefix[where[:count]]
    return result


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
    valid = _rankable(ctx, ctx.listed_since(start), safe)
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
    return _put_rest_in_safe(weights, ctx, safe)


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


@dataclass(frozen=True, slots=True)
class StrategyDefinition:
    name: str
    description: str
    params: type[_Params]
    weights: Callable[[SignalContext, Any], np.ndarray]
    lookback_months: Callable[[Any], int]


def _no_lookback(_: Any) -> int:
    return 0


def _lookback(params: Any) -> int:
    return int(params.lookback_months) + int(getattr(params, "skip_months", 0))


def _dual_lookback(params: Any) -> int:
    return 12 if params.variant == "score" else _lookback(params)


STRATEGIES: dict[str, StrategyDefinition] = {
    d.name: d
    for d in (
        StrategyDefinition(
            "equal_weight",
            "Equal weight across listed assets.",
            EqualWeightParams,
            equal_weight,
            _no_lookback,
        ),
        StrategyDefinition(
            "fixed_weights",
            "Given weights; the remainder is cash.",
            FixedWeightsParams,
            fixed_weights,
            _no_lookback,
        ),
        StrategyDefinition(
            "momentum",
            "Top N by trailing return (optionally skipping recent months), equal weight.",
            MomentumParams,
            momentum,
            _lookback,
        ),
        StrategyDefinition(
            "dual_momentum",
            "Relative plus absolute momentum into a safe asset or cash (Antonacci; or the score variant).",
            DualMomentumParams,
            dual_momentum,
            _dual_lookback,
        ),
        StrategyDefinition(
            "inverse_volatility",
            "Weights proportional to 1 / trailing daily volatility.",
            InverseVolatilityParams,
            inverse_volatility,
            _lookback,
        ),
        StrategyDefinition(
            "risk_parity",
            "Equal risk contribution on a shrunk covariance.",
            RiskParityParams,
            risk_parity,
            _lookback,
        ),
        StrategyDefinition(
            "min_variance",
            "Long-only minimum variance on a shrunk covariance, optional weight cap.",
            MinVarianceParams,
            min_variance,
            _lookback,
        ),
        StrategyDefinition(
            "max_sharpe",
            "Long-only tangency portfolio (historical mean excess return, shrunk covariance).",
            MaxSharpeParams,
            max_sharpe,
            _lookback,
        ),
    )
}
