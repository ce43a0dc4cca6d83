"""Gateway load benchmark: ``make bench-api`` (``python -m bench.api``).

On a fresh PostgreSQL database created and dropped here (server: ``TEST_DATABASE_URL`` or the
local one) holding the 28 US instruments of ``../shared/data/canonical`` (or, where that folder
is absent, the offline sample data for the shipped US universe), the gateway runs as a real
``uvicorn`` subprocess (one worker) against a moto SQS server on loopback, and a lean async
load generator written here on ``httpx`` (not an external tool) drives it:

1. open loop: a fixed 200 requests/s for 30 s over a mix of asset listing, 10-year price
   history of one asset, 5 assets' 10-year prices at once, job status polls and job
   submissions; latency per route is measured from each request's *scheduled* start, so a
   stalled server cannot hide its queueing delay (no coordinated omission);
2. closed loop: 32 clients back to back on each route in turn: the maximum throughput.

The baseline, on the same database in the same run, is built the way the original app served
prices: a synchronous, single-threaded HTTP server running pandas ``read_sql`` and
``to_dict(orient="records")`` per request. pandas needs a synchronous connection: psycopg when
installed, otherwise SQLAlchemy's sync facade over asyncpg (``run_sync``) on one event loop.

All of it shares this machine's cores (server, PostgreSQL, moto and the load generator), so the
numbers are a floor. Results go to ``bench/results/api.json``; the last line printed is the
summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import numpy as np
import pandas as pd

from adapters.sqlalchemy import SqlaAssetRepository, SqlaPriceRepository, create_engine, migrate
from bench.ingest import DEFAULT_ADMIN_URL, create_bench_database, drop_bench_database
from domain.model import Asset, Market

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "api.json"
SHARED_DATA = Path(os.environ.get("INSIGHT_SHARED_DATA", ROOT.parent / "shared" / "data"))

OPEN_RPS = 200
OPEN_SECONDS = 30.0
CLIENTS = 32
CLOSED_SECONDS = 10.0
SUBMIT_CLOSED_SECONDS = 3.0  # moto slows down as its queue grows: keep submissions short
TARGET_P95_MS = 50.0
# Open loop guard rails: a server slower than the arrival rate must not let the backlog (and
# the run time) grow without bound; requests beyond this many in flight count as errors.
MAX_IN_FLIGHT = 400
REQUEST_TIMEOUT_S = 10.0
TARGET_VS_BASELINE = 5.0
HISTORY_YEARS = 10
# Route mix of the open loop (weights sum to 1).
MIX = {
    "list_assets": 0.25,
    "price_history": 0.25,
    "prices_5_assets": 0.20,
    "job_status": 0.25,
    "submit_backtest": 0.05,
}
READ_ROUTES = ("list_assets", "price_history", "prices_5_assets", "job_status")


# --- data ---------------------------------------------------------------------------------


async def load_data(url: str) -> tuple[list[Asset], str]:
    """Store the US universe with its full price history; return the assets and the source."""
    canonical = SHARED_DATA / "canonical"
    if (canonical / "assets.csv").is_file():
        from adapters.providers.csv import CsvMarketDataProvider
        from adapters.universe.loader import load_assets_csv

        universe = [a for a in load_assets_csv(canonical / "assets.csv") if a.market == Market.US]
        provider: Any = CsvMarketDataProvider(canonical)
        source = f"canonical CSV ({len(universe)} US instruments)"
    else:
        from adapters.providers.sample import SampleMarketDataProvider
        from adapters.universe.loader import seed_assets

        universe = [a for a in seed_assets() if a.market == Market.US]
        provider = SampleMarketDataProvider()
        source = f"offline sample data ({len(universe)} US instruments)"
    engine = create_engine(url)
    try:
        stored = await SqlaAssetRepository(engine).upsert_many(universe)
        fetched = await provider.fetch(stored, None, None)
        await SqlaPriceRepository(engine).upsert_many(fetched.bars)
        with_prices = [a for a in stored if a.id in fetched.bars]
    finally:
        await engine.dispose()
    return with_prices, source


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_sqs() -> Iterator[str]:
    """moto's SQS in its own process: in this one it would share the GIL with the load
    generator and slow both down."""
    port = free_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            time.sleep(0.2)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            os.environ.setdefault(key, env[key])
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def gateway_process(database_url: str, sqs_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SQS_ENDPOINT_URL": sqs_url,
        "SQS_CREATE_QUEUES": "true",
        "BACKTEST_QUEUE_NAME": "bench-backtest",
        "INGEST_QUEUE_NAME": "bench-ingest",
        # The benchmark submits far more jobs than a real client may keep queued.
        "MAX_QUEUED_JOBS_PER_KEY": "1000000",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("API_KEYS", None)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "gateway.app:create_app_from_env",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/health/ready", process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise RuntimeError("the gateway did not become ready")


# --- baseline: the original app's way -----------------------------------------------------


class BaselineDatabase:
    """pandas ``read_sql`` over a synchronous connection, one request at a time."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self._url = make_url(url)
        self.method = "pandas.read_sql + to_dict(orient='records')"
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            import psycopg  # noqa: F401
        except ImportError:
            self._sync = None
            self.method += " over SQLAlchemy run_sync/asyncpg (no sync driver installed)"
            self._loop = asyncio.new_event_loop()
            self._async_engine = create_engine(url)
        else:
            from sqlalchemy import create_engine as create_sync_engine

            self._sync = create_sync_engine(self._url.set(drivername="postgresql+psycopg"))
            self.method += " over psycopg"

    def read(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        from sqlalchemy import text

        if self._sync is not None:
            with self._sync.connect() as conn:
                return pd.read_sql(text(sql), conn, params=params)
        assert self._loop is not None

        async def run() -> pd.DataFrame:
            async with self._async_engine.connect() as conn:
                return await conn.run_sync(lambda c: pd.read_sql(text(sql), c, params=params))

        return self._loop.run_until_complete(run())

    def close(self) -> None:
        if self._sync is not None:
            self._sync.dispose()
        elif self._loop is not None:
            self._loop.run_until_complete(self._async_engine.dispose())
            self._loop.close()


def _baseline_handler(db: BaselineDatabase) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = parse_qs(parsed.query)
            if parsed.path == "/assets":
                frame = db.read(
                    "SELECT * FROM assets WHERE market = :m ORDER BY id LIMIT 50", {"m": "US"}
                )
            elif parsed.path.startswith("/prices/"):
                frame = db.read(
                    "SELECT * FROM prices WHERE asset_id = :a AND date >= :s ORDER BY date",
                    {
                        "a": int(parsed.path.rsplit("/", 1)[1]),
                        "s": date.fromisoformat(query["start"][0]),
                    },
                )
            else:
                self.send_error(404)
                return
            body = json.dumps(frame.to_dict(orient="records"), default=str).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            return

    return Handler


@contextlib.contextmanager
def baseline_server(url: str) -> Iterator[tuple[str, str]]:
    db = BaselineDatabase(url)
    server = HTTPServer(("127.0.0.1", 0), _baseline_handler(db))  # single-threaded
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", db.method
    finally:
        server.shutdown()
        db.close()


# --- load generation ----------------------------------------------------------------------


@dataclass
class RouteStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def summary(self, route: str) -> dict[str, Any]:
        ms = np.array(self.latencies) * 1000.0 if self.latencies else np.array([np.nan])
        done = len(self.latencies)
        return {
            "route": route,
            "requests": done + self.errors,
            "rps": round(done / self.elapsed, 1) if self.elapsed else None,
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "errors": self.errors,
        }


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass
class Workload:
    asset_ids: list[int]
    tickers: list[str]
    job_ids: list[str]
    start: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def request(self, route: str) -> Request:
        rng = self.rng
        if route == "list_assets":
            return lambda c: c.get("/v1/assets", params={"market": "US", "limit": 50})
        if route == "price_history":
            asset = rng.choice(self.asset_ids)
            return lambda c: c.get(f"/v1/assets/{asset}/prices", params={"start": self.start})
        if route == "prices_5_assets":
            chosen = rng.sample(self.asset_ids, 5)
            return lambda c: c.get("/v1/prices", params={"asset_id": chosen, "start": self.start})
        if route == "job_status":
            job = rng.choice(self.job_ids)
            return lambda c: c.get(f"/v1/backtests/{job}")
        if route == "submit_backtest":
            body = submit_body(rng.sample(self.tickers, 3))
            return lambda c: c.post("/v1/backtests", json=body)
        raise ValueError(route)


def submit_body(tickers: list[str]) -> dict[str, Any]:
    return {
        "strategy": {"type": "equal_weight"},
        "universe": tickers,
        "start": "2016-01-01",
        "end": "2023-12-31",
    }


def _ok(response: httpx.Response) -> bool:
    return response.status_code < 400


async def _timed(
    client: httpx.AsyncClient, request: Request, stats: RouteStats, since: float
) -> None:
    try:
        response = await request(client)
        await response.aread()
    except httpx.HTTPError:
        stats.errors += 1
        return
    if _ok(response):
        stats.latencies.append(time.perf_counter() - since)
    else:
        stats.errors += 1


def _client(base: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    return httpx.AsyncClient(
        base_url=base, limits=limits, timeout=30.0, headers={"Accept-Encoding": "gzip"}
    )


async def open_loop(base: str, workload: Workload) -> list[dict[str, Any]]:
    """A fixed arrival rate: request i is due at i / rate, whatever the server is doing."""
    routes = list(MIX)
    schedule = workload.rng.choices(
        routes, weights=[MIX[r] for r in routes], k=int(OPEN_RPS * OPEN_SECONDS)
    )
    stats = {r: RouteStats(elapsed=OPEN_SECONDS) for r in routes}
    async with _client(base) as client:
        tasks: list[asyncio.Task[None]] = []
        begin = time.perf_counter()
        for i, route in enumerate(schedule):
            due = begin + i / OPEN_RPS
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(_timed(client, workload.request(route), stats[route], due))
            )
        await asyncio.gather(*tasks)
    return [stats[r].summary(r) for r in routes]


async def closed_loop(
    base: str, route: str, make: Callable[[], Request], seconds: float
) -> dict[str, Any]:
    stats = RouteStats()
    async with _client(base) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                await _timed(client, make(), stats, time.perf_counter())

        begin = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        stats.elapsed = time.perf_counter() - begin
    return stats.summary(route)


async def seed_jobs(base: str, tickers: list[str], count: int = 20) -> list[str]:
    async with _client(base) as client:
        ids = []
        for i in range(count):
            universe = [tickers[(i + k) % len(tickers)] for k in range(3)]
            response = await client.post("/v1/backtests", json=submit_body(universe))
            response.raise_for_status()
            ids.append(response.json()["id"])
    return ids


# --- the run ------------------------------------------------------------------------------


async def run(admin_url: str) -> dict[str, Any]:
    url = await create_bench_database(admin_url)
    try:
        await migrate(url)
        assets, source = await load_data(url)
        if len(assets) < 5:
            raise RuntimeError("need at least 5 assets with prices")
        start = (date.today() - timedelta(days=365 * HISTORY_YEARS)).isoformat()
        with moto_sqs() as sqs_url, gateway_process(url, sqs_url) as base:
            tickers = [a.ticker for a in assets]
            workload = Workload(
                asset_ids=[a.id for a in assets if a.id is not None],
                tickers=tickers,
                job_ids=await seed_jobs(base, tickers),
                start=start,
            )
            # Warm-up: connection pools, caches and the interpreter's first calls.
            await closed_loop(base, "warmup", lambda: workload.request("price_history"), 2.0)
            opened = await open_loop(base, workload)
            closed = []
            for route in MIX:
                seconds = SUBMIT_CLOSED_SECONDS if route == "submit_backtest" else CLOSED_SECONDS
                closed.append(
                    await closed_loop(base, route, lambda r=route: workload.request(r), seconds)
                )
        baseline = await run_baseline(url, workload)
    finally:
        await drop_bench_database(admin_url, url)
    return report(opened, closed, baseline, source)


async def run_baseline(url: str, workload: Workload) -> dict[str, Any]:
    rng = random.Random(11)

    def history() -> Request:
        asset = rng.choice(workload.asset_ids)
        return lambda c: c.get(f"/prices/{asset}", params={"start": workload.start})

    with baseline_server(url) as (base, method):
        await closed_loop(base, "warmup", history, 1.0)
        routes = [
            await closed_loop(base, "price_history", history, CLOSED_SECONDS),
            await closed_loop(
                base, "list_assets", lambda: lambda c: c.get("/assets"), CLOSED_SECONDS
            ),
        ]
    return {"method": method, "clients": CLIENTS, "routes": routes}


def report(
    opened: list[dict[str, Any]],
    closed: list[dict[str, Any]],
    baseline: dict[str, Any],
    source: str,
) -> dict[str, Any]:
    reads = [r for r in opened if r["route"] in READ_ROUTES]
    worst_p95 = max(r["p95_ms"] for r in reads)
    ours = next(r for r in closed if r["route"] == "price_history")["rps"] or 0.0
    theirs = next(r for r in baseline["routes"] if r["route"] == "price_history")["rps"] or 0.0
    ratio = ours / theirs if theirs else float("inf")
    return {
        "data": source,
        "history_years": HISTORY_YEARS,
        "load_generator": "lean async client on httpx (bench/api.py), HTTP/1.1 keep-alive, gzip",
        "server": "uvicorn, 1 worker, gateway.app:create_app_from_env",
        "open_loop": {
            "target_rps": OPEN_RPS,
            "seconds": OPEN_SECONDS,
            "mix": MIX,
            "routes": opened,
        },
        "closed_loop": {"clients": CLIENTS, "seconds": CLOSED_SECONDS, "routes": closed},
        "baseline": baseline,
        "price_history_vs_baseline": round(ratio, 2),
        "targets": {
            "read_p95_under_50ms": worst_p95 < TARGET_P95_MS,
            "read_p95_under_500ms_seed_kpi": worst_p95 < 500.0,
            "no_errors_open_loop": all(r["errors"] == 0 for r in opened),
            "price_history_5x_baseline": ratio >= TARGET_VS_BASELINE,
        },
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def summary_line(result: dict[str, Any]) -> str:
    reads = [r for r in result["open_loop"]["routes"] if r["route"] in READ_ROUTES]
    worst = max(reads, key=lambda r: r["p95_ms"])
    errors = sum(r["errors"] for r in result["open_loop"]["routes"])
    ours = next(r for r in result["closed_loop"]["routes"] if r["route"] == "price_history")
    theirs = next(r for r in result["baseline"]["routes"] if r["route"] == "price_history")
    return (
        f"api: open loop {OPEN_RPS} rps worst read p95 {worst['p95_ms']} ms ({worst['route']}), "
        f"{errors} errors; price history {ours['rps']} rps vs baseline {theirs['rps']} rps "
        f"= {result['price_history_vs_baseline']}x"
    )


def main() -> None:
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    result = asyncio.run(run(admin_url))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                "open_loop": result["open_loop"]["routes"],
                "closed_loop": result["closed_loop"]["routes"],
                "baseline": result["baseline"]["routes"],
            },
            indent=1,
        )
    )
    print(summary_line(result))


if __name__ == "__main__":
    main()
