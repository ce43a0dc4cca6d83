"""How current the stored data is, measured in exchange sessions (holidays do not count).

The seed's KPI is "data less than one trading day stale": a market is fresh when its last
stored session is the exchange's last completed session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from domain.model import Market
from domain.ports import TradingCalendar


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketFreshness:
    market: Market
    last_stored_session: date | None
    last_completed_session: date | None  # None: no exchange calendar to ask
    sessions_behind: int | None  # completed sessions missing; None when nothing is stored
    stale: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesFreshness:
    code: str
    last_observation: date | None


def market_freshness(
    market: Market, last_stored: date | None, calendar: TradingCalendar, now: datetime
) -> MarketFreshness:
    """``last_stored`` is the latest stored session of the market's assets; stale means at
    least one completed session is missing (or nothing is stored)."""
    completed = calendar.last_completed_session(market, now)
    behind: int | None = None
    if last_stored is not None:
        missing = calendar.sessions(market, last_stored + timedelta(days=1), completed)
        behind = len(missing)
    return MarketFreshness(
        market=market,
        last_stored_session=last_stored,
        last_completed_session=completed,
        sessions_behind=behind,
        stale=behind is None or behind >= 1,
    )


def series_freshness(codes: Iterable[str], last_dates: Mapping[str, date]) -> list[SeriesFreshness]:
    """The last observation of each catalogued series (None when it has none yet)."""
    return [SeriesFreshness(code=c, last_observation=last_dates.get(c)) for c in sorted(codes)]
