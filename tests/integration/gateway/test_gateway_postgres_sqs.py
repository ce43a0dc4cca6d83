"""The gateway over its real adapters: PostgreSQL (migrated) and SQS (moto on loopback), built
by its composition root exactly as in production."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid

import httpx
import pandas as pd
import pytest
from sqlalchemy import text

from adapters.sqlalchemy import (
    SqlaAssetRepository,
    SqlaPriceRepository,
    create_engine,
    run_migrations,
)
from domain.model import Asset, AssetType, Currency, Exchange, JobStatus, Market
from gateway.bootstrap import create_app_from_env, engine_options, ping_when_idle
from gateway.container import GatewayContainer
from tests.support.gateway import queue_settings, running_gateway
from tests.unit.gateway.seed import bars

pytestmark = [pytest.mark.postgres, pytest.mark.sqs]

PROBLEM = "application/problem+json"
# The ALB closes a request that sent nothing for this long (its default idle timeout, which
# deploy/templates keeps).
LOAD_BALANCER_IDLE_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> str:
    run_migrations(postgres_url)
    return postgres_url


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed_tickers(container: GatewayContainer) -> list[str]:
    """Three fresh US assets with history (unique tickers: the database is shared per session)."""
    tickers = [f"Z{uuid.uuid4().hex[:6].upper()}" for _ in range(3)]
    assets = await container.repositories.assets.upsert_many(
        [
            Asset(
                ticker=t,
                name=f"test {t}",
                market=Market.US,
                exchange=Exchange.NYSEARCA,
                currency=Currency.USD,
                asset_type=AssetType.ETF,
            )
            for t in tickers
        ]
    )
    for i, asset in enumerate(assets):
        assert asset.id is not None
        await container.repositories.prices.upsert(asset.id, bars(seed=i))
    return tickers


def spec(tickers: list[str]) -> dict[str, object]:
    return {
        "strategy": {"type": "dual_momentum", "params": {"top_n": 1, "lookback_months": 12}},
        "universe": tickers,
        "start": "2017-01-01",
        "end": "2023-12-31",
        "benchmark": tickers[0],
    }


async def test_submit_writes_the_job_row_and_sends_its_message(
    database_url: str, sqs_endpoint: str
) -> None:
    async with running_gateway(database_url, queue_settings(sqs_endpoint)) as (client, container):
        tickers = await seed_tickers(container)
        response = await client.post(
            "/v1/backtests", json=spec(tickers), headers={"Idempotency-Key": "it-1"}
        )
        assert response.status_code == 202, response.text
        job_id = uuid.UUID(response.json()["id"])
        stored = await container.repositories.jobs.get(job_id)
        assert stored is not None and stored.status == JobStatus.QUEUED and stored.enqueued_at
        messages = await container.backtest_queue.receive(10, 2, 30)
        assert [json.loads(m.body) for m in messages] == [
            {"version": 1, "type": "run_backtest", "job_id": str(job_id)}
        ]
        replay = await client.post(
            "/v1/backtests", json=spec(tickers), headers={"Idempotency-Key": "it-1"}
        )
        assert replay.json()["id"] == str(job_id)
        assert (await client.get("/health/ready")).json()["status"] == "ok"


async def test_database_down_answers_503_problems_before_the_client_gives_up(
    sqs_endpoint: str,
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/nothing"
    async with running_gateway(url, queue_settings(sqs_endpoint)) as (client, _):
        # A client that hangs up like the load balancer (its idle timeout): a refused
        # connection must be answered with a problem, not retried until nobody listens.
        async with asyncio.timeout(LOAD_BALANCER_IDLE_TIMEOUT_S):
            response = await client.get("/v1/assets")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["type"].endswith("/storage-unavailable")
        assert "127.0.0.1" not in response.text
        async with asyncio.timeout(LOAD_BALANCER_IDLE_TIMEOUT_S):
            ready = await client.get("/health/ready")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert (
            checks["database"]["status"] == "unavailable"
            and checks["backtest_queue"]["status"] == "ok"
        )


async def test_queue_down_keeps_the_job_queued_and_readiness_names_the_queue(
    database_url: str,
) -> None:
    queues = queue_settings(f"http://127.0.0.1:{closed_port()}", create=False)
    async with running_gateway(database_url, queues) as (client, container):
        tickers = await seed_tickers(container)
        response = await client.post("/v1/backtests", json=spec(tickers))
        assert response.status_code == 202
        stored = await container.repositories.jobs.get(uuid.UUID(response.json()["id"]))
        assert (
            stored is not None and stored.status == JobStatus.QUEUED and stored.enqueued_at is None
        )
        ready = (await client.get("/health/ready")).json()
        assert ready["checks"]["backtest_queue"]["status"] == "unavailable"
        assert ready["checks"]["database"]["status"] == "ok"


async def test_app_from_environment_builds_and_disposes_its_adapters(
    database_url: str, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queues = queue_settings(sqs_endpoint)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SQS_ENDPOINT_URL", sqs_endpoint)
    monkeypatch.setenv("SQS_CREATE_QUEUES", "true")
    monkeypatch.setenv("BACKTEST_QUEUE_NAME", queues.backtest_queue_name)
    monkeypatch.setenv("INGEST_QUEUE_NAME", queues.ingest_queue_name)
    monkeypatch.setenv("API_KEYS", "k1,k2")
    app = create_app_from_env()
    # The lifespan builds the adapters from the environment on entry and disposes them on exit.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text
            denied = await client.post("/v1/ingestion/commands", json={"type": "update_macro"})
            assert denied.status_code == 401
            accepted = await client.post(
                "/v1/ingestion/commands",
                json={"type": "update_macro"},
                headers={"X-API-Key": "k2"},
            )
            assert accepted.status_code == 202


def scaled(seed: int, factor: float) -> pd.DataFrame:
    """The seeded bars of ``seed`` with every price multiplied by ``factor``."""
    frame = bars(seed=seed)
    for name in ("open", "high", "low", "close", "adj_close"):
        frame[name] = frame[name] * factor
    return frame


async def test_price_reads_show_every_write_at_once_with_the_cache_on(
    database_url: str, sqs_endpoint: str
) -> None:
    """Write → read → write again → read: the gateway's series cache never serves the old
    bars, also when the writer is another process (here: another engine, as the ingestor)."""
    async with running_gateway(database_url, queue_settings(sqs_endpoint)) as (client, container):
        tickers = await seed_tickers(container)
        found = await container.repositories.assets.find(list(tickers))
        ids = [found[t].id for t in tickers]
        one, many = f"/v1/assets/{ids[0]}/prices", {"asset_id": ids, "fields": ["close"]}
        gzip = {"Accept-Encoding": "gzip"}
        seeded = (await client.get(one, headers=gzip)).json()["bars"]["close"]
        cached = await client.get(one, headers=gzip)
        assert container.price_cache.enabled and len(container.price_cache) == 1
        assert (
            await client.get(one, headers={"If-None-Match": cached.headers["etag"]})
        ).status_code == 304
        before_many = (await client.get("/v1/prices", params=many)).json()["items"]

        writer = create_engine(database_url)
        try:
            for factor in (2.0, 3.0):
                await SqlaPriceRepository(writer).upsert(ids[0], scaled(seed=0, factor=factor))
                after = await client.get(
                    one, headers={**gzip, "If-None-Match": cached.headers["etag"]}
                )
                assert after.status_code == 200
                assert after.json()["bars"]["close"] == pytest.approx([factor * v for v in seeded])
                items = (await client.get("/v1/prices", params=many)).json()["items"]
                assert items[0]["bars"]["close"] == pytest.approx([factor * v for v in seeded])
                assert items[1:] == before_many[1:]  # the other assets did not change
            await SqlaPriceRepository(writer).replace(ids[0], scaled(seed=0, factor=1.0).iloc[:5])
        finally:
            await writer.dispose()
        replaced = (await client.get(one, headers=gzip)).json()["bars"]["close"]
        assert replaced == pytest.approx(seeded[:5])


async def test_a_pooled_connection_cut_while_idle_is_replaced_before_a_read_uses_it(
    database_url: str,
) -> None:
    """The gateway's pool has no per-checkout pre-ping; a connection that sat idle is pinged
    instead, so a restart or an idle cut between requests costs no failed request."""
    engine = create_engine(database_url, **engine_options(database_url))
    ping_when_idle(engine, idle_s=0.0)
    try:
        assets = SqlaAssetRepository(engine)
        await assets.get(1)  # one connection in the pool
        async with engine.connect() as conn:
            cut = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        killer = create_engine(database_url)
        try:
            async with killer.connect() as admin:
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": cut})
        finally:
            await killer.dispose()
        await asyncio.sleep(0.1)

        await assets.get(1)  # no error: the dead connection was replaced at checkout
        async with engine.connect() as conn:
            now = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert now != cut
    finally:
        await engine.dispose()
