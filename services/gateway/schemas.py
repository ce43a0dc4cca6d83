"""HTTP response shapes, defined once: the pydantic models are the OpenAPI document's schemas
and what is sent. Each is built from domain objects by its ``of`` constructor and encoded by
orjson (``ModelResponse``). The one hand-written encoder, a price series, is measured and
pinned byte for byte to its model (``encode_price_series``).

Large series are columnar (design §6): one array per column instead of one object per row, which
is several times smaller and faster to encode."""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import numpy as np
import orjson
import pandas as pd
from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from domain.freshness import MarketFreshness as StoredMarketFreshness
from domain.model import (
    SAMPLE_SOURCE,
    Asset,
    BacktestJob,
    BacktestResult,
    IngestionRun,
    JobStatus,
    MacroSeries,
    is_synthetic,
)
from domain.usecases.freshness import FreshnessReport
from domain.usecases.ingest_commands import SentIngestCommand
from domain.usecases.macro import MacroObservations
from domain.usecases.portfolios import PortfolioDetail, PortfolioSummary

T = TypeVar("T")


class ListOf(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as ?cursor= for the next page")


_SOURCE_DESCRIPTIONS = {
    SAMPLE_SOURCE: "SYNTHETIC sample data generated offline (deterministic, for demos and "
    "tests): not market data, not a forecast; real names and tickers label made-up prices",
    "csv": "Loaded from CSV files in the configured data directory (MARKET_DATA_DIR)",
    "yfinance": "Yahoo Finance, through yfinance",
    "fred": "FRED, Federal Reserve Bank of St. Louis",
}


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

    # Shared by every asset, series and run of the same provider: built once per provider.
    model_config = ConfigDict(frozen=True)

    @classmethod
    def of(cls, provider: str | None) -> SourceOut | None:
        """The provenance of stored data as clients see it; None when it was not recorded."""
        return None if provider is None else _source_of(provider)


@functools.lru_cache(maxsize=64)
def _source_of(provider: str) -> SourceOut:
    return SourceOut(
        provider=provider,
        synthetic=is_synthetic(provider),
        description=_SOURCE_DESCRIPTIONS.get(provider, f"Provider {provider!r}"),
    )


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

    @classmethod
    def of(cls, asset: Asset) -> AssetOut:
        return cls(
            id=asset.id or 0,
            ticker=asset.ticker,
            name=asset.name,
            market=asset.market.value,
            exchange=asset.exchange.value,
            currency=asset.currency.value,
            asset_type=asset.asset_type.value,
            sector=asset.sector,
            active=asset.active,
            provider_symbol=asset.provider_symbol,
            prices_source=SourceOut.of(asset.prices_source),
        )


def encode_asset_page(assets: Sequence[Asset], next_cursor: str | None) -> bytes:
    """``ListOf[AssetOut]`` of ``assets`` as JSON.

    Hand-written because it is measured to matter: validating one ``AssetOut`` per asset
    cost 0.44 ms for a 100-asset page against 0.12 ms here (``make bench-encode``),
    which took 13 % off the closed-loop throughput of ``list_assets`` in ``make bench-api``.
    Byte-identical to the model (pinned by
    ``test_the_fast_asset_page_encoder_writes_exactly_what_the_model_does``)."""
    items = [
        {
            "id": asset.id or 0,
            "ticker": asset.ticker,
            "name": asset.name,
            "market": asset.market.value,
            "exchange": asset.exchange.value,
            "currency": asset.currency.value,
            "asset_type": asset.asset_type.value,
            "sector": asset.sector,
            "active": asset.active,
            "provider_symbol": asset.provider_symbol,
            "prices_source": _source_json(asset.prices_source),
        }
        for asset in assets
    ]
    return orjson.dumps({"items": items, "next_cursor": next_cursor})


@functools.lru_cache(maxsize=64)
def _source_json(provider: str | None) -> dict[str, Any] | None:
    source = SourceOut.of(provider)
    return None if source is None else source.model_dump()


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

    @classmethod
    def of(cls, asset: Asset, frame: pd.DataFrame, fields: tuple[str, ...]) -> PriceSeriesOut:
        columns: dict[str, Any] = {
            name: frame[name].to_numpy("float64").tolist() for name in fields
        }
        return cls(
            asset_id=asset.id or 0,
            ticker=asset.ticker,
            currency=asset.currency.value,
            source=SourceOut.of(asset.prices_source),
            bars=Bars(date=[d.isoformat() for d in frame["date"]], **columns),
        )


def encode_price_series(asset: Asset, frame: pd.DataFrame, fields: tuple[str, ...]) -> bytes:
    """``PriceSeriesOut.of(asset, frame, fields)`` as JSON, the columns not asked for left
    out (``fields`` in ``PRICE_FIELDS`` order, as the price use cases pass them).

    Hand-written because it is measured to matter: orjson encodes the float64 columns (NaN as
    null) and the ``date`` objects natively instead of building ~15k Python floats and date
    strings, 0.50 ms against 2.16 ms through the model for a 10-year series of all six fields
    (``make bench-encode``, orjson 3.13, pydantic 2.14), and every price response
    the series cache misses pays it once per asset. Byte-identical to the model (pinned by
    ``test_the_fast_series_encoder_writes_exactly_what_the_model_does``)."""
    bars: dict[str, Any] = {"date": frame["date"].tolist()}
    for name in fields:
        bars[name] = np.ascontiguousarray(frame[name].to_numpy(), dtype="float64")
    body = {
        "asset_id": asset.id or 0,
        "ticker": asset.ticker,
        "currency": asset.currency.value,
        "source": _source_json(asset.prices_source),
        "bars": bars,
    }
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


class PricesOut(BaseModel):
    items: list[PriceSeriesOut]


def floats(values: Any) -> list[float | None]:
    """A float column as JSON-ready values: NaN/inf become null, never zero."""
    array = np.asarray(values, dtype="float64")
    out: list[float | None] = array.tolist()
    if not np.isfinite(array).all():
        out = [v if math.isfinite(v) else None for v in array.tolist()]
    return out


class Series(BaseModel):
    dates: list[str]
    values: list[float | None]

    @classmethod
    def of(cls, series: Mapping[str, list[Any]]) -> Series:
        """A stored ``{"dates", "values"}`` series with undefined values as null."""
        return cls(
            dates=[str(d) for d in series.get("dates", [])],
            values=floats(series.get("values", [])),
        )

    @classmethod
    def maybe(cls, series: Mapping[str, list[Any]] | None) -> Series | None:
        return None if series is None else cls.of(series)


class MacroSeriesOut(BaseModel):
    code: str
    name: str
    frequency: str
    units: str
    source: SourceOut | None = Field(
        default=None, description=f"Where the stored observations came from. {_PROVENANCE}"
    )

    @classmethod
    def of(cls, series: MacroSeries) -> MacroSeriesOut:
        return cls(
            code=series.code,
            name=series.name,
            frequency=series.frequency.value,
            units=series.units,
            source=SourceOut.of(series.source),
        )


class ObservationsOut(BaseModel):
    code: str
    name: str
    frequency: str
    units: str
    source: SourceOut | None = Field(
        default=None, description=f"Where these observations came from. {_PROVENANCE}"
    )
    transform: str | None = None
    observations: Series

    @classmethod
    def of(cls, found: MacroObservations) -> ObservationsOut:
        series = MacroSeriesOut.of(found.series)
        values = found.values
        return cls(
            **dict(series),
            transform=found.transform,
            observations=Series(
                dates=[d.date().isoformat() for d in values.index],
                values=floats(values.to_numpy()),
            ),
        )


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

    @classmethod
    def of(cls, job: BacktestJob) -> JobOut:
        base = f"/v1/backtests/{job.id}"
        strategy = job.spec.get("strategy")
        return cls(
            id=job.id,
            status=job.status,
            name=job.spec.get("name"),
            strategy=strategy.get("type") if isinstance(strategy, dict) else None,
            spec=job.spec,
            attempts=job.attempts,
            progress=job.progress,
            error=job.error,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            links=JobLinks(self=base, result=f"{base}/result", chart=f"{base}/chart.svg"),
        )


class ResultOut(BaseModel):
    id: uuid.UUID
    status: JobStatus
    metrics: dict[str, float | None] | None = None
    nav: Series | None = None
    benchmark: Series | None = None
    weights: list[dict[str, Any]] | None = None
    analytics: dict[str, Any] | None = None

    @classmethod
    def of(cls, job: BacktestJob, result: BacktestResult) -> ResultOut:
        """Every part; send only those asked for with ``ModelResponse(exclude=...)``."""
        return cls(
            id=job.id,
            status=job.status,
            metrics=json_ready(result.metrics),
            nav=Series.of(result.nav),
            benchmark=Series.maybe(result.benchmark),
            weights=json_ready(result.weights),
            analytics=json_ready(result.analytics),
        )


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

    @classmethod
    def of(cls, row: PortfolioSummary) -> PortfolioSummaryOut:
        return cls(
            id=row.id,
            name=row.name,
            backtest_id=row.backtest_id,
            strategy=row.strategy,
            created_at=row.created_at,
            cagr=_finite(row.cagr),
            volatility=_finite(row.volatility),
            sharpe=_finite(row.sharpe),
            max_drawdown=_finite(row.max_drawdown),
        )


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

    @classmethod
    def of(cls, detail: PortfolioDetail) -> PortfolioOut:
        strategy = detail.job.spec.get("strategy")
        return cls(
            id=detail.portfolio.id,
            name=detail.portfolio.name,
            backtest_id=detail.job.id,
            created_at=detail.portfolio.created_at,
            strategy=strategy.get("type", "") if isinstance(strategy, dict) else "",
            spec=detail.job.spec,
            metrics=json_ready(detail.result.metrics),
            nav=Series.of(detail.result.nav),
            benchmark=Series.maybe(detail.result.benchmark),
            weights=json_ready(detail.result.weights),
            analytics=json_ready(detail.result.analytics),
        )


class IngestAccepted(BaseModel):
    message_id: str
    command: dict[str, Any]

    @classmethod
    def of(cls, sent: SentIngestCommand) -> IngestAccepted:
        return cls(
            message_id=sent.message_id,
            command=sent.command.model_dump(mode="json", exclude_none=True),
        )


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

    @classmethod
    def of(cls, run: IngestionRun) -> RunOut:
        return cls(
            id=run.id,
            command_type=run.command_type,
            trigger=run.trigger.value,
            status=run.status.value,
            started_at=run.started_at,
            finished_at=run.finished_at,
            parent_id=run.parent_id,
            dry_run=run.dry_run,
            source=SourceOut.of(run.source),
            command=run.command,
            counts=run.counts,
            failures=run.failures,
            issues=run.issues,
        )


class MarketFreshness(BaseModel):
    market: str
    last_stored_session: date | None
    last_completed_session: date | None
    sessions_behind: int | None
    stale: bool

    @classmethod
    def of(cls, fresh: StoredMarketFreshness) -> MarketFreshness:
        return cls(
            market=fresh.market.value,
            last_stored_session=fresh.last_stored_session,
            last_completed_session=fresh.last_completed_session,
            sessions_behind=fresh.sessions_behind,
            stale=fresh.stale,
        )


class FreshnessOut(BaseModel):
    checked_at: datetime
    markets: list[MarketFreshness]
    macro: dict[str, date]

    @classmethod
    def of(cls, report: FreshnessReport) -> FreshnessOut:
        return cls(
            checked_at=report.checked_at,
            markets=[MarketFreshness.of(m) for m in report.markets],
            macro=report.macro,
        )


class CheckOut(BaseModel):
    status: str
    detail: str | None = None


class ReadinessOut(BaseModel):
    status: str = Field(examples=["ok"])
    checks: dict[str, CheckOut]


# --- encoding ---------------------------------------------------------------------------------


def encode_model(
    model: BaseModel, exclude: Collection[str] = (), *, exclude_unset: bool = False
) -> bytes:
    """A response model as compact JSON. pydantic's Python-mode dump encoded by orjson keeps
    datetimes as ``isoformat()`` writes them (``+00:00``, where pydantic's JSON mode writes
    ``Z``); NaN and infinity become null."""
    content = model.model_dump(exclude=set(exclude) or None, exclude_unset=exclude_unset)
    return orjson.dumps(content, default=_uuid_subclass, option=orjson.OPT_SERIALIZE_NUMPY)


def _uuid_subclass(value: Any) -> str:
    # orjson encodes ``uuid.UUID`` itself but not subclasses, such as asyncpg's, which pydantic
    # passes through unchanged.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class ModelResponse(Response):
    """A response model sent as ``application/json`` (FastAPI does not validate it again)."""

    media_type = "application/json"

    def __init__(
        self,
        model: BaseModel,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        exclude: Collection[str] = (),
    ) -> None:
        super().__init__(encode_model(model, exclude), status_code=status_code, headers=headers)


def accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "")


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def json_ready(value: Any) -> Any:
    """A deep copy of stored JSON data with non-finite floats as null and string keys."""
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
