"""Encoding one 10-year columnar price series: the hand-written encoder against its model.

``python -m bench.series_encode`` (a few seconds, one core). Prints the median time per series
of ``gateway.schemas.encode_price_series`` and of ``PriceSeriesOut.of`` + ``encode_model``
(pydantic, then orjson), after checking they write the same bytes. Every price response the
series cache misses pays one encode per asset."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from domain.model import PRICE_FIELDS, Asset, AssetType, Currency, Exchange, Market
from gateway.schemas import PriceSeriesOut, encode_model, encode_price_series

SESSIONS = 2520  # ten years of sessions
ROUNDS, CALLS = 7, 100


def series() -> tuple[Asset, pd.DataFrame]:
    days = pd.bdate_range("2015-01-01", periods=SESSIONS)
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0.0003, 0.01, SESSIONS)))
    frame = pd.DataFrame(
        {
            "date": days.date,
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": np.full(SESSIONS, 1e6),
        }
    )
    frame.loc[5:9, "close"] = np.nan
    asset = Asset(
        id=1,
        ticker="SPY",
        name="SPDR S&P 500 ETF",
        market=Market.US,
        exchange=Exchange.NYSEARCA,
        currency=Currency.USD,
        asset_type=AssetType.ETF,
        prices_source="sample",
    )
    return asset, frame


def median_ms(encode: Callable[[], bytes]) -> float:
    for _ in range(10):
        encode()
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            encode()
        rounds.append((time.perf_counter() - started) / CALLS * 1e3)
    return statistics.median(rounds)


def main() -> None:
    asset, frame = series()
    fields = PRICE_FIELDS

    def fast() -> bytes:
        return encode_price_series(asset, frame, fields)

    def model() -> bytes:
        return encode_model(PriceSeriesOut.of(asset, frame, fields), exclude_unset=True)

    assert fast() == model(), "the encoders disagree"
    fast_ms, model_ms = median_ms(fast), median_ms(model)
    print(f"encode_price_series       {fast_ms:6.2f} ms per series")
    print(f"PriceSeriesOut + orjson   {model_ms:6.2f} ms per series ({model_ms / fast_ms:.1f}x)")


if __name__ == "__main__":
    main()
