"""Daily bars, dividends and splits from Yahoo via yfinance.

Yahoo's chart endpoint serves one symbol per request, so a "batch" here is a group of assets
handled in one worker thread (one hop off the event loop, one shared session and rate limit).
A symbol Yahoo does not know, or an empty full history, fails that asset only. Transient
errors (timeouts, 429, 5xx) are seen on the HTTP response itself (a session hook), retried
with backoff and jitter, and raised as ProviderUnavailable / ProviderRateLimited when they
persist, failing the batch so the worker retries the message later.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import pandas as pd
import requests
import yfinance as yf
from yfinance.exceptions import YFRateLimitError, YFTickerMissingError

from adapters.calendars import EXCHANGE_TIMEZONES
from adapters.providers._resilience import RateLimiter, RetryPolicy, call_with_retry
from domain.errors import ProviderRateLimited, ProviderUnavailable
from domain.model import Asset, empty_bars, normalize_bars
from domain.ports import PriceFetch

YFINANCE_NAME = "yfinance"
# Yahoo lists nothing older; asking from here is "the full history".
_FULL_HISTORY_START = date(1970, 1, 2)
_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)
# yfinance keeps one process-wide client (a singleton with a cookie, crumb and caches):
# calls from several threads or providers must not interleave.
_YF_LOCK = threading.Lock()


class _TransientHTTP(Exception):
    """Raised from the session hook so yfinance cannot mistake a 5xx for a missing symbol
    (or cache the failed response)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _raise_on_transient(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        raise _TransientHTTP(response.status_code)


def _translate(exc: BaseException) -> ProviderUnavailable | None:
    """A domain error for a transient failure, None for anything else. Never includes URLs."""
    if isinstance(exc, YFRateLimitError):
        return ProviderRateLimited("Yahoo answered 429 Too Many Requests")
    if isinstance(exc, _TransientHTTP):
        if exc.status == 429:
            return ProviderRateLimited("Yahoo answered 429 Too Many Requests")
        return ProviderUnavailable(f"Yahoo answered {exc.status}")
    if isinstance(exc, requests.Timeout | requests.ConnectionError | TimeoutError):
        return ProviderUnavailable(f"Yahoo unreachable: {type(exc).__name__}")
    return None


def _bars_and_actions(history: pd.DataFrame, asset: Asset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """yfinance's frame → BAR_COLUMNS and actions. The index is converted to the exchange's
    time zone before taking the date: a bar stamped at the open in UTC can fall on the
    previous (Seoul) or a different day."""
    index = pd.DatetimeIndex(history.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    dates = index.tz_convert(EXCHANGE_TIMEZONES[asset.market]).date
    bars = normalize_bars(
        pd.DataFrame(
            {
                "date": dates,
                "open": history["Open"].to_numpy(),
                "high": history["High"].to_numpy(),
                "low": history["Low"].to_numpy(),
                "close": history["Close"].to_numpy(),
                "adj_close": history.get("Adj Close", history["Close"]).to_numpy(),
                "volume": history["Volume"].to_numpy(),
            }
        ).dropna(subset=["close"])
    )
    dividends = history.get("Dividends", pd.Series(0.0, index=history.index)).to_numpy()
    splits = history.get("Stock Splits", pd.Series(0.0, index=history.index)).to_numpy()
    actions = pd.DataFrame({"date": dates, "dividend": dividends, "split": splits})
    actions = actions[(actions["dividend"] != 0) | (actions["split"] != 0)]
    return bars, actions.reset_index(drop=True)


class YFinanceProvider:
    """The ``MarketDataProvider`` over yfinance (raw and adjusted closes: auto_adjust=False).

    ``session`` is a ``requests.Session`` (the composition root, or a test, hands it over);
    the provider adds a response hook to it that turns 429/5xx into retryable errors.
    """

    name = YFINANCE_NAME

    def __init__(
        self,
        session: requests.Session | None = None,
        batch_size: int = 20,
        rate_limit_per_s: float = 2.0,
        max_retries: int = 4,
        *,
        timeout_s: float = 30.0,
        initial_wait_s: float = 1.0,
        max_wait_s: float = 30.0,
    ) -> None:
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = _USER_AGENT
        session.hooks["response"].append(_raise_on_transient)
        self._session = session
        self._batch_size = max(1, batch_size)
        self._limiter = RateLimiter(rate_limit_per_s)
        self._timeout_s = timeout_s
        self._retry = RetryPolicy(max_retries, initial_wait_s, max_wait_s)
        # Raise instead of logging-and-returning-empty, so a failure is classified here
        # (yfinance's documented replacement for the deprecated ``raise_errors``).
        yf.config.debug.hide_exceptions = False

    async def fetch(
        self, assets: Sequence[Asset], start: date | None, end: date | None
    ) -> PriceFetch:
        result = PriceFetch()
        for offset in range(0, len(assets), self._batch_size):
            batch = assets[offset : offset + self._batch_size]
            part = await asyncio.to_thread(self._fetch_batch, batch, start, end)
            result.bars.update(part.bars)
            result.failures.update(part.failures)
            result.actions.update(part.actions)
        return result

    def _fetch_batch(
        self, assets: Sequence[Asset], start: date | None, end: date | None
    ) -> PriceFetch:
        fetched = PriceFetch()
        for asset in assets:
            if asset.id is None:
                raise ValueError(f"asset {asset.ticker} has no id")
            try:
                history = self._history_with_retry(asset, start, end)
            except YFTickerMissingError as exc:
                fetched.failures[asset.id] = f"{asset.provider_symbol}: {_reason(exc)}"
                continue
            if history.empty:
                if start is None:
                    fetched.failures[asset.id] = f"{asset.provider_symbol}: empty history"
                else:
                    fetched.bars[asset.id] = empty_bars()
                continue
            fetched.bars[asset.id], fetched.actions[asset.id] = _bars_and_actions(history, asset)
        return fetched

    def _history_with_retry(
        self, asset: Asset, start: date | None, end: date | None
    ) -> pd.DataFrame:
        return call_with_retry(lambda: self._history(asset, start, end), self._retry)

    def _history(self, asset: Asset, start: date | None, end: date | None) -> pd.DataFrame:
        self._limiter.acquire()
        ticker = yf.Ticker(asset.provider_symbol, session=self._session)
        # The exchange time zone is known from the asset: skip yfinance's extra tz request.
        ticker._tz = EXCHANGE_TIMEZONES[asset.market]
        params: dict[str, Any] = {
            "interval": "1d",
            "start": (start or _FULL_HISTORY_START).isoformat(),
            "auto_adjust": False,
            "actions": True,
            "timeout": self._timeout_s,
        }
        if end is not None:
            params["end"] = (end + timedelta(days=1)).isoformat()  # yfinance's end is exclusive
        try:
            with _YF_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas deprecations inside yfinance
                frame: pd.DataFrame = ticker.history(**params)
                return frame
        except YFTickerMissingError:
            raise
        except Exception as exc:
            translated = _translate(exc) or _translate(exc.__cause__ or exc.__context__ or exc)
            if translated is None:
                raise
            raise translated from None


def _reason(exc: YFTickerMissingError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text
