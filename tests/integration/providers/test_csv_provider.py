"""The csv provider on the canonical real-data directory."""

from __future__ import annotations

import math
from datetime import date

import pytest

from adapters.providers.csv import CsvMacroDataProvider, CsvMarketDataProvider, load_universe_csv
from domain.errors import NotFound
from domain.model import Asset, AssetType, Currency, Exchange, Market
from tests.support.shared_data import shared_data_dir

pytestmark = pytest.mark.shared_data


def _canonical():
    return shared_data_dir() / "canonical"


def test_universe_loads_every_listing_with_its_exchange() -> None:
    assets = {a.ticker: a for a in load_universe_csv(_canonical())}

    assert len(assets) == 42
    assert assets["SPY"].exchange is Exchange.NYSEARCA  # "ARCA" in the file
    assert (
        assets["247540"].exchange is Exchange.KOSDAQ
        and assets["247540"].provider_symbol == "247540.KQ"
    )
    assert assets["005930"].provider_symbol == "005930.KS"


async def test_prices_are_read_per_ticker_and_a_missing_file_fails_alone() -> None:
    assets = [a.with_id(i) for i, a in enumerate(load_universe_csv(_canonical()), start=1)]
    by_ticker = {a.ticker: a for a in assets}
    ghost = Asset(
        id=999,
        ticker="GHOST",
        name="g",
        market=Market.US,
        exchange=Exchange.NYSE,
        currency=Currency.USD,
        asset_type=AssetType.STOCK,
    )
    fetched = await CsvMarketDataProvider(_canonical()).fetch(
        [by_ticker["AAPL"], by_ticker["086520"], ghost], date(2020, 8, 28), date(2020, 9, 1)
    )

    assert "GHOST" in fetched.failures[999]
    aapl = fetched.bars[by_ticker["AAPL"].id].set_index("date")
    assert aapl.index.tolist() == [date(2020, 8, 28), date(2020, 8, 31), date(2020, 9, 1)]
    assert aapl.loc[date(2020, 8, 31), "close"] == pytest.approx(
        129.04
    )  # raw close after the split
    assert len(fetched.bars[by_ticker["086520"].id]) == 3


async def test_window_after_the_last_row_is_empty_not_a_failure() -> None:
    spy = next(a for a in load_universe_csv(_canonical()) if a.ticker == "SPY").with_id(1)
    fetched = await CsvMarketDataProvider(_canonical()).fetch([spy], date(2030, 1, 1), None)

    assert fetched.failures == {} and fetched.bars[1].empty


async def test_macro_missing_values_stay_missing() -> None:
    provider = CsvMacroDataProvider(_canonical())
    cpi = (await provider.fetch("CPIAUCSL", date(2025, 1, 1))).set_index("date")

    assert math.isnan(cpi.loc[date(2025, 10, 1), "value"])
    assert cpi.loc[date(2025, 11, 1), "value"] > 300
    assert "DEXKOUS" in {s.code for s in provider.catalog()}
    with pytest.raises(NotFound):
        await provider.fetch("NOPE", None)
