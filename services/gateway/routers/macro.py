"""Macro series and their observations, with optional transforms."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query

from domain.errors import NotFound, StorageUnavailable
from domain.model import MacroSeries
from gateway.deps import Container
from gateway.problems import problem_docs
from gateway.routers.market import CONSISTENT_READ_ATTEMPTS, End, Start, check_range
from gateway.schemas import (
    FastJSONResponse,
    ListOf,
    MacroSeriesOut,
    ObservationsOut,
    floats,
    series_out,
)
from gateway.security import Reader

router = APIRouter(prefix="/v1/macro", tags=["macro"])

Transform = Literal["yoy", "mom", "diff"]
# How far before ``start`` a transform must read so its first value is defined.
_WARMUP = {"yoy": timedelta(days=380), "mom": timedelta(days=40), "diff": timedelta(days=120)}


@router.get(
    "/series",
    summary="The macro series catalog",
    response_model=ListOf[MacroSeriesOut],
    responses=problem_docs(401, 503),
)
async def list_series(container: Container, _: Reader) -> FastJSONResponse:
    rows = await container.repositories.macro.list_series()
    return FastJSONResponse({"items": [series_out(s) for s in rows], "next_cursor": None})


@router.get(
    "/series/{code}/observations",
    summary="Observations of one series; transform yoy/mom (percent change) or diff",
    response_model=ObservationsOut,
    responses=problem_docs(401, 404, 422, 503),
)
async def observations(
    container: Container,
    _: Reader,
    code: str,
    start: Start = None,
    end: End = None,
    transform: Annotated[Transform | None, Query(description="yoy and mom in percent")] = None,
) -> FastJSONResponse:
    check_range(start, end)
    read_from = start - _WARMUP[transform] if (start and transform) else start
    series, frame = await _labelled_observations(container, code, read_from, end)
    values = _transform(frame, transform)
    if start is not None:
        values = values[values.index >= pd.Timestamp(start)]
    return FastJSONResponse(
        {
            **series_out(series),
            "transform": transform,
            "observations": {
                "dates": [d.date().isoformat() for d in values.index],
                "values": floats(values.to_numpy()),
            },
        }
    )


async def _labelled_observations(
    container: Container, code: str, start: date | None, end: date | None
) -> tuple[MacroSeries, pd.DataFrame]:
    """The series and its observations, labelled with the source that wrote them: the
    observations are used only when the series' source is the same after they were read as
    before (a change of provider replaces the whole history in one transaction)."""
    macro = container.repositories.macro
    series = await macro.get_series(code)
    for _ in range(CONSISTENT_READ_ATTEMPTS):
        if series is None:
            raise NotFound(f"macro series {code!r} does not exist")
        frame = await macro.read_observations(code, start, end)
        after = await macro.get_series(code)
        if after is not None and after.source == series.source:
            return series, frame
        series = after
    raise StorageUnavailable(f"macro series {code!r} kept changing while it was read; retry")


def _transform(frame: pd.DataFrame, transform: str | None) -> pd.Series:
    index = pd.DatetimeIndex(pd.to_datetime(frame["date"]))
    values = pd.Series(frame["value"].to_numpy(dtype="float64"), index=index)
    if transform is None or values.empty:
        return values
    if transform == "diff":
        return values.diff()
    # Percent change against the last value on or before the same date a year (month)
    # earlier: by date rather than by row count, so daily and weekly series with gaps compare
    # with the right observation.
    offset = pd.DateOffset(years=1) if transform == "yoy" else pd.DateOffset(months=1)
    known = values.dropna()
    if known.empty:
        return values * float("nan")
    targets = index - offset
    prior = known.reindex(targets, method="ffill").to_numpy(dtype="float64", copy=True)
    prior[targets < known.index[0]] = float("nan")  # nothing that early to compare with
    return pd.Series((values.to_numpy() / prior - 1.0) * 100.0, index=index)
