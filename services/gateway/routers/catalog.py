"""The strategy catalog."""

from __future__ import annotations

from fastapi import APIRouter

from domain.backtest import strategy_catalog
from gateway.problems import problem_docs
from gateway.schemas import ListOf, ModelResponse, StrategyOut
from gateway.security import Reader

router = APIRouter(prefix="/v1", tags=["strategies"])


@router.get(
    "/strategies",
    summary="Strategies with a JSON schema of their parameters",
    response_model=ListOf[StrategyOut],
    responses=problem_docs(401),
)
async def strategies(_: Reader) -> ModelResponse:
    items = [
        StrategyOut(type=s["type"], description=s["description"], params_schema=s["params_schema"])
        for s in strategy_catalog()
    ]
    return ModelResponse(
        ListOf[StrategyOut](items=items), headers={"Cache-Control": "public, max-age=300"}
    )
