"""The backtest request (design §7)."""

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


class BacktestSpec(BaseModel):
    """A backtest request. Universe items are asset ids or tickers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=200)
    strategy: StrategySpec
    universe: list[str | int] = Field(min_length=1, max_length=MAX_UNIVERSE)
    start: date
    end: date
    rebalance: Literal["M", "Q", "A"] = "M"
    initial_capital: float = Field(default=10_000.0, gt=0, le=1e15)
    fee_bps: float = Field(default=0.0, ge=0, le=1000)
    benchmark: str | int | None = None
    execution: Literal["next_close", "same_close"] = "next_close"
    base_currency: Currency | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> BacktestSpec:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self
