"""The parameters of each strategy: the JSON schemas the catalog serves and the engine validates."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StrategyParams(BaseModel):
    # Strict: lax validation would read `"top_n": true` as 1 and `"lookback_months": "12"` as 12.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EqualWeightParams(StrategyParams):
    pass


class FixedWeightsParams(StrategyParams):
    weights: dict[str, float] = Field(
        min_length=1, description="universe item → weight; the remainder (1 − Σ) is held in cash"
    )


class MomentumParams(StrategyParams):
    lookback_months: int = Field(default=12, ge=1, le=60)
    skip_months: int = Field(default=0, ge=0, le=12, description="ignore the most recent months")
    top_n: int = Field(default=3, ge=1, le=200)


class DualMomentumParams(StrategyParams):
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


class InverseVolatilityParams(StrategyParams):
    lookback_months: int = Field(default=6, ge=1, le=60)


class RiskParityParams(StrategyParams):
    lookback_months: int = Field(default=6, ge=1, le=60)


class MinVarianceParams(StrategyParams):
    lookback_months: int = Field(default=6, ge=1, le=60)
    max_weight: float = Field(default=1.0, gt=0, le=1)


class MaxSharpeParams(StrategyParams):
    lookback_months: int = Field(default=12, ge=1, le=60)
    max_weight: float = Field(default=1.0, gt=0, le=1)
    safe_asset: str | None = Field(
        default=None, description="held when no asset has a positive expected excess return"
    )
