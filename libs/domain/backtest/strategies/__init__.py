"""The strategy catalog: parameter schemas and target weights at each decision date.

- ``params``: each strategy's parameters (the catalog's JSON schemas);
- ``context``: what a strategy may look at (``SignalContext``) and its month arithmetic;
- ``signals``: the rules of the ranking and weighting strategies;
- ``optimised``: the optimising strategies and the batching of their covariance estimates;
- ``kernels``: the array kernels the signals run on (top N, window sums);
- ``registry``: name → definition (``STRATEGIES``) and the history each one needs.
"""

from domain.backtest.strategies.context import SignalContext
from domain.backtest.strategies.params import StrategyParams
from domain.backtest.strategies.registry import (
    DAYS_PER_MONTH,
    HISTORY_MARGIN_DAYS,
    STRATEGIES,
    StrategyDefinition,
)

__all__ = [
    "DAYS_PER_MONTH",
    "HISTORY_MARGIN_DAYS",
    "STRATEGIES",
    "SignalContext",
    "StrategyDefinition",
    "StrategyParams",
]
