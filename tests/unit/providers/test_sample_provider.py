"""The offline sample provider: deterministic, on exchange sessions, consistent and plausible."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from adapters.calendars import ExchangeCalendarsAdapter
from adapters.providers.sample import SampleMacroDataProvider, SampleMarketDataProvider
from adapters.universe import seed_assets, seed_macro_series
from domain.errors import NotFound
from domain.model import BAR_COLUMNS, MacroFrequency, Market, is_synthetic

AS_OF = date(2025, 12, 31)
ASSETS = [a.with_id(i) for i, a in enumerate(seed_assets(), start=1)]
BY_TICKER = {a.ticker: a for a in ASSETS}


@pytest.fixture(scope="module")
def universe() -> dict[str, pd.DataFrame]:
    fetched = asyncio.run(SampleMarketDataProvider(as_of=AS_OF).fetch(ASSETS, None, None))
    assert fetched.failures == {}
    return {a.ticker: fetched.bars[a.id] for a in ASSETS}


def _log_returns(bars: pd.DataFrame) -> pd.Series:
    return np.log(bars.set_index("date")["adj_close"]).diff().dropna()


async def test_same_request_gives_identical_bars_from_a_fresh_provider(universe) -> None:
    again = await SampleMarketDataProvider(as_of=AS_OF).fetch(
        [BY_TICKER["SPY"], BY_TICKER["005930"]], None, None
    )
    pd.testing.assert_frame_equal(again.bars[BY_TICKER["SPY"].id], universe["SPY"])
    pd.testing.assert_frame_equal(again.bars[BY_TICKER["005930"].id], universe["005930"])


async def test_universe_covers_fifteen_years_in_both_markets(universe) -> None:
    for ticker in ("SPY", "EFA", "IEF", "TLT", "GLD", "069500", "086520"):
        bars = universe[ticker]
        assert list(bars.columns) == list(BAR_COLUMNS)
        assert (bars["date"].iloc[-1] - bars["date"].iloc[0]).days > 15 * 365, ticker


async def test_bars_fall_exactly_on_exchange_sessions(universe) -> None:
    cal = ExchangeCalendarsAdapter()
    for ticker, market in (("SPY", Market.US), ("247540", Market.KR)):
        bars = universe[ticker]
        expected = cal.sessions(market, bars["date"].iloc[0], AS_OF)
        assert bars["date"].tolist() == expected, ticker


async def test_ohlc_is_consistent_and_prices_positive(universe) -> None:
    for ticker, bars in universe.items():
        assert (bars[["open", "high", "low", "close", "adj_close"]] > 0).all().all(), ticker
        assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all(), ticker
        assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all(), ticker
        assert (bars["volume"] > 0).all(), ticker


async def test_start_and_end_are_honoured_for_incremental_fetches(universe) -> None:
    spy = BY_TICKER["SPY"]
    window = await SampleMarketDataProvider(as_of=AS_OF).fetch(
        [spy], date(2025, 12, 1), date(2025, 12, 10)
    )
    bars = window.bars[spy.id]

    assert bars["date"].min() >= date(2025, 12, 1) and bars["date"].max() <= date(2025, 12, 10)
    full = universe["SPY"].set_index("date").loc[bars["date"]]
    np.testing.assert_allclose(bars["close"].to_numpy(), full["close"].to_numpy())


async def test_volatility_and_correlation_are_realistic(universe) -> None:
    vol = {
        t: _log_returns(universe[t]).std() * np.sqrt(252)
        for t in ("SPY", "IEF", "GLD", "069500", "086520")
    }
    assert 0.10 < vol["SPY"] < 0.25
    assert 0.03 < vol["IEF"] < 0.12
    assert 0.10 < vol["GLD"] < 0.25
    assert 0.12 < vol["069500"] < 0.30
    assert vol["086520"] > vol["069500"]  # a KOSDAQ small cap is riskier than the index ETF

    panel = pd.DataFrame(
        {t: _log_returns(universe[t]) for t in ("SPY", "EFA", "IEF", "GLD")}
    ).dropna()
    corr = panel.corr()
    assert corr.loc["SPY", "EFA"] > 0.5
    assert corr.loc["SPY", "IEF"] < 0.1
    assert abs(corr.loc["SPY", "GLD"]) < 0.2


async def test_dividends_make_adjusted_close_differ_from_close(universe) -> None:
    spy = universe["SPY"]
    # Adjusted relative to the visible end: lower before the last ex-date, equal after it.
    before = spy[spy["date"] < date(2025, 12, 1)]
    assert (before["adj_close"] < before["close"]).all()
    assert spy["adj_close"].iloc[-1] == spy["close"].iloc[-1]
    fetched = await SampleMarketDataProvider(as_of=AS_OF).fetch(
        [BY_TICKER["SPY"]], date(2025, 1, 1), None
    )
    assert (fetched.actions[BY_TICKER["SPY"].id]["dividend"] > 0).sum() == 4


async def test_nothing_after_the_last_completed_session_is_visible() -> None:
    now = datetime(2024, 9, 3, 12, 0, tzinfo=UTC)  # before Tuesday's US close; Monday a holiday
    provider = SampleMarketDataProvider(now=lambda: now)
    fetched = await provider.fetch([BY_TICKER["SPY"]], date(2024, 8, 1), None)
    assert fetched.bars[BY_TICKER["SPY"].id]["date"].max() == date(2024, 8, 30)


async def test_macro_series_are_deterministic_with_holidays_missing_not_zero() -> None:
    provider = SampleMacroDataProvider(as_of=AS_OF)

    dtb3 = await provider.fetch("DTB3", None)
    assert dtb3["date"].iloc[0] <= date(2005, 1, 3) and dtb3["date"].iloc[-1] < AS_OF
    assert pd.isna(dtb3.set_index("date").loc[date(2025, 12, 25), "value"])  # a row, no value
    assert (dtb3["value"].dropna() >= 0).all()
    pd.testing.assert_frame_equal(
        dtb3, await SampleMacroDataProvider(as_of=AS_OF).fetch("DTB3", None)
    )

    cpi = await provider.fetch("CPIAUCSL", date(2024, 1, 1))
    assert (
        cpi["date"].min() == date(2024, 1, 1) and cpi["value"].is_monotonic_increasing is not None
    )
    with pytest.raises(NotFound):
        await provider.fetch("NOPE", None)


def test_both_sample_providers_are_named_as_synthetic_data() -> None:
    # The name is what stored data records as its source: readers are told it is synthetic.
    assert is_synthetic(SampleMarketDataProvider.name)
    assert is_synthetic(SampleMacroDataProvider.name)


async def test_every_series_of_the_macro_catalog_is_served_to_its_release_date() -> None:
    provider = SampleMacroDataProvider(as_of=AS_OF)
    assert [s.code for s in provider.catalog()] == [s.code for s in seed_macro_series()]
    # The last observation each frequency may show on 2025-12-31: a daily one the day before,
    # a monthly one about six weeks after its month, GDP a month after its quarter.
    latest = {
        MacroFrequency.DAILY: (date(2025, 12, 24), date(2025, 12, 30)),
        MacroFrequency.MONTHLY: (date(2025, 11, 1), date(2025, 11, 1)),
        MacroFrequency.QUARTERLY: (date(2025, 7, 1), date(2025, 7, 1)),
    }

    for series in provider.catalog():
        observed = await provider.fetch(series.code, None)
        values = observed["value"].dropna()
        assert observed["date"].iloc[0] <= date(2005, 4, 1), series.code
        earliest, last = latest[series.frequency]
        assert earliest <= observed["date"].iloc[-1] <= last, series.code
        assert len(values) > 0.9 * len(observed), series.code
        again = await SampleMacroDataProvider(as_of=AS_OF).fetch(series.code, None)
        pd.testing.assert_frame_equal(observed, again)


async def test_cycle_series_move_with_the_business_cycle() -> None:
    provider = SampleMacroDataProvider(as_of=AS_OF)

    async def series(code: str) -> pd.Series:
        return (await provider.fetch(code, None)).set_index("date")["value"]

    recession, unrate, payrolls = (
        await series("USREC"),
        await series("UNRATE"),
        await series("PAYEMS"),
    )
    assert set(recession.unique()) == {0.0, 1.0} and 0.02 < recession.mean() < 0.3
    # Recessions are the months after unemployment jumped; payrolls shrink when it rises.
    jump = unrate - unrate.shift(6)
    assert jump[recession == 1].mean() > 0.3 > jump[recession == 0].mean()
    assert np.corrcoef(unrate.diff()[1:], np.log(payrolls).diff()[1:])[0, 1] < -0.5

    gdp = await series("GDPC1")
    assert all(d.month in (1, 4, 7, 10) and d.day == 1 for d in gdp.index)
    growth = gdp.pct_change(4).dropna() * 100
    assert growth.min() > -6 and growth.max() < 8 and 1 < growth.mean() < 3.5

    core, headline = await series("CPILFESL"), await series("CPIAUCSL")
    assert core.pct_change(12).std() < headline.pct_change(12).std()  # core is the smoother

    spread, vix = await series("BAMLH0A0HYM2"), await series("VIXCLS")
    assert spread.corr(vix) > 0.5 and spread.min() > 1.0


async def test_oil_moves_with_the_commodity_assets(universe) -> None:
    oil = (await SampleMacroDataProvider(as_of=AS_OF).fetch("DCOILWTICO", None)).set_index("date")
    oil_returns = np.log(oil["value"].dropna()).diff()
    vol = oil_returns.std() * np.sqrt(252)
    assert 0.2 < vol < 0.6 and (oil["value"].dropna() > 0).all()
    both = pd.DataFrame({"oil": oil_returns, "dbc": _log_returns(universe["DBC"])}).dropna()
    assert both.corr().loc["oil", "dbc"] > 0.5
