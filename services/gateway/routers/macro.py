"""Macro series and their observations, with optional transforms: thin edges over the macro
use cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from domain.usecases.macro import MacroObservationsRequest, Transform
from gateway.deps import UseCases
from gateway.problems import problem_docs
from gateway.routers.market import End, Start
from gateway.schemas import ListOf, MacroSeriesOut, ModelResponse, ObservationsOut
from gateway.security import Reader

router = APIRouter(prefix="/v1/macro", tags=["macro"])


@router.get(
    "/series",
    summary="The macro series catalog",
    response_model=ListOf[MacroSeriesOut],
    responses=problem_docs(401, 503),
)
async def list_series(use_cases: UseCases, _: Reader) -> ModelResponse:
    series = await use_cases.list_macro_series()
    return ModelResponse(ListOf[MacroSeriesOut](items=[MacroSeriesOut.of(s) for s in series]))


@router.get(
    "/series/{code}/observations",
    summary="Observations of one series; transform yoy/mom (percent change) or diff",
    response_model=ObservationsOut,
    responses=problem_docs(401, 404, 422, 503),
)
async def observations(
    use_cases: UseCases,
    _: Reader,
    code: str,
    start: Start = None,
    end: End = None,
    transform: Annotated[Transform | None, Query(description="yoy and mom in percent")] = None,
) -> ModelResponse:
    found = await use_cases.get_macro_observations(
        MacroObservationsRequest(code=code, start=start, end=end, transform=transform)
    )
    return ModelResponse(ObservationsOut.of(found))
