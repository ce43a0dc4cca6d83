"""The backtest engine: a pure function of (spec, market data) → outcome (docs/engine.md)."""

from domain.backtest.catalog import STRATEGY_CATALOG, strategy_catalog, validate_strategy_params
from domain.backtest.engine import (
    BacktestOutcome,
    MarketData,
    required_history_days,
    run_backtest,
)
from domain.backtest.errors import UnrunnableBacktest
from domain.backtest.spec import BacktestSpec, RebalanceBand, StrategySpec

__all__ = [
    "STRATEGY_CATALOG",
    "BacktestOutcome",
    "BacktestSpec",
    "MarketData",
    "RebalanceBand",
    "StrategySpec",
    "UnrunnableBacktest",
    "required_history_days",
    "run_backtest",
    "strategy_catalog",
    "validate_strategy_params",
]
