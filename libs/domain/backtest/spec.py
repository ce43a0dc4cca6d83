"""The backtest request (design §7). Conventions are documented in docs/engine.md."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.model import Currency

MAX_UNIVERSE = 200


class StrategySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1, max_length=64, examples=["dual_momentum"])
    params: dict[str, Any] = Field(default_factory=dict)


class RebalanceBand(BaseModel):
    """Drift bands: rebalance back to the target when any weight drifts more than ``absolute``
    (fraction of NAV, 0.05 = 5 pp) or more than ``relative`` × its target (0.25 = 25 %)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    absolute: float | None = Field(default=None, gt=0, le=1)
    relative: float | None = Field(default=None, gt=0, le=10)

    @model_validator(mode="after")
    def _one_band_at_least(self) -> RebalanceBand:
        if self.absolute is None and self.relative is None:
            raise ValueError("give an absolute or a relative band (or both)")
        return self


class BacktestSpec(BaseModel):
    """A backtest request. Universe items are asset ids or tickers.

    ``rebalance`` is the calendar (month, quarter, year end; ``none`` = only the initial
    allocation and band triggers); ``rebalance_band`` adds drift triggers. ``fee_bps`` is charged on
    traded notional, ``min_fee`` (base currency) on every trade that is charged at all.
    ``risk_free`` names the macro series (FRED DTB3) the loader passes as ``MarketData.risk_free``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=200)
    strategy: StrategySpec
    universe: list[str | int] = Field(min_length=1, max_length=MAX_UNIVERSE)
    start: date
    end: date
    rebalance: Literal["M", "Q", "A", "none"] = "M"
    rebalance_band: RebalanceBand | None = None
    initial_capital: float = Field(default=10_000.0, gt=0, le=1e15)
    fee_bps: float = Field(default=0.0, ge=0, le=1000)
    min_fee: float = Field(default=0.0, ge=0, le=1e9)
    benchmark: str | int | None = None
    execution: Literal["next_close", "same_close"] = "next_close"
    base_currency: Currency | None = None
    risk_free: str | None = Field(default=None, max_length=32, examples=["DTB3"])

    @model_validator(mode="after")
    def _dates_in_order(self) -> BacktestSpec:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self

    @model_validator(mode="after")
    def _universe_unique(self) -> BacktestSpec:
        labels = [str(item) for item in self.universe]
        if len(set(labels)) != len(labels):
            raise ValueError("universe items must be unique")
        return self
