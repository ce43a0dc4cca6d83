"""`make run` (``insight-invest dev``): the offline stack comes up on its embedded defaults (and
on PostgreSQL, and on the csv provider), runs the scheduled ingestion and a backtest, takes a
command from ``send --local``, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.postgres import create_database, drop_database
from tests.support.processes import free_port
from tests.support.shared_data import shared_data_dir

pytestmark = [pytest.mark.e2e]

# Settings of the developer's shell that would point the stack elsewhere than the case under
# test: another database, real AWS, Yahoo/FRED, a shared state directory, API keys.
_FOREIGN_PREFIXES = ("DATABASE_", "DB_", "AWS_", "SQS_", "FRED_", "MARKET_DATA_", "MACRO_DATA_")
_FOREIGN_NAMES = ("INSIGHT_VAR_DIR", "API_KEYS", "REQUIRE_KEY_FOR_READS", "GATEWAY_WORKERS")
SPEC = {
    "strategy": {"type": "equal_weight"},
    "universe": ["SPY", "069500"],
    "start": "2015-01-01",
    "end": "2020-11-30",  # the real data in ../shared ends in December 2020
    "benchmark": "SPY",
}


@dataclass
class DevStack:
    gateway_port: int
    sqs_port: int
    output: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"


@asynccontextmanager
async def dev_stack(cwd: Path, settings: dict[str, str]) -> AsyncIterator[DevStack]:
    """``insight-invest dev`` in ``cwd`` with the provider settings of the case, whatever the
    developer's shell exports; Ctrl-C on the way out, which must stop it cleanly."""
    stack = DevStack(gateway_port=free_port(), sqs_port=free_port())
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_FOREIGN_PREFIXES) and key not in _FOREIGN_NAMES
    }
    env.update(
        {
            "GATEWAY_PORT": str(stack.gateway_port),
            "LOCAL_SQS_PORT": str(stack.sqs_port),
            "MARKET_DATA_PROVIDER": "sample",
            "MACRO_DATA_PROVIDER": "sample",
            **settings,
        }
    )
    dev = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "dev"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield stack
    finally:
        dev.send_signal(signal.SIGINT)
        stack.output, _ = dev.communicate(timeout=120)
    assert dev.returncode == 0, stack.output
    assert f"Insight-Invest is ready at {stack.base_url}" in stack.output
    assert "stopped." in stack.output


async def test_dev_stack_on_sqlite_serves_a_backtest_takes_send_local_and_stops_on_ctrl_c(
    tmp_path, monkeypatch
):
    # A developer who works against the real vendors: the stack under test must not use them.
    monkeypatch.setenv("MARKET_DATA_PROVIDER", "yfinance")
    monkeypatch.setenv("MACRO_DATA_PROVIDER", "fred")
    monkeypatch.setenv("FRED_API_KEY", "not-a-real-key")
    async with (
        dev_stack(tmp_path, {}) as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client,
    ):
        await _scheduled_ingestion_succeeded(client)
        await _backtest_succeeds(client)
        sent = _send_local(
            stack.sqs_port, {"type": "update_prices", "market": "US", "tickers": ["SPY"]}
        )
        await _wait_for(
            client,
            "/v1/ingestion/runs",
            lambda body: any(
                r["trigger"] == "manual" and r["status"] == "succeeded" for r in body["items"]
            ),
        )
    assert f"on http://127.0.0.1:{stack.sqs_port}" in sent.stderr
    assert (
        'Ingestion from the offline sample provider (synthetic data, marked "synthetic": true'
        in stack.output
    )
    assert f"LOCAL_SQS_PORT={stack.sqs_port} " in stack.output
    assert "send --local" in stack.output
    # A stack on its own gateway port keeps its own database and logs.
    state = tmp_path / "var" / f"port-{stack.gateway_port}"
    assert (state / "insight-invest.db").exists()
    assert (state / "logs" / "gateway.log").exists()
    assert not (tmp_path / "var" / "insight-invest.db").exists()
    assert await _providers_in_store(f"sqlite+aiosqlite:///{state / 'insight-invest.db'}") == {
        "sample"
    }


@pytest.mark.postgres
async def test_dev_stack_with_database_url_runs_on_postgresql(tmp_path, postgres_server):
    url = await create_database(postgres_server, prefix="ii_make_run")
    try:
        # The plain form users copy from a PostgreSQL manual; the stack picks the driver.
        plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        async with (
            dev_stack(tmp_path, {"DATABASE_URL": plain}) as stack,
            httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client,
        ):
            await _scheduled_ingestion_succeeded(client)
            await _backtest_succeeds(client)
        assert await _providers_in_store(url) == {"sample"}
        assert await _scalar(url, "SELECT count(*) FROM backtest_jobs") == 1
        assert not list(tmp_path.rglob("*.db")), "the stack wrote a SQLite file"
    finally:
        await drop_database(postgres_server, url)


@pytest.mark.shared_data
async def test_dev_stack_on_the_csv_provider_loads_the_real_data(tmp_path):
    canonical = shared_data_dir() / "canonical"
    settings = {
        "MARKET_DATA_PROVIDER": "csv",
        "MACRO_DATA_PROVIDER": "csv",
        "MARKET_DATA_DIR": str(canonical),
    }
    async with (
        dev_stack(tmp_path, settings) as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client,
    ):
        await _scheduled_ingestion_succeeded(client)
        assets = (await client.get("/v1/assets", params={"limit": 500})).json()
        await _backtest_succeeds(client)
    assert {a["ticker"] for a in assets["items"]} == _tickers(canonical / "assets.csv")
    assert f"Ingestion from the csv provider ({canonical}) runs now" in stack.output
    store = (
        f"sqlite+aiosqlite:///{tmp_path / 'var' / f'port-{stack.gateway_port}'}/insight-invest.db"
    )
    assert await _providers_in_store(store) == {"csv"}
    first_spy_bar = (canonical / "prices" / "SPY.csv").read_text().splitlines()[1].split(",")[0]
    assert str(await _scalar(store, _FIRST_SPY_BAR)) == first_spy_bar


async def _scheduled_ingestion_succeeded(client: httpx.AsyncClient) -> None:
    runs = await _wait_for(
        client,
        "/v1/ingestion/runs",
        lambda body: sum(r["status"] == "succeeded" for r in body["items"]) == 3,
    )
    assert {r["command"].get("market", "MACRO") for r in runs["items"]} == {"US", "KR", "MACRO"}
    assert all(r["trigger"] == "schedule" for r in runs["items"])


async def _backtest_succeeds(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/backtests", json=SPEC)
    assert created.status_code == 202, created.text
    job = await _wait_for(
        client,
        created.headers["location"],
        lambda body: body["status"] in {"succeeded", "failed"},
    )
    assert job["status"] == "succeeded", job


_FIRST_SPY_BAR = (
    "SELECT min(p.date) FROM prices p JOIN assets a ON a.id = p.asset_id WHERE a.ticker = 'SPY'"
)


async def _providers_in_store(url: str) -> set[str]:
    """The providers that wrote the stored runs, prices and macro series (their provenance)."""
    query = (
        "SELECT source FROM ingestion_runs UNION SELECT prices_source FROM assets "
        "UNION SELECT source FROM macro_series"
    )
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {row[0] for row in await conn.execute(text(query)) if row[0] is not None}
    finally:
        await engine.dispose()


async def _scalar(url: str, query: str) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(query))).scalar_one()
    finally:
        await engine.dispose()


def _tickers(assets_csv: Path) -> set[str]:
    return {line.split(",")[0] for line in assets_csv.read_text().splitlines()[1:] if line}


def _send_local(sqs_port: int, body: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """The ready message's command, from a shell with no SQS settings of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQS_"))}
    env["LOCAL_SQS_PORT"] = str(sqs_port)
    env["AWS_PROFILE"] = "a-profile-this-machine-does-not-have"
    sent = subprocess.run(
        [sys.executable, "-m", "cli.main", "send", "--local", json.dumps(body)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    return sent


async def _wait_for(
    client: httpx.AsyncClient, path: str, until: Callable[[Any], bool], timeout_s: float = 300
) -> Any:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = await client.get(path)
            last = response.json() if response.status_code == 200 else response.text
            if response.status_code == 200 and until(last):
                return last
        except httpx.HTTPError as exc:
            last = exc
        await asyncio.sleep(1)
    raise AssertionError(f"{path} never matched; last: {last}")
