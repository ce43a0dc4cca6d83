"""The whole loop as users and operators see it, with every service a real process against
PostgreSQL and the local SQS endpoint: an update command lands prices that the gateway serves,
and a submitted backtest is run by the backtester and its result fetched."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.support.processes import ServiceStack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.sqs]


@pytest.fixture
def stack(postgres_url, sqs_endpoint, tmp_path):
    stack = ServiceStack(
        database_url=postgres_url, sqs_endpoint=sqs_endpoint, log_dir=tmp_path / "logs"
    )
    stack.cli("migrate")
    stack.cli("seed")
    yield stack
    stack.stop_all()


async def poll(fetch, until, timeout_s: float = 120, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while True:
        value = await fetch()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting; last value: {value}")
        await asyncio.sleep(every_s)


async def test_update_command_then_backtest_end_to_end(stack):
    for name in ("ingestor", "backtester", "gateway"):
        stack.start(name)
    await stack.wait_ready()
    command = {"type": "update_prices", "market": "US", "tickers": ["SPY", "IEF", "EFA"]}
    assert stack.cli("send", json.dumps(command)).stdout.strip()

    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        listing = (await client.get("/v1/assets", params={"q": "SPY", "market": "US"})).json()
        spy = next(a for a in listing["items"] if a["ticker"] == "SPY")

        async def spy_prices():
            return (await client.get(f"/v1/assets/{spy['id']}/prices")).json()

        prices = await poll(
            spy_prices, lambda body: len(body.get("bars", {}).get("date", [])) > 1000
        )
        assert prices["ticker"] == "SPY" and prices["currency"] == "USD"
        assert len(prices["bars"]["close"]) == len(prices["bars"]["date"])

        spec = {
            "strategy": {"type": "equal_weight", "params": {}},
            "universe": ["SPY", "IEF", "EFA"],
            "start": "2012-01-01",
            "end": "2020-12-31",
            "rebalance": "M",
            "benchmark": "SPY",
        }
        submitted = await client.post("/v1/backtests", json=spec)
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["status"] == "queued"
        location = submitted.headers["location"]

        async def job():
            return (await client.get(location)).json()

        finished = await poll(job, lambda body: body["status"] in {"succeeded", "failed"})
        assert finished["status"] == "succeeded", finished
        result = (await client.get(f"{location}/result")).json()
        assert len(result["nav"]["dates"]) == len(result["nav"]["values"]) > 2000
        assert isinstance(result["metrics"]["cagr"], float)

    exit_codes = stack.stop_all()
    assert exit_codes == {"ingestor": 0, "backtester": 0, "gateway": 0}, {
        name: stack.logs(name)[-2000:] for name in exit_codes
    }
