"""The strategy registry: each strategy's name, description, parameters, rule and lookback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from domain.backtest.strategies.context import SignalContext
from domain.backtest.strategies.optimised import max_sharpe, min_variance, risk_parity
from domain.backtest.strategies.params import (
    DualMomentumParams,
    EqualWeightParams,
    FixedWeightsParams,
    InverseVolatilityParams,
    MaxSharpeParams,
    MinVarianceParams,
    MomentumParams,
    RiskParityParams,
    StrategyParams,
)
from domain.backtest.strategies.signals import (
    dual_momentum,
    equal_weight,
    fixed_weights,
    inverse_volatility,
    momentum,
)

DAYS_PER_MONTH = 31  # calendar days requested per lookback month (upper bound)
HISTORY_MARGIN_DAYS = 10  # room for holidays at the start of the lookback window


@dataclass(frozen=True, slots=True)
class StrategyDefinition:
    name: str
    description: str
    params: type[StrategyParams]
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
