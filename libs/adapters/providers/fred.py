"""FRED observations via fredapi, with timeouts, retries and domain errors.

fredapi puts the API key in the query string, so nothing here logs or raises with a URL.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import date
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import pandas as pd
from fredapi import Fred

from adapters.providers._resilience import RateLimiter, RetryPolicy, call_with_retry
from adapters.universe import seed_macro_series
from domain.errors import NotFound, ProviderRateLimited, ProviderUnavailable
from domain.model import MacroSeries

FRED_NAME = "fred"


class _Fred(Fred):  # type: ignore[misc]
    """fredapi's client with a timeout and HTTP statuses kept (fredapi turns every HTTP error
    into a bare ValueError and has no timeout). Only the transport is replaced: fredapi still
    parses the bytes, including its "." → NaN rule."""

    def __init__(self, api_key: str, root_url: str, timeout_s: float) -> None:
        super().__init__(api_key=api_key)
        self.root_url = root_url.rstrip("/")
        self._timeout_s = timeout_s

    def _Fred__fetch_data(self, url: str) -> ET.Element:  # name-mangled override
        url += "&api_key=" + self.api_key
        try:
            with urlopen(url, timeout=self._timeout_s) as response:
                return ET.fromstring(response.read())
        except HTTPError as exc:
            raise _translate_http(exc.code, exc.read()) from None
        except (URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ProviderUnavailable(f"FRED unreachable: {type(reason).__name__}") from None


def _translate_http(status: int, body: bytes) -> Exception:
    if status == 429:
        return ProviderRateLimited("FRED answered 429 Too Many Requests")
    if status >= 500:
        return ProviderUnavailable(f"FRED answered {status}")
    try:
        message = ET.fromstring(body).get("message") or ""
    except ET.ParseError:
        message = ""
    return NotFound(f"FRED answered {status}: {message}".rstrip(": "))


class FredProvider:
    """The ``MacroDataProvider`` over the FRED API. ``api_key`` comes from settings only."""

    name = FRED_NAME

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        rate_limit_per_s: float = 2.0,
        initial_wait_s: float = 1.0,
        max_wait_s: float = 30.0,
    ) -> None:
        if not api_key:
            raise ValueError("FRED needs an API key (FRED_API_KEY)")
        self._client = _Fred(api_key, base_url or Fred.root_url, timeout_s)
        self._limiter = RateLimiter(rate_limit_per_s)
        self._retry = RetryPolicy(max_retries, initial_wait_s, max_wait_s)

    def catalog(self) -> list[MacroSeries]:
        return seed_macro_series()

    def _fetch_sync(self, code: str, start: date | None) -> pd.DataFrame:
        def once() -> pd.Series:
            self._limiter.acquire()
            try:
                series: pd.Series = self._client.get_series(code, observation_start=start)
                return series
            except ValueError as exc:  # fredapi: "No data exists for series id"
                raise NotFound(f"FRED series {code!r}: {exc}") from None

        series = call_with_retry(once, self._retry)
        return pd.DataFrame(
            {
                "date": pd.to_datetime(series.index).date,
                # fredapi already maps "." to NaN: a missing value stays missing, never 0.
                "value": pd.to_numeric(series.to_numpy(), errors="coerce").astype("float64"),
            }
        ).sort_values("date", ignore_index=True)

    async def fetch(self, code: str, start: date | None) -> pd.DataFrame:
        return await asyncio.to_thread(self._fetch_sync, code, start)
