"""Where the data came from, through the gateway, over every store (the in-memory fakes,
SQLite and PostgreSQL, from the repository contract fixtures): data ingested from the offline
sample provider reads back as synthetic on every route, a change of provider relabels the
cached series and moves its ETag, and a write landing mid-read never mislabels a response."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
import pandas as pd
import pytest

from adapters.clock import ManualClock
from adapters.memory.providers import InMemoryMarketDataProvider
from adapters.memory.queue import InMemoryMessageQueue
from adapters.providers.sample import SampleMacroDataProvider, SampleMarketDataProvider
from adapters.universe import seed_assets, seed_macro_series
from domain.messages import UpdateMacro, UpdatePrices
from domain.model import Asset, Market
from domain.ports import MarketDataProvider, Repositories
from domain.usecases.ingest_macro import IngestMacro
from domain.usecases.ingest_prices import IngestPrices
from gateway.bootstrap import bootstrap
from gateway.container import GatewayOptions
from tests.integration.repositories.conftest import (  # noqa: F401 - fixtures used by name
    Backend,
    backend,
    backend_url,
    migrated_postgres_url,
    sqlite_contract_url,
)
from tests.unit.gateway.seed import bars

AS_OF = date(2025, 12, 31)


@asynccontextmanager
async def gateway(repos: Repositories) -> AsyncIterator[httpx.AsyncClient]:
    app = bootstrap(
        repositories=repos,
        backtest_queue=InMemoryMessageQueue("backtest"),
        ingest_queue=InMemoryMessageQueue("ingest"),
        clock=ManualClock(),
        options=GatewayOptions(),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def seed_spy(repos: Repositories) -> Asset:
    [spy] = await repos.assets.upsert_many([a for a in seed_assets() if a.ticker == "SPY"])
    assert spy.id is not None
    return spy


async def ingest_prices(repos: Repositories, provider: MarketDataProvider) -> None:
    ingest = IngestPrices(
        repositories=repos,
        provider=provider,
        queue=InMemoryMessageQueue("ingest"),
        clock=ManualClock(),
    )
    await ingest(UpdatePrices(market=Market.US, tickers=["SPY"]), run_id=uuid.uuid4())


def vendor(history: pd.DataFrame) -> InMemoryMarketDataProvider:
    """A market-data vendor (as yfinance would be) serving ``history`` for SPY."""
    provider = InMemoryMarketDataProvider({"SPY": history})
    provider.name = "yfinance"
    return provider


def assert_sample(source: dict[str, Any] | None) -> None:
    assert source is not None
    assert source["provider"] == "sample" and source["synthetic"] is True
    assert "not market data" in source["description"]


async def get_json(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_data_ingested_from_the_sample_provider_reads_back_as_synthetic(
    backend: Backend,  # noqa: F811
) -> None:
    repos = backend.repos
    spy = await seed_spy(repos)
    await ingest_prices(repos, SampleMarketDataProvider(as_of=AS_OF))
    macro = IngestMacro(
        repositories=repos, provider=SampleMacroDataProvider(as_of=AS_OF), clock=ManualClock()
    )
    await macro(UpdateMacro(series=["DGS10", "GDPC1"]), run_id=uuid.uuid4())

    async with gateway(repos) as client:
        asset = await get_json(client, f"/v1/assets/{spy.id}")
        listed = await get_json(client, "/v1/assets", q="SPY")
        series = await get_json(client, f"/v1/assets/{spy.id}/prices", start="2025-01-01")
        many = await get_json(client, "/v1/prices", asset_id=[spy.id])
        catalog = await get_json(client, "/v1/macro/series")
        observations = await get_json(client, "/v1/macro/series/GDPC1/observations")
        runs = await get_json(client, "/v1/ingestion/runs")

    assert asset["name"] == "SPDR S&P 500 ETF Trust"  # a real name over made-up prices ...
    assert_sample(asset["prices_source"])  # ... is labelled as such wherever it is read
    assert_sample(listed["items"][0]["prices_source"])
    assert_sample(series["source"])
    assert series["bars"]["date"][-1] == "2025-12-31"
    assert many["items"][0] == series | {"bars": many["items"][0]["bars"]}
    by_code = {s["code"]: s["source"] for s in catalog["items"]}
    assert_sample(by_code["DGS10"])
    assert_sample(by_code["GDPC1"])
    assert by_code["PAYEMS"] is None  # in the catalog, nothing ingested yet
    assert_sample(observations["source"])
    assert len(observations["observations"]["dates"]) > 80
    assert len(runs["items"]) == 2
    for run in runs["items"]:
        assert_sample(run["source"])


async def test_a_change_of_provider_relabels_the_cached_series_and_moves_its_etag(
    backend: Backend,  # noqa: F811
) -> None:
    repos = backend.repos
    spy = await seed_spy(repos)
    await ingest_prices(repos, SampleMarketDataProvider(as_of=AS_OF))
    url = f"/v1/assets/{spy.id}/prices"

    async with gateway(repos) as client:
        before = await client.get(url)
        assert_sample(before.json()["source"])
        await ingest_prices(repos, vendor(bars(seed=3)))
        after = await client.get(url, headers={"If-None-Match": before.headers["etag"]})
        asset = await get_json(client, f"/v1/assets/{spy.id}")

    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    body = after.json()
    assert body["source"] == asset["prices_source"]
    assert body["source"]["provider"] == "yfinance" and body["source"]["synthetic"] is False
    assert body["bars"]["date"][0] == "2015-01-01"  # the vendor's history, not the sample's


async def test_a_price_write_landing_mid_read_never_mislabels_the_response(
    backend: Backend,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repos = backend.repos
    spy = await seed_spy(repos)
    assert spy.id is not None
    await ingest_prices(repos, SampleMarketDataProvider(as_of=AS_OF))
    vendor_history = bars(seed=3)
    read = repos.prices.read

    async def read_after_a_provider_change(*args: Any, **kwargs: Any) -> pd.DataFrame:
        # The first read of the bars comes after the gateway read the asset as sample-sourced.
        monkeypatch.setattr(repos.prices, "read", read)
        assert spy.id is not None
        await repos.prices.replace(spy.id, vendor_history, "yfinance")
        return await read(*args, **kwargs)

    monkeypatch.setattr(repos.prices, "read", read_after_a_provider_change)
    async with gateway(repos) as client:
        first = await get_json(client, f"/v1/assets/{spy.id}/prices", fields=["close"])
        again = await get_json(client, f"/v1/assets/{spy.id}/prices", fields=["close"])

    assert first["source"]["provider"] == "yfinance"
    assert first["bars"]["close"] == pytest.approx(vendor_history["close"].tolist())
    assert again == first


async def test_observations_changing_provider_mid_read_are_never_mislabelled(
    backend: Backend,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repos = backend.repos
    macro = IngestMacro(
        repositories=repos, provider=SampleMacroDataProvider(as_of=AS_OF), clock=ManualClock()
    )
    await macro(UpdateMacro(series=["DGS10"]), run_id=uuid.uuid4())
    fred = pd.DataFrame({"date": [date(2024, 1, 2), date(2024, 1, 3)], "value": [3.9, 4.0]})
    read = repos.macro.read_observations

    async def read_after_a_provider_change(*args: Any, **kwargs: Any) -> pd.DataFrame:
        monkeypatch.setattr(repos.macro, "read_observations", read)
        await repos.macro.replace_observations("DGS10", fred, "fred")
        return await read(*args, **kwargs)

    monkeypatch.setattr(repos.macro, "read_observations", read_after_a_provider_change)
    async with gateway(repos) as client:
        body = await get_json(client, "/v1/macro/series/DGS10/observations")

    assert body["source"]["provider"] == "fred" and body["source"]["synthetic"] is False
    assert body["observations"] == {"dates": ["2024-01-02", "2024-01-03"], "values": [3.9, 4.0]}


async def test_after_the_sample_macro_update_no_catalog_series_is_empty(
    backend: Backend,  # noqa: F811
) -> None:
    repos = backend.repos
    await repos.macro.upsert_series(seed_macro_series())  # what `insight-invest seed` loads
    macro = IngestMacro(
        repositories=repos, provider=SampleMacroDataProvider(as_of=AS_OF), clock=ManualClock()
    )
    await macro(UpdateMacro(), run_id=uuid.uuid4())  # the scheduled macro command

    async with gateway(repos) as client:
        catalog = (await get_json(client, "/v1/macro/series"))["items"]
        observed = {
            s["code"]: (await get_json(client, f"/v1/macro/series/{s['code']}/observations"))
            for s in catalog
        }

    assert len(catalog) == len(seed_macro_series())
    for series in catalog:
        assert_sample(series["source"])
        assert observed[series["code"]]["observations"]["dates"], series["code"]
