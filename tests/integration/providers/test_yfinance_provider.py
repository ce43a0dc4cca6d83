"""YFinanceProvider on the recorded Yahoo v8 chart bodies: yfinance's own parsing and the
adapter's code run on real bytes, served through a requests_mock adapter (no network)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
import requests_mock
import yfinance as yf

from adapters.providers.yfinance import YFinanceProvider
from domain.errors import ProviderRateLimited, ProviderUnavailable
from domain.model import Asset, AssetType, Currency, Exchange, Market
from tests.support.shared_data import shared_data_dir

pytestmark = pytest.mark.shared_data

_NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}


def _asset(asset_id: int, ticker: str, exchange: Exchange = Exchange.NASDAQ) -> Asset:
    market = Market.KR if exchange in (Exchange.KOSPI, Exchange.KOSDAQ) else Market.US
    return Asset(
        id=asset_id,
        ticker=ticker,
        name=ticker,
        market=market,
        exchange=exchange,
        currency=Currency.KRW if market is Market.KR else Currency.USD,
        asset_type=AssetType.STOCK,
    )


def _fixture(name: str) -> str:
    return (shared_data_dir() / "fixtures" / name).read_text()


@pytest.fixture(autouse=True)
def _isolated_yfinance(tmp_path: Path) -> Iterator[None]:
    # yfinance keeps a process-wide client with an in-memory response cache and a tz cache on
    # disk: isolate both so one test's recorded body never answers another test.
    yf.set_tz_cache_location(str(tmp_path / "yf-tz"))
    yf.data.YfData().cache_get.cache_clear()
    yield
    yf.data.YfData().cache_get.cache_clear()


@pytest.fixture
def yahoo() -> Iterator[tuple[requests.Session, requests_mock.Adapter]]:
    session = requests.Session()
    adapter = requests_mock.Adapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # The last registered matcher wins: the catch-all goes first.
    adapter.register_uri(requests_mock.ANY, requests_mock.ANY, status_code=404, json=_NOT_FOUND)
    adapter.register_uri(
        "GET", re.compile(r"https://fc\.yahoo\.com.*"), text="", cookies={"A3": "x"}
    )
    adapter.register_uri("GET", re.compile(r".*/v1/test/getcrumb.*"), text="crumb")
    yield session, adapter


def _serve(adapter: requests_mock.Adapter, symbol: str, responses: list[dict]) -> None:
    adapter.register_uri(
        "GET", re.compile(rf".*/v8/finance/chart/{re.escape(symbol)}\?.*"), responses
    )


def _provider(session: requests.Session) -> YFinanceProvider:
    return YFinanceProvider(
        session=session, rate_limit_per_s=0, max_retries=2, initial_wait_s=0.01, max_wait_s=0.02
    )


async def test_aapl_split_and_dividend_come_through_with_raw_and_adjusted_closes(yahoo) -> None:
    session, adapter = yahoo
    _serve(adapter, "AAPL", [{"text": _fixture("yahoo_chart_v8_AAPL_2020-08-31_2020-11-07.json")}])
    fetched = await _provider(session).fetch(
        [_asset(1, "AAPL")], date(2020, 8, 31), date(2020, 11, 6)
    )

    assert fetched.failures == {}
    bars = fetched.bars[1].set_index("date")
    assert len(bars) == 49
    assert bars.index[0] == date(2020, 8, 31) and bars.index[-1] == date(2020, 11, 6)
    actions = fetched.actions[1].set_index("date")
    assert actions.loc[date(2020, 8, 31), "split"] == 4.0
    assert actions.loc[date(2020, 11, 6), "dividend"] == pytest.approx(0.205)
    # Yahoo's close is split-adjusted only; adj_close is also dividend-adjusted (as of the
    # recording, so later dividends shrink every ratio), and the ratio steps down across the
    # ex-date by exactly Yahoo's factor 1 - dividend / previous close.
    assert bars.loc[date(2020, 8, 31), "close"] == pytest.approx(129.04, abs=0.01)
    assert (bars["adj_close"] < bars["close"]).all()
    ratio = bars["adj_close"] / bars["close"]
    step = ratio.loc[date(2020, 11, 5)] / ratio.loc[date(2020, 11, 6)]
    assert step == pytest.approx(1 - 0.205 / bars.loc[date(2020, 11, 5), "close"], rel=1e-4)
    assert ratio.loc[date(2020, 9, 1)] == pytest.approx(ratio.loc[date(2020, 11, 5)], rel=1e-6)
    assert (bars["volume"] > 0).all()


async def test_nvda_split_day_is_the_exchange_date_not_the_utc_date(yahoo) -> None:
    session, adapter = yahoo
    _serve(
        adapter,
        "NVDA",
        [{"text": _fixture("yahoo_chart_v8_NVDA_split_2021-02-01_2022-01-31.json")}],
    )
    fetched = await _provider(session).fetch(
        [_asset(7, "NVDA")], date(2021, 2, 1), date(2022, 1, 31)
    )

    actions = fetched.actions[7]
    assert actions.loc[actions["split"] > 0, "date"].tolist() == [date(2021, 7, 20)]
    assert len(fetched.bars[7]) == 252


async def test_msft_reports_its_four_dividends(yahoo) -> None:
    session, adapter = yahoo
    _serve(
        adapter, "MSFT", [{"text": _fixture("yahoo_chart_v8_MSFT_div_2021-02-01_2022-01-31.json")}]
    )
    fetched = await _provider(session).fetch(
        [_asset(3, "MSFT")], date(2021, 2, 1), date(2022, 1, 31)
    )

    assert (fetched.actions[3]["dividend"] > 0).sum() == 4


async def test_unknown_symbol_fails_alone_while_the_others_succeed(yahoo) -> None:
    session, adapter = yahoo
    _serve(adapter, "QQQ", [{"text": _fixture("yahoo_chart_v8_QQQ_2020-01-01_2020-01-03.json")}])
    _serve(adapter, "NOPE", [{"status_code": 404, "json": _NOT_FOUND}])
    assets = [_asset(1, "QQQ"), _asset(2, "NOPE")]
    fetched = await _provider(session).fetch(assets, date(2020, 1, 2), date(2020, 1, 2))

    assert list(fetched.bars) == [1]
    assert fetched.bars[1]["date"].tolist() == [date(2020, 1, 2)]
    assert "NOPE" in fetched.failures[2] and "delisted" in fetched.failures[2]


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_transient_status_is_retried_then_succeeds(yahoo, status: int) -> None:
    session, adapter = yahoo
    body = _fixture("yahoo_chart_v8_QQQ_2020-01-01_2020-01-03.json")
    _serve(adapter, "QQQ", [{"status_code": status, "text": "busy"}, {"text": body}])
    fetched = await _provider(session).fetch([_asset(1, "QQQ")], date(2020, 1, 2), date(2020, 1, 2))

    assert fetched.failures == {}
    assert len(fetched.bars[1]) == 1
    chart_calls = [r for r in adapter.request_history if "/v8/finance/chart/QQQ" in r.url]
    assert len(chart_calls) == 2


@pytest.mark.parametrize(
    ("status", "error"), [(429, ProviderRateLimited), (502, ProviderUnavailable)]
)
async def test_persistent_transient_errors_raise_a_retryable_domain_error(
    yahoo, status, error
) -> None:
    session, adapter = yahoo
    _serve(adapter, "QQQ", [{"status_code": status, "text": "busy"}])
    with pytest.raises(error) as raised:
        await _provider(session).fetch([_asset(1, "QQQ")], date(2020, 1, 2), date(2020, 1, 2))
    assert "http" not in str(raised.value).lower().replace("http ", "")


async def test_kosdaq_symbols_are_requested_with_the_kq_suffix(yahoo) -> None:
    session, adapter = yahoo
    body = _fixture("yahoo_chart_v8_QQQ_2020-01-01_2020-01-03.json")
    _serve(adapter, "247540.KQ", [{"text": body}])
    fetched = await _provider(session).fetch(
        [_asset(5, "247540", Exchange.KOSDAQ)], date(2020, 1, 2), None
    )

    assert fetched.failures == {}
    assert any("/v8/finance/chart/247540.KQ" in r.url for r in adapter.request_history)
