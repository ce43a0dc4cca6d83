"""HTTP response shapes (the OpenAPI document's schemas) and the converters from domain objects.

Large series are columnar (design §6): one array per column instead of one object per row, which
is several times smaller and faster to encode."""

from __future__ import annotations

import json
import math
import uuid
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from domain.model import (
    SAMPLE_SOURCE,
    Asset,
    BacktestJob,
    IngestionRun,
    JobStatus,
    MacroSeries,
    is_synthetic,
)

T = TypeVar("T")


class ListOf(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as ?cursor= for the next page")


class SourceOut(BaseModel):
    """Where stored data came from: the provider that wrote it."""

    provider: str = Field(
        description="Name of the provider that wrote the data", examples=["sample", "yfinance"]
    )
    synthetic: bool = Field(
        description="True when the data is generated (the offline sample provider), not "
        "market data: never trade or report on it"
    )
    description: str


_PROVENANCE = (
    "Null when nothing is stored yet, or the data was written before providers were "
    "recorded (the next ingest replaces it and labels it)."
)


class AssetOut(BaseModel):
    id: int
    ticker: str
    name: str
    market: str
    exchange: str
    currency: str
    asset_type: str
    sector: str | None = None
    active: bool
    provider_symbol: str
    prices_source: SourceOut | None = Field(
        default=None, description=f"Where the asset's stored prices came from. {_PROVENANCE}"
    )


class Bars(BaseModel):
    date: list[str]
    open: list[float | None] | None = None
    high: list[float | None] | None = None
    low: list[float | None] | None = None
    close: list[float | None] | None = None
    adj_close: list[float | None] | None = None
    volume: list[float | None] | None = None


class PriceSeriesOut(BaseModel):
    asset_id: int
    ticker: str
    currency: str
    source: SourceOut | None = Field(
        default=None, description=f"Where these bars came from. {_PROVENANCE}"
    )
    bars: Bars


class PricesOut(BaseModel):
    items: list[PriceSeriesOut]


class Series(BaseModel):
    dates: list[str]
    values: list[float | None]


class MacroSeriesOut(BaseModel):
    code: str
    name: str
    frequency: str
    units: str
    source: SourceOut | None = Field(
        default=None, description=f"Where the stored observations came from. {_PROVENANCE}"
    )


class ObservationsOut(BaseModel):
    code: str
    name: str
    units: str
    frequency: str
    source: SourceOut | None = Field(
        default=None, description=f"Where these observations came from. {_PROVENANCE}"
    )
    transform: str | None = None
    observations: Series


class StrategyOut(BaseModel):
    type: str
    description: str
    params_schema: dict[str, Any]


class JobLinks(BaseModel):
    self: str
    result: str
    chart: str


class JobOut(BaseModel):
    id: uuid.UUID
    status: JobStatus
    name: str | None = None
    strategy: str | None = None
    spec: dict[str, Any]
    attempts: int
    progress: float | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    links: JobLinks


class ResultOut(BaseModel):
    id: uuid.UUID
    status: JobStatus
    metrics: dict[str, float | None] | None = None
    nav: Series | None = None
    benchmark: Series | None = None
    weights: list[dict[str, Any]] | None = None
    analytics: dict[str, Any] | None = None


class SavePortfolioIn(BaseModel):
    backtest_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200, examples=["GEM 2008-2024"])


class PortfolioSummaryOut(BaseModel):
    id: uuid.UUID
    name: str
    backtest_id: uuid.UUID
    strategy: str
    created_at: datetime
    cagr: float | None = None
    volatility: float | None = None
    sharpe: float | None = None
    max_drawdown: float | None = None


class PortfolioOut(BaseModel):
    id: uuid.UUID
    name: str
    backtest_id: uuid.UUID
    created_at: datetime
    strategy: str
    spec: dict[str, Any]
    metrics: dict[str, float | None]
    nav: Series
    benchmark: Series | None = None
    weights: list[dict[str, Any]]
    analytics: dict[str, Any]


class IngestAccepted(BaseModel):
    message_id: str
    command: dict[str, Any]


class RunOut(BaseModel):
    id: uuid.UUID
    command_type: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    parent_id: uuid.UUID | None = None
    dry_run: bool = False
    source: SourceOut | None = Field(
        default=None,
        description="The provider that served the run (null: recorded before providers were)",
    )
    command: dict[str, Any]
    counts: dict[str, int]
    failures: list[dict[str, Any]]
    issues: list[dict[str, Any]]


class MarketFreshness(BaseModel):
    market: str
    last_stored_session: date | None
    last_completed_session: date | None
    sessions_behind: int | None
    stale: bool


class FreshnessOut(BaseModel):
    checked_at: datetime
    markets: list[MarketFreshness]
    macro: dict[str, date]


class CheckOut(BaseModel):
    status: str
    detail: str | None = None


class ReadinessOut(BaseModel):
    status: str = Field(examples=["ok"])
    checks: dict[str, CheckOut]


# --- converters -------------------------------------------------------------------------------

_SOURCE_DESCRIPTIONS = {
    SAMPLE_SOURCE: "SYNTHETIC sample data generated offline (deterministic, for demos and "
    "tests): not market data, not a forecast; real names and tickers label made-up prices",
    "csv": "Loaded from CSV files in the configured data directory (MARKET_DATA_DIR)",
    "yfinance": "Yahoo Finance, through yfinance",
    "fred": "FRED, Federal Reserve Bank of St. Louis",
}


def source_out(provider: str | None) -> dict[str, Any] | None:
    """The provenance of stored data as clients see it; None when it was not recorded."""
    if provider is None:
        return None
    return {
        "provider": provider,
        "synthetic": is_synthetic(provider),
        "description": _SOURCE_DESCRIPTIONS.get(provider, f"Provider {provider!r}"),
    }


def asset_out(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.id,
        "ticker": asset.ticker,
        "name": asset.name,
        "market": asset.market.value,
        "exchange": asset.exchange.value,
        "currency": asset.currency.value,
        "asset_type": asset.asset_type.value,
        "sector": asset.sector,
        "active": asset.active,
        "provider_symbol": asset.provider_symbol,
        "prices_source": source_out(asset.prices_source),
    }


def floats(values: Any) -> list[float | None]:
    """A float column as JSON-ready values: NaN/inf become null, never zero."""
    array = np.asarray(values, dtype="float64")
    out: list[float | None] = array.tolist()
    if not np.isfinite(array).all():
        out = [v if math.isfinite(v) else None for v in array.tolist()]
    return out


def iso_dates(values: Any) -> list[str]:
    return [d.isoformat() for d in pd.to_datetime(pd.Series(values)).dt.date]


def bars_out(asset: Asset, frame: pd.DataFrame, fields: list[str]) -> dict[str, Any]:
    """One asset's bars, columnar. Columns stay numpy arrays and dates stay ``date`` objects:
    ``FastJSONResponse`` encodes both natively (NaN as null, ISO dates) without building ~10k
    Python floats and strings per history."""
    bars: dict[str, Any] = {"date": frame["date"].tolist()}
    for name in fields:
        bars[name] = np.ascontiguousarray(frame[name].to_numpy(), dtype="float64")
    return {
        "asset_id": asset.id,
        "ticker": asset.ticker,
        "currency": asset.currency.value,
        "source": source_out(asset.prices_source),
        "bars": bars,
    }


def clean_series(series: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
    if series is None:
        return None
    return {
        "dates": [str(d) for d in series.get("dates", [])],
        "values": floats(series.get("values", [])),
    }


def job_out(job: BacktestJob) -> dict[str, Any]:
    base = f"/v1/backtests/{job.id}"
    strategy = job.spec.get("strategy")
    return {
        "id": str(job.id),
        "status": job.status.value,
        "name": job.spec.get("name"),
        "strategy": strategy.get("type") if isinstance(strategy, dict) else None,
        "spec": job.spec,
        "attempts": job.attempts,
        "progress": job.progress,
        "error": job.error,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "links": {"self": base, "result": f"{base}/result", "chart": f"{base}/chart.svg"},
    }


def series_out(series: MacroSeries) -> dict[str, Any]:
    return {
        "code": series.code,
        "name": series.name,
        "frequency": series.frequency.value,
        "units": series.units,
        "source": source_out(series.source),
    }


def run_out(run: IngestionRun) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "command_type": run.command_type,
        "trigger": run.trigger.value,
        "status": run.status.value,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "parent_id": str(run.parent_id) if run.parent_id else None,
        "dry_run": run.dry_run,
        "source": source_out(run.source),
        "command": run.command,
        "counts": run.counts,
        "failures": run.failures,
        "issues": run.issues,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


try:  # orjson encodes the large float columns about ten times faster than the stdlib
    import orjson
except ImportError:  # pragma: no cover - depends on the installed extras
    orjson = None  # type: ignore[assignment]


class FastJSONResponse(JSONResponse):
    """Compact JSON without response-model re-validation (series are large). Floats must be
    finite or None, except in float64 numpy arrays, whose NaN/inf are encoded as null."""

    def render(self, content: Any) -> bytes:
        return dump_json(content)


def dump_json(content: Any) -> bytes:
    """``content`` as compact JSON bytes, as ``FastJSONResponse`` sends it."""
    if orjson is not None:
        return orjson.dumps(content, default=_default, option=_ORJSON_OPTIONS)
    return json.dumps(content, separators=(",", ":"), allow_nan=False, default=_default).encode()


_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY if orjson is not None else 0


def accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "")


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # the stdlib path (and arrays orjson declines)
        return floats(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, np.generic):
        item = value.item()
        return None if isinstance(item, float) and not math.isfinite(item) else item
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_ready(value: Any) -> Any:
    """A deep copy of stored JSON data with non-finite floats as null (strict JSON)."""
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
