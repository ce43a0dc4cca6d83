"""The gateway's two hand-written response encoders against the models they stand in for.

``make bench-encode`` (a few seconds, one core): a 10-year columnar price series
(``encode_price_series`` against ``PriceSeriesOut.of`` + ``encode_model``; every price response
the series cache misses pays one per asset) and a 100-asset catalog page
(``encode_asset_page`` against ``ListOf[AssetOut]``; every ``GET /v1/assets`` pays one). Each
pair is checked to write the same bytes, the model is the baseline measured in the same run,
and the figures go to ``bench/results/encode.json``."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from domain.model import PRICE_FIELDS, Asset, AssetType, Currency, Exchange, Market
from gateway.schemas import (
    AssetOut,
    ListOf,
    PriceSeriesOut,
    encode_asset_page,
    encode_model,
    encode_price_series,
)

SESSIONS = 2520  # ten years of sessions
PAGE = 100  # the catalog's default page size
RESULTS = Path(__file__).parent / "results" / "encode.json"
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


def catalog_page() -> list[Asset]:
    asset, _ = series()
    sectors = (None, "Technology")
    sources = (None, "sample", "yfinance")
    return [
        Asset(
            id=i,
            ticker=f"T{i:03d}",
            name=f"Listing {i}",
            market=asset.market,
            exchange=asset.exchange,
            currency=asset.currency,
            asset_type=asset.asset_type,
            sector=sectors[i % 2],
            prices_source=sources[i % 3],
        )
        for i in range(1, PAGE + 1)
    ]


def compare(name: str, fast: Callable[[], bytes], model: Callable[[], bytes]) -> dict[str, float]:
    assert fast() == model(), f"{name}: the encoders disagree"
    fast_ms, model_ms = median_ms(fast), median_ms(model)
    print(f"{name:14} hand-written {fast_ms:6.3f} ms   model {model_ms:6.3f} ms")
    return {
        "fast_ms": round(fast_ms, 4),
        "model_ms": round(model_ms, 4),
        "speedup": round(model_ms / fast_ms, 2),
    }


def main() -> None:
    asset, frame = series()
    page = catalog_page()
    results = {
        "price_series_10y": compare(
            "price series",
            lambda: encode_price_series(asset, frame, PRICE_FIELDS),
            lambda: encode_model(PriceSeriesOut.of(asset, frame, PRICE_FIELDS), exclude_unset=True),
        ),
        "asset_page_100": compare(
            "asset page",
            lambda: encode_asset_page(page, None),
            lambda: encode_model(ListOf[AssetOut](items=[AssetOut.of(a) for a in page])),
        ),
    }
    report = {
        **results,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    series_, page_ = results["price_series_10y"], results["asset_page_100"]
    print(
        f"encode: price series {series_['fast_ms']:.2f} ms vs model {series_['model_ms']:.2f} ms "
        f"({series_['speedup']}x); 100-asset page {page_['fast_ms']:.3f} ms vs model "
        f"{page_['model_ms']:.3f} ms ({page_['speedup']}x)"
    )


if __name__ == "__main__":
    main()
