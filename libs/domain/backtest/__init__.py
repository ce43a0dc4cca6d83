"""The backtest engine: a pure function of (spec, market data) → outcome."""

from domain.backtest.engine import BacktestOutcome, MarketData, run_backtest
from domain.backtest.spec import BacktestSpec, StrategySpec

__all__ = ["BacktestOutcome", "BacktestSpec", "MarketData", "StrategySpec", "run_backtest"]
