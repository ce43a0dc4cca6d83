"""The backtest request (design §7). Conventions are documented in docs/engine.md."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

from domain.iso_date import IsoDate
from domain.model import Currency

MAX_UNIVERSE = 200
# Asset ids are the store's 32-bit keys; a larger number cannot name an asset.
MAX_ASSET_ID = 2**31 - 1
# Strategy parameters are small: numbers, names, a weights map. Bounded so that no request can
# make validation, hashing or storage work unboundedly (deep nesting, huge maps).
MAX_PARAM_DEPTH = 3
MAX_PARAM_NODES = 1000

Ticker = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-^=_]*$")
]
# Strict: lax validation would read `true` as 1 and `"5"` as 5, so `"universe": [true]` would
# name asset 1 and `"fee_bps": true` charge 1 bp. Numeric strings stay tickers (KRX codes are
# digits).
AssetId = Annotated[int, Strict(), Field(ge=1, le=MAX_ASSET_ID)]
Number = Annotated[float, Strict()]
AssetRef = Ticker | AssetId
PlainText = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]


class StrategySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$", examples=["dual_momentum"]
    )
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _bounded(cls, params: dict[str, Any]) -> dict[str, Any]:
        nodes = _count_plain_json(params, depth=1)
        if nodes > MAX_PARAM_NODES:
            raise ValueError(f"params hold more than {MAX_PARAM_NODES} values")
        return params


def _count_plain_json(value: Any, depth: int) -> int:
    """Count the values of a JSON tree; refuse deep nesting and control characters."""
    if depth > MAX_PARAM_DEPTH:
        raise ValueError(f"params nest deeper than {MAX_PARAM_DEPTH} levels")
    if isinstance(value, dict):
        for key in value:
            _check_text(str(key))
        return 1 + sum(_count_plain_json(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_count_plain_json(v, depth + 1) for v in value)
    if isinstance(value, str):
        _check_text(value)
    return 1


def _check_text(text: str) -> None:
    if len(text) > 200 or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError("params strings are at most 200 printable characters")


class RebalanceBand(BaseModel):
    """Drift bands: rebalance back to the target when any weight drifts more than ``absolute``
    (fraction of NAV, 0.05 = 5 pp) or more than ``relative`` × its target (0.25 = 25 %)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    absolute: Number | None = Field(default=None, gt=0, le=1)
    relative: Number | None = Field(default=None, gt=0, le=10)

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

    name: PlainText | None = None
    strategy: StrategySpec
    universe: list[AssetRef] = Field(min_length=1, max_length=MAX_UNIVERSE)
    start: IsoDate
    end: IsoDate
    rebalance: Literal["M", "Q", "A", "none"] = "M"
    rebalance_band: RebalanceBand | None = None
    initial_capital: Number = Field(default=10_000.0, gt=0, le=1e15)
    fee_bps: Number = Field(default=0.0, ge=0, le=1000)
    min_fee: Number = Field(default=0.0, ge=0, le=1e9)
    benchmark: AssetRef | None = None
    execution: Literal["next_close", "same_close"] = "next_close"
    base_currency: Currency | None = None
    risk_free: str | None = Field(
        default=None, max_length=32, pattern=r"^[A-Z0-9_]+$", examples=["DTB3"]
    )

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
