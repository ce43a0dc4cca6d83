"""The use cases of the market, macro and ingestion routes, built once per process over the
container and handed to routes by ``gateway.deps``. All reads, but for sending an ingest
command (those routers' one write)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.usecases.assets import GetAsset, ListAssets
from domain.usecases.freshness import GetFreshness
from domain.usecases.ingest_commands import SendIngestCommand
from domain.usecases.macro import GetMacroObservations, ListMacroSeries
from domain.usecases.price_history import GetPriceHistory, GetPrices
from domain.usecases.runs import ListRuns
from gateway.series_cache import Piece, render_piece

if TYPE_CHECKING:
    from gateway.container import GatewayContainer


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadUseCases:
    list_assets: ListAssets
    get_asset: GetAsset
    get_price_history: GetPriceHistory[Piece]
    get_prices: GetPrices[Piece]
    list_macro_series: ListMacroSeries
    get_macro_observations: GetMacroObservations
    list_runs: ListRuns
    get_freshness: GetFreshness
    send_ingest_command: SendIngestCommand


def build_read_use_cases(container: GatewayContainer) -> ReadUseCases:
    repos = container.repositories
    return ReadUseCases(
        list_assets=ListAssets(assets=repos.assets),
        get_asset=GetAsset(assets=repos.assets),
        get_price_history=GetPriceHistory(
            assets=repos.assets,
            prices=repos.prices,
            render=render_piece,
            cache=container.price_cache,
        ),
        get_prices=GetPrices(
            assets=repos.assets,
            prices=repos.prices,
            render=render_piece,
            cache=container.price_cache,
            max_assets=container.options.max_assets_per_price_request,
        ),
        list_macro_series=ListMacroSeries(macro=repos.macro),
        get_macro_observations=GetMacroObservations(macro=repos.macro),
        list_runs=ListRuns(runs=repos.runs),
        get_freshness=GetFreshness(
            assets=repos.assets,
            prices=repos.prices,
            macro=repos.macro,
            clock=container.clock,
            calendar=container.calendar,
        ),
        send_ingest_command=SendIngestCommand(queue=container.ingest_queue),
    )
