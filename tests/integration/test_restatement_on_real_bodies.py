"""Restatement safety on real Yahoo wire bodies, through YFinanceProvider into PostgreSQL.

The vendor's adjusted history changes after a split or a dividend. The ingestor notices it on
the overlap window and replaces the asset's whole history atomically, so adjusted closes are
never chained onto stale history.

The "before" bodies are the recorded AAPL bodies as Yahoo served them before the event: the
4:1 split of 2020-08-31 undone (prices ×4, volume ÷4) and the 0.205 dividend of 2020-11-06
not yet applied to adjclose. The "after" bodies are the recorded bytes, preceded by the 2020
summer sessions of the verbatim Yahoo CSV, as a request with an earlier period1 returns them.
"""

from __future__ import annotations

import copy
import csv
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
import requests
import requests_mock
import yfinance as yf

from adapters.clock import SystemClock
from adapters.memory.queue import InMemoryMessageQueue
from adapters.providers.yfinance import YFinanceProvider
from adapters.sqlalchemy import build_sqla_repositories, create_engine, run_migrations
from domain.messages import UpdatePrices
from domain.model import Asset, AssetType, Currency, Exchange, Market, RunStatus
from domain.usecases.ingest_prices import IngestPrices
from tests.support.shared_data import shared_data_dir

pytestmark = [pytest.mark.shared_data, pytest.mark.postgres]

SPLIT_DAY = date(2020, 8, 31)
DIVIDEND_DAY = date(2020, 11, 6)


def _chart_fixture() -> dict:
    path = shared_data_dir() / "fixtures" / "yahoo_chart_v8_AAPL_2020-08-31_2020-11-07.json"
    return json.loads(path.read_text())


def _summer_rows(until: date) -> list[dict]:
    """2020-07-01.. ``until`` from the verbatim Yahoo CSV (split-adjusted, as after the split)."""
    path = shared_data_dir() / "fixtures" / "yahoo_csv_AAPL_2020_verbatim.csv"
    with path.open() as handle:
        rows = [r for r in csv.DictReader(handle) if "2020-07-01" <= r["Date"] <= until.isoformat()]
    return rows


def _epoch(day: str) -> int:
    # Yahoo stamps a daily bar with the regular session's open: 13:30Z in New York summer time.
    return int(datetime.combine(date.fromisoformat(day), time(13, 30), tzinfo=UTC).timestamp())


def _prepend(body: dict, rows: list[dict], factor: float = 1.0) -> dict:
    result = body["chart"]["result"][0]
    quote = result["indicators"]["quote"][0]
    result["timestamp"] = [_epoch(r["Date"]) for r in rows] + result["timestamp"]
    for key, column in (("open", "Open"), ("high", "High"), ("low", "Low"), ("close", "Close")):
        quote[key] = [float(r[column]) * factor for r in rows] + quote[key]
    quote["volume"] = [int(float(r["Volume"]) / factor) for r in rows] + quote["volume"]
    adj = result["indicators"]["adjclose"][0]
    adj["adjclose"] = [float(r["Adj Close"]) * factor for r in rows] + adj["adjclose"]
    return body


def before_split() -> dict:
    """Yahoo before 2020-08-31: pre-split prices, no split or dividend event, no bars after."""
    body = copy.deepcopy(_chart_fixture())
    result = body["chart"]["result"][0]
    result["timestamp"] = []
    result["indicators"]["quote"][0] = {k: [] for k in ("open", "high", "low", "close", "volume")}
    result["indicators"]["adjclose"][0]["adjclose"] = []
    result.pop("events", None)
    return _prepend(body, _summer_rows(date(2020, 8, 28)), factor=4.0)


def after_split() -> dict:
    return _prepend(copy.deepcopy(_chart_fixture()), _summer_rows(date(2020, 8, 28)))


def before_dividend() -> dict:
    """Yahoo on 2020-11-05: the recorded bars up to that day, adjclose not yet adjusted for the
    0.205 dividend (Yahoo divides earlier adjcloses by 1 - dividend / previous close)."""
    body = copy.deepcopy(_chart_fixture())
    result = body["chart"]["result"][0]
    cut = DIVIDEND_DAY
    keep = [
        i for i, t in enumerate(result["timestamp"]) if datetime.fromtimestamp(t, UTC).date() < cut
    ]
    quote = result["indicators"]["quote"][0]
    factor = 1 - 0.205 / quote["close"][keep[-1]]
    result["timestamp"] = [result["timestamp"][i] for i in keep]
    for key in list(quote):
        quote[key] = [quote[key][i] for i in keep]
    adj = result["indicators"]["adjclose"][0]
    adj["adjclose"] = [adj["adjclose"][i] / factor for i in keep]
    result["events"].pop("dividends")
    return body


@pytest.fixture(autouse=True)
def _isolated_yfinance(tmp_path: Path) -> Iterator[None]:
    yf.set_tz_cache_location(str(tmp_path / "yf-tz"))
    yf.data.YfData().cache_get.cache_clear()
    yield
    yf.data.YfData().cache_get.cache_clear()


class Yahoo:
    """A requests session whose Yahoo answers the test sets (no network)."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.adapter = requests_mock.Adapter()
        self.session.mount("https://", self.adapter)
        self.adapter.register_uri(requests_mock.ANY, requests_mock.ANY, status_code=404, json={})
        self.adapter.register_uri(
            "GET", re.compile(r"https://fc\.yahoo\.com.*"), text="", cookies={"A3": "x"}
        )
        self.adapter.register_uri("GET", re.compile(r".*/v1/test/getcrumb.*"), text="crumb")

    def serve(self, body: dict) -> None:
        yf.data.YfData().cache_get.cache_clear()
        self.adapter.register_uri(
            "GET", re.compile(r".*/v8/finance/chart/AAPL\?.*"), text=json.dumps(body)
        )


@pytest.fixture(scope="module")
def migrated(postgres_url: str) -> str:
    run_migrations(postgres_url)
    return postgres_url


@pytest.fixture
async def world(migrated):
    engine = create_engine(migrated)
    repos = build_sqla_repositories(engine)
    ticker = f"AAPL{uuid.uuid4().hex[:4].upper()}"
    [asset] = await repos.assets.upsert_many(
        [
            Asset(
                ticker=ticker,
                name="Apple Inc.",
                market=Market.US,
                exchange=Exchange.NASDAQ,
                currency=Currency.USD,
                asset_type=AssetType.STOCK,
            )
        ]
    )
    yahoo = Yahoo()
    provider = YFinanceProvider(
        session=yahoo.session,
        rate_limit_per_s=0,
        max_retries=1,
        initial_wait_s=0.01,
        max_wait_s=0.02,
    )
    # The provider asks Yahoo for the asset's provider symbol; serve AAPL's bodies under it.
    yahoo.serve_symbol = ticker  # type: ignore[attr-defined]
    ingest = IngestPrices(
        repositories=repos, provider=provider, queue=InMemoryMessageQueue(), clock=SystemClock()
    )
    try:
        yield repos, asset, yahoo, ingest
    finally:
        await engine.dispose()


async def ingest_once(ingest, asset):
    return await ingest(UpdatePrices(market=Market.US, tickers=[asset.ticker]), run_id=uuid.uuid4())


def serve(yahoo: Yahoo, asset: Asset, body: dict) -> None:
    body = copy.deepcopy(body)
    body["chart"]["result"][0]["meta"]["symbol"] = asset.ticker
    yf.data.YfData().cache_get.cache_clear()
    yahoo.adapter.register_uri(
        "GET", re.compile(rf".*/v8/finance/chart/{asset.ticker}\?.*"), text=json.dumps(body)
    )


async def test_the_aapl_4_for_1_split_replaces_the_whole_adjusted_history(world):
    repos, asset, yahoo, ingest = world
    serve(yahoo, asset, before_split())
    first = await ingest_once(ingest, asset)
    stored_before = await repos.prices.read(asset.id, end=date(2020, 8, 28))
    serve(yahoo, asset, after_split())

    run = await ingest_once(ingest, asset)

    assert first.status is RunStatus.SUCCEEDED and run.counts["assets_restated"] == 1
    stored = await repos.prices.read(asset.id)
    summer = stored[stored["date"] <= date(2020, 8, 28)]
    # Every pre-split adjusted close is now a quarter of what was stored before the split.
    assert summer["adj_close"].to_numpy() == pytest.approx(
        stored_before["adj_close"].to_numpy() / 4, rel=1e-6
    )
    assert stored["date"].iloc[-1] == date(2020, 11, 6) and stored["date"].is_unique
    split_day = stored[stored["date"] == SPLIT_DAY].iloc[0]
    assert split_day["close"] == pytest.approx(129.04, abs=0.01)


async def test_the_aapl_dividend_restates_earlier_adjusted_closes(world):
    repos, asset, yahoo, ingest = world
    serve(yahoo, asset, before_dividend())
    await ingest_once(ingest, asset)
    serve(yahoo, asset, _chart_fixture())

    run = await ingest_once(ingest, asset)

    assert run.counts["assets_restated"] == 1
    stored = await repos.prices.read(asset.id)
    recorded = _chart_fixture()["chart"]["result"][0]["indicators"]["adjclose"][0]["adjclose"]
    assert stored["adj_close"].to_numpy() == pytest.approx(recorded, rel=1e-9)
    assert (await ingest_once(ingest, asset)).counts["rows_written"] == 0
