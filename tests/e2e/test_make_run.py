"""`make run` (``insight-invest dev``): the offline stack on its embedded defaults comes up, runs
the scheduled ingestion and a backtest, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.processes import free_port

pytestmark = [pytest.mark.e2e]


async def test_dev_stack_serves_a_backtest_on_sample_data_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "AWS_", "SQS_"))}
    env.update({"GATEWAY_PORT": str(port), "LOCAL_SQS_PORT": str(free_port())})
    dev = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "dev"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            runs = await _wait_for(
                client,
                "/v1/ingestion/runs",
                lambda body: sum(r["status"] == "succeeded" for r in body["items"]) == 3,
            )
            assert {r["command"].get("market", "MACRO") for r in runs["items"]} == {
                "US",
                "KR",
                "MACRO",
            }
            assert all(r["trigger"] == "schedule" for r in runs["items"])
            spec = {
                "strategy": {"type": "equal_weight"},
                "universe": ["SPY", "069500"],
                "start": "2015-01-01",
                "end": "2020-12-31",
                "benchmark": "SPY",
            }
            created = await client.post("/v1/backtests", json=spec)
            assert created.status_code == 202, created.text
            job = await _wait_for(
                client,
                created.headers["location"],
                lambda body: body["status"] in {"succeeded", "failed"},
            )
            assert job["status"] == "succeeded", job
    finally:
        dev.send_signal(signal.SIGINT)
        output, _ = dev.communicate(timeout=120)
    assert dev.returncode == 0, output
    assert f"Insight-Invest is ready at http://127.0.0.1:{port}" in output
    assert "stopped." in output
    assert (tmp_path / "var" / "insight-invest.db").exists()


async def _wait_for(client: httpx.AsyncClient, path: str, until, timeout_s: float = 300) -> dict:
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
