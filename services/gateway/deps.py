"""Request-scoped access to the container."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from domain.usecases.assets import GetAsset, ListAssets
from domain.usecases.freshness import GetFreshness
from domain.usecases.ingest_commands import SendIngestCommand
from domain.usecases.macro import GetMacroObservations, ListMacroSeries
from domain.usecases.price_history import GetPriceHistory, GetPrices
from domain.usecases.runs import ListRuns
from gateway.container import GatewayContainer
from gateway.observability import GatewayMetrics
from gateway.series_cache import Piece
from gateway.usecases import ReadUseCases


async def get_container(request: Request) -> GatewayContainer:
    container: GatewayContainer = request.app.state.container
    return container


async def get_metrics(request: Request) -> GatewayMetrics:
    metrics: GatewayMetrics = request.app.state.metrics
    return metrics


Container = Annotated[GatewayContainer, Depends(get_container)]
Metrics = Annotated[GatewayMetrics, Depends(get_metrics)]


# --- the read use cases, built once per process (gateway.usecases) -------------------------


async def get_reads(request: Request) -> ReadUseCases:
    reads: ReadUseCases = request.app.state.container.reads
    return reads


Reads = Annotated[ReadUseCases, Depends(get_reads)]


async def _list_assets(reads: Reads) -> ListAssets:
    return reads.list_assets


async def _get_asset(reads: Reads) -> GetAsset:
    return reads.get_asset


async def _get_price_history(reads: Reads) -> GetPriceHistory[Piece]:
    return reads.get_price_history


async def _get_prices(reads: Reads) -> GetPrices[Piece]:
    return reads.get_prices


async def _list_macro_series(reads: Reads) -> ListMacroSeries:
    return reads.list_macro_series


async def _get_macro_observations(reads: Reads) -> GetMacroObservations:
    return reads.get_macro_observations


async def _list_runs(reads: Reads) -> ListRuns:
    return reads.list_runs


async def _get_freshness(reads: Reads) -> GetFreshness:
    return reads.get_freshness


async def _send_ingest_command(reads: Reads) -> SendIngestCommand:
    return reads.send_ingest_command


ListAssetsDep = Annotated[ListAssets, Depends(_list_assets)]
GetAssetDep = Annotated[GetAsset, Depends(_get_asset)]
GetPriceHistoryDep = Annotated[GetPriceHistory[Piece], Depends(_get_price_history)]
GetPricesDep = Annotated[GetPrices[Piece], Depends(_get_prices)]
ListMacroSeriesDep = Annotated[ListMacroSeries, Depends(_list_macro_series)]
GetMacroObservationsDep = Annotated[GetMacroObservations, Depends(_get_macro_observations)]
ListRunsDep = Annotated[ListRuns, Depends(_list_runs)]
GetFreshnessDep = Annotated[GetFreshness, Depends(_get_freshness)]
SendIngestCommandDep = Annotated[SendIngestCommand, Depends(_send_ingest_command)]
