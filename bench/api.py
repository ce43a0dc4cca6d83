"""Gateway load benchmark: ``make bench-api`` (``python -m bench.api``).

On a fresh PostgreSQL database created and dropped here (server: ``TEST_DATABASE_URL`` or the
local one) holding the 28 US instruments of ``../shared/data/canonical`` (or, where that folder
is absent, the offline sample data for the shipped US universe), the gateway runs as a real
subprocess (``python -m cli.main gateway``: uvicorn, ``GATEWAY_WORKERS=2``, one per core)
against a moto SQS server on loopback, and a lean async load generator written here on
``aiohttp`` (not an external tool; its C HTTP parser keeps the generator's own CPU small next
to the server's, where httpx's pure-Python parsing of ~100 kB bodies became the bottleneck)
drives it:

1. open loop: a fixed 200 requests/s for 30 s over a mix of asset listing, 10-year price
   history of one asset, 5 assets' 10-year prices at once, job status polls and job
   submissions; latency per route is measured from each request's *scheduled* start, so a
   stalled server cannot hide its queueing delay (no coordinated omission);
2. closed loop: 32 clients back to back on each route in turn: the maximum throughput.

The gateway caches encoded price series per asset and data revision (``gateway.
series_cache``), so repeated identical requests are cheap: every price request therefore
picks its asset(s) among all the stored ones AND one of several 10-year windows (different
end dates), and the price routes are measured a second time in closed loop against a gateway
started with the cache off (``GATEWAY_PRICE_CACHE_MB=0``): ``closed_loop_cache_off``.

The baseline, on the same database in the same run, is built the way the original app served
prices: a synchronous, single-threaded HTTP server (its own process, like the gateway) running
pandas ``read_sql`` over psycopg and ``to_dict(orient="records")`` per request, measured with
the same closed loop.

All of it shares this machine's cores (server, PostgreSQL, moto and the load generator), so the
numbers are a floor; the load average before and after is recorded. ``BENCH_API_SECONDS``
shortens every phase for a quick check. Results go to ``bench/results/api.json``; the last
line printed is the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import aiohttp
import numpy as np
import pandas as pd

from adapters.sqlalchemy import SqlaAssetRepository, SqlaPriceRepository, create_engine, migrate
from bench.ingest import DEFAULT_ADMIN_URL, create_bench_database, drop_bench_database
from domain.model import Asset, Market

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "api.json"
SHARED_DATA = Path(os.environ.get("INSIGHT_SHARED_DATA", ROOT.parent / "shared" / "data"))

OPEN_RPS = 200
# BENCH_API_SECONDS shortens the open loop to that many seconds and each closed loop to a
# third of it (at least 1 s), for a quick check of the harness.
_QUICK = float(os.environ["BENCH_API_SECONDS"]) if os.environ.get("BENCH_API_SECONDS") else None
OPEN_SECONDS = _QUICK or 30.0
CLIENTS = 32
CLOSED_SECONDS = max(_QUICK / 3, 1.0) if _QUICK else 10.0
SUBMIT_CLOSED_SECONDS = min(3.0, CLOSED_SECONDS)  # moto slows down as its queue grows
WARMUP_SECONDS = min(2.0, CLOSED_SECONDS)
TARGET_P95_MS = 50.0
# Open loop guard rails: a server slower than the arrival rate must not let the backlog (and
# the run time) grow without bound; requests beyond this many in flight count as errors.
MAX_IN_FLIGHT = 400
REQUEST_TIMEOUT_S = 10.0
TARGET_VS_BASELINE = 5.0
HISTORY_YEARS = 10
# 10-year windows ending this many years before today: price requests spread over
# (assets x windows) distinct series, not one hot cache entry.
WINDOW_END_YEARS_AGO = (0, 1, 2, 3)
GATEWAY_WORKERS = 2  # one per core of the 2-core host
PRICE_CACHE_MB = 64  # the gateway's default (GATEWAY_PRICE_CACHE_MB)
PRICE_ROUTES = ("price_history", "prices_5_assets")
# Route mix of the open loop (weights sum to 1).
MIX = {
    "list_assets": 0.25,
    "price_history": 0.25,
    "prices_5_assets": 0.20,
    "job_status": 0.25,
    "submit_backtest": 0.05,
}
READ_ROUTES = ("list_assets", "price_history", "prices_5_assets", "job_status")
LOAD_GENERATOR = (
    "lean async client on aiohttp 3 (bench/api.py; C HTTP parser), HTTP/1.1 keep-alive, "
    "Accept-Encoding: gzip, latency from the scheduled start in the open loop"
)


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


def _get_status(url: str, timeout_s: float = 2.0) -> int | None:
    """The status of a GET, or None when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, urllib.error.URLError):
        return None


def _wait_until(
    check: Callable[[], bool], process: subprocess.Popen[bytes], what: str, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if check():
            return
        time.sleep(0.25)
    raise RuntimeError(f"{what} did not become ready")


@contextlib.contextmanager
def _subprocess(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with _subprocess(command, {**env, "PYTHONUNBUFFERED": "1"}) as process:
        _wait_until(lambda: _get_status(f"{url}/moto-api/") is not None, process, "moto")
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            os.environ.setdefault(key, env[key])
        yield url


@contextlib.contextmanager
def gateway_process(
    database_url: str, sqs_url: str, *, cache_mb: int = PRICE_CACHE_MB
) -> Iterator[str]:
    """The gateway as it is deployed: ``python -m cli.main gateway`` (uvicorn), with
    ``GATEWAY_WORKERS`` workers and a price series cache of ``cache_mb`` (0: off)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SQS_ENDPOINT_URL": sqs_url,
        "SQS_CREATE_QUEUES": "true",
        "BACKTEST_QUEUE_NAME": "bench-backtest",
        "INGEST_QUEUE_NAME": "bench-ingest",
        # The benchmark submits far more jobs than a real client may keep queued.
        "MAX_ACTIVE_JOBS_PER_KEY": "1000000",
        "LOG_LEVEL": "WARNING",
        "GATEWAY_WORKERS": str(GATEWAY_WORKERS),
        "GATEWAY_PRICE_CACHE_MB": str(cache_mb),
    }
    env.pop("API_KEYS", None)
    env.pop("REQUIRE_KEY_FOR_READS", None)
    command = [sys.executable, "-m", "cli.main", "gateway", "--host", "127.0.0.1"]
    base = f"http://127.0.0.1:{port}"
    with _subprocess([*command, "--port", str(port)], env) as process:
        _wait_until(lambda: _get_status(f"{base}/health/ready") == 200, process, "the gateway")
        yield base


# --- baseline: the original app's way -----------------------------------------------------


class BaselineDatabase:
    """pandas ``read_sql`` over a synchronous psycopg connection, one request at a time."""

    method = "pandas.read_sql + to_dict(orient='records') over psycopg, http.server, 1 thread"

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine as create_sync_engine
        from sqlalchemy.engine import make_url

        self._sync = create_sync_engine(make_url(url).set(drivername="postgresql+psycopg"))

    def read(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        from sqlalchemy import text

        with self._sync.connect() as conn:
            return pd.read_sql(text(sql), conn, params=params)

    def close(self) -> None:
        self._sync.dispose()


def _baseline_handler(db: BaselineDatabase) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection. A single-threaded server on keep-alive would
        # serve one client's connection until it closed and starve every other client.
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = parse_qs(parsed.query)
            if parsed.path == "/health":
                frame = pd.DataFrame()
            elif parsed.path == "/assets":
                frame = db.read(
                    "SELECT * FROM assets WHERE market = :m ORDER BY id LIMIT 50", {"m": "US"}
                )
            elif parsed.path.startswith("/prices/"):
                frame = db.read(
                    "SELECT * FROM prices WHERE asset_id = :a AND date >= :s AND date <= :e "
                    "ORDER BY date",
                    {
                        "a": int(parsed.path.rsplit("/", 1)[1]),
                        "s": date.fromisoformat(query["start"][0]),
                        "e": date.fromisoformat(query["end"][0]),
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


class _BaselineHTTPServer(HTTPServer):
    """Single-threaded; the clients wait in a deep listen backlog, not in SYN retries."""

    request_queue_size = 128


def serve_baseline(port: int, database_url: str) -> None:
    """The baseline server's process (``python -m bench.api baseline --port N --url U``)."""
    db = BaselineDatabase(database_url)
    server = _BaselineHTTPServer(("127.0.0.1", port), _baseline_handler(db))
    try:
        server.serve_forever()
    finally:
        db.close()


@contextlib.contextmanager
def baseline_server(url: str) -> Iterator[str]:
    """The baseline in its own process, like the gateway: in this one it would share the GIL
    with the load generator."""
    port = free_port()
    command = [sys.executable, "-m", "bench.api", "baseline", "--port", str(port), "--url", url]
    base = f"http://127.0.0.1:{port}"
    with _subprocess(command, dict(os.environ)) as process:
        _wait_until(lambda: _get_status(f"{base}/health") == 200, process, "the baseline")
        yield base


# --- load generation ----------------------------------------------------------------------


@dataclass
class RouteStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)

    def failed(self, kind: str) -> None:
        self.errors += 1
        self.statuses[kind] = self.statuses.get(kind, 0) + 1

    def summary(self, route: str) -> dict[str, Any]:
        ms = np.array(self.latencies) * 1000.0 if self.latencies else np.array([np.nan])
        done = len(self.latencies)
        out: dict[str, Any] = {
            "route": route,
            "requests": done + self.errors,
            "rps": round(done / self.elapsed, 1) if self.elapsed else None,
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "errors": self.errors,
        }
        if self.statuses:
            out["error_kinds"] = self.statuses
        return out


@dataclass(frozen=True)
class Call:
    """One HTTP request: method, path with its query string, optional JSON body."""

    method: str
    path: str
    body: dict[str, Any] | None = None


def history_windows(today: date) -> list[tuple[str, str]]:
    """(start, end) of each HISTORY_YEARS-long window, ending WINDOW_END_YEARS_AGO ago."""
    windows = []
    for years_ago in WINDOW_END_YEARS_AGO:
        end = today - timedelta(days=round(365.25 * years_ago))
        start = end - timedelta(days=round(365.25 * HISTORY_YEARS))
        windows.append((start.isoformat(), end.isoformat()))
    return windows


@dataclass
class Workload:
    asset_ids: list[int]
    tickers: list[str]
    job_ids: list[str]
    windows: list[tuple[str, str]]
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def window(self) -> str:
        start, end = self.rng.choice(self.windows)
        return f"start={start}&end={end}"

    def calls(self, route: str) -> Callable[[], Call]:
        """A source of fresh requests on one route (for the closed loop)."""
        return lambda: self.request(route)

    def request(self, route: str) -> Call:
        rng = self.rng
        if route == "list_assets":
            return Call("GET", "/v1/assets?market=US&limit=50")
        if route == "price_history":
            asset = rng.choice(self.asset_ids)
            return Call("GET", f"/v1/assets/{asset}/prices?{self.window()}")
        if route == "prices_5_assets":
            query = urlencode([("asset_id", a) for a in rng.sample(self.asset_ids, 5)])
            return Call("GET", f"/v1/prices?{query}&{self.window()}")
        if route == "job_status":
            return Call("GET", f"/v1/backtests/{rng.choice(self.job_ids)}")
        if route == "submit_backtest":
            return Call("POST", "/v1/backtests", submit_body(rng.sample(self.tickers, 3)))
        raise ValueError(route)


def submit_body(tickers: list[str]) -> dict[str, Any]:
    return {
        "strategy": {"type": "equal_weight"},
        "universe": tickers,
        "start": "2016-01-01",
        "end": "2023-12-31",
    }


async def _timed(
    session: aiohttp.ClientSession, base: str, call: Call, stats: RouteStats, since: float
) -> None:
    """Send one request, read (and gunzip) the whole body; record latency from ``since``."""
    try:
        async with session.request(call.method, base + call.path, json=call.body) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        stats.failed(type(error).__name__)
        return
    if status < 400:
        stats.latencies.append(time.perf_counter() - since)
    else:
        stats.failed(str(status))


@contextlib.asynccontextmanager
async def _session() -> Any:
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT, limit_per_host=MAX_IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    headers = {"Accept-Encoding": "gzip"}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:
        yield session


async def open_loop(base: str, workload: Workload) -> list[dict[str, Any]]:
    """A fixed arrival rate: request i is due at i / rate, whatever the server is doing."""
    routes = list(MIX)
    schedule = workload.rng.choices(
        routes, weights=[MIX[r] for r in routes], k=int(OPEN_RPS * OPEN_SECONDS)
    )
    stats = {r: RouteStats(elapsed=OPEN_SECONDS) for r in routes}
    in_flight: set[asyncio.Task[None]] = set()
    async with _session() as session:
        begin = time.perf_counter()
        for i, route in enumerate(schedule):
            due = begin + i / OPEN_RPS
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= MAX_IN_FLIGHT:
                stats[route].failed("backlog")
                continue
            call = workload.request(route)
            task = asyncio.create_task(_timed(session, base, call, stats[route], due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
    return [stats[r].summary(r) for r in routes]


async def closed_loop(
    base: str, route: str, make: Callable[[], Call], seconds: float
) -> dict[str, Any]:
    """CLIENTS clients, each sending its next request as soon as the last one is answered."""
    stats = RouteStats()
    async with _session() as session:
        stop = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < stop:
                await _timed(session, base, make(), stats, time.perf_counter())

        begin = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        stats.elapsed = time.perf_counter() - begin
    return stats.summary(route)


async def seed_jobs(base: str, tickers: list[str], count: int = 20) -> list[str]:
    ids = []
    async with _session() as session:
        for i in range(count):
            universe = [tickers[(i + k) % len(tickers)] for k in range(3)]
            url = f"{base}/v1/backtests"
            async with session.post(url, json=submit_body(universe)) as response:
                response.raise_for_status()
                ids.append((await response.json())["id"])
    return ids


# --- the run ------------------------------------------------------------------------------


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def run(admin_url: str) -> dict[str, Any]:
    load_before = load_average()
    url = await create_bench_database(admin_url)
    try:
        await migrate(url)
        assets, source = await load_data(url)
        if len(assets) < 5:
            raise RuntimeError("need at least 5 assets with prices")
        windows = history_windows(date.today())
        with moto_sqs() as sqs_url:
            with gateway_process(url, sqs_url) as base:
                tickers = [a.ticker for a in assets]
                workload = Workload(
                    asset_ids=[a.id for a in assets if a.id is not None],
                    tickers=tickers,
                    job_ids=await seed_jobs(base, tickers),
                    windows=windows,
                )
                # Warm-up: connection pools, prepared statements, the interpreter's first
                # calls (and, in passing, some of the price series cache).
                for route in READ_ROUTES:
                    await closed_loop(base, "warmup", workload.calls(route), 1.0)
                opened = await open_loop(base, workload)
                load_open = load_average()
                closed = []
                for route in MIX:
                    seconds = (
                        SUBMIT_CLOSED_SECONDS if route == "submit_backtest" else CLOSED_SECONDS
                    )
                    closed.append(await closed_loop(base, route, workload.calls(route), seconds))
            cache_off = await run_cache_off(url, sqs_url, workload)
        baseline = await run_baseline(url, workload)
    finally:
        await drop_bench_database(admin_url, url)
    load = {"before": load_before, "after_open_loop": load_open, "after": load_average()}
    return report(opened, closed, cache_off, baseline, source, load)


async def run_cache_off(url: str, sqs_url: str, workload: Workload) -> list[dict[str, Any]]:
    """The price routes in closed loop against a gateway without its series cache: every
    request reads and encodes its series (the cold path)."""
    with gateway_process(url, sqs_url, cache_mb=0) as base:
        for route in PRICE_ROUTES:
            await closed_loop(base, "warmup", workload.calls(route), WARMUP_SECONDS)
        return [
            await closed_loop(base, route, workload.calls(route), CLOSED_SECONDS)
            for route in PRICE_ROUTES
        ]


async def run_baseline(url: str, workload: Workload) -> dict[str, Any]:
    rng = random.Random(11)

    def history() -> Call:
        start, end = rng.choice(workload.windows)
        asset = rng.choice(workload.asset_ids)
        return Call("GET", f"/prices/{asset}?start={start}&end={end}")

    with baseline_server(url) as base:
        await closed_loop(base, "warmup", history, WARMUP_SECONDS)
        routes = [
            await closed_loop(base, "price_history", history, CLOSED_SECONDS),
            await closed_loop(base, "list_assets", lambda: Call("GET", "/assets"), CLOSED_SECONDS),
        ]
    return {"method": BaselineDatabase.method, "clients": CLIENTS, "routes": routes}


def _rps(routes: list[dict[str, Any]], route: str) -> float:
    return float(next(r for r in routes if r["route"] == route)["rps"] or 0.0)


def report(
    opened: list[dict[str, Any]],
    closed: list[dict[str, Any]],
    cache_off: list[dict[str, Any]],
    baseline: dict[str, Any],
    source: str,
    load: dict[str, list[float]],
) -> dict[str, Any]:
    reads = [r for r in opened if r["route"] in READ_ROUTES]
    worst_p95 = max(r["p95_ms"] for r in reads)
    theirs = _rps(baseline["routes"], "price_history")
    ratio = _rps(closed, "price_history") / theirs if theirs else float("inf")
    cold_ratio = _rps(cache_off, "price_history") / theirs if theirs else float("inf")
    return {
        "data": source,
        "history_years": HISTORY_YEARS,
        "history_windows_end_years_ago": list(WINDOW_END_YEARS_AGO),
        "load_generator": LOAD_GENERATOR,
        "server": f"python -m cli.main gateway (uvicorn, GATEWAY_WORKERS={GATEWAY_WORKERS})",
        "price_cache": {
            "enabled": PRICE_CACHE_MB > 0,
            "mb_per_worker": PRICE_CACHE_MB,
            "keyed_on": "asset id, prices_revision, range, fields (gateway.series_cache)",
        },
        "open_loop": {
            "target_rps": OPEN_RPS,
            "seconds": OPEN_SECONDS,
            "mix": MIX,
            "routes": opened,
        },
        "closed_loop": {"clients": CLIENTS, "seconds": CLOSED_SECONDS, "routes": closed},
        "closed_loop_cache_off": {
            "clients": CLIENTS,
            "seconds": CLOSED_SECONDS,
            "routes": cache_off,
        },
        "baseline": baseline,
        "price_history_vs_baseline": round(ratio, 2),
        "price_history_vs_baseline_cache_off": round(cold_ratio, 2),
        "targets": {
            "read_p95_under_50ms": worst_p95 < TARGET_P95_MS,
            "read_p95_under_500ms_seed_kpi": worst_p95 < 500.0,
            "no_errors_open_loop": all(r["errors"] == 0 for r in opened),
            "price_history_5x_baseline": ratio >= TARGET_VS_BASELINE,
        },
        "load_average_1_5_15": load,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "quick_check": _QUICK is not None,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def summary_line(result: dict[str, Any]) -> str:
    reads = [r for r in result["open_loop"]["routes"] if r["route"] in READ_ROUTES]
    worst = max(reads, key=lambda r: r["p95_ms"])
    errors = sum(r["errors"] for r in result["open_loop"]["routes"])
    ours = next(r for r in result["closed_loop"]["routes"] if r["route"] == "price_history")
    cold = next(
        r for r in result["closed_loop_cache_off"]["routes"] if r["route"] == "price_history"
    )
    theirs = next(r for r in result["baseline"]["routes"] if r["route"] == "price_history")
    load = result["load_average_1_5_15"]["after_open_loop"][0]
    return (
        f"api (aiohttp load generator, {GATEWAY_WORKERS} workers, price cache "
        f"{'on' if result['price_cache']['enabled'] else 'off'}): open loop {OPEN_RPS} rps "
        f"worst read p95 {worst['p95_ms']} ms ({worst['route']}), {errors} errors; price "
        f"history {ours['rps']} rps vs baseline {theirs['rps']} rps = "
        f"{result['price_history_vs_baseline']}x (cache off: {cold['rps']} rps = "
        f"{result['price_history_vs_baseline_cache_off']}x); load {load}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api")
    sub = parser.add_subparsers(dest="command")
    baseline = sub.add_parser("baseline", help="serve the baseline (used by the benchmark)")
    baseline.add_argument("--port", type=int, required=True)
    baseline.add_argument("--url", required=True)
    args = parser.parse_args(argv)
    if args.command == "baseline":
        serve_baseline(args.port, args.url)
        return
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    result = asyncio.run(run(admin_url))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                "open_loop": result["open_loop"]["routes"],
                "closed_loop": result["closed_loop"]["routes"],
                "closed_loop_cache_off": result["closed_loop_cache_off"]["routes"],
                "baseline": result["baseline"]["routes"],
                "load_average_1_5_15": result["load_average_1_5_15"],
            },
            indent=1,
        )
    )
    print(summary_line(result))


if __name__ == "__main__":
    main()
