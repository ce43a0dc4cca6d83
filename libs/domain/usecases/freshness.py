"""How current the stored data is: per market against the exchange calendar, per macro series.

Business rules:

- A market is fresh when its last stored session (over all its assets) is the exchange's last
  completed session; stale when a completed session is missing or nothing is stored.
- Without an exchange calendar only what is stored is reported: no completed session, no
  count of missing sessions, stale only when nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain.freshness import MarketFreshness, market_freshness
from domain.model import Market
from domain.ports import AssetRepository, Clock, MacroRepository, PriceRepository, TradingCalendar


@dataclass(frozen=True, slots=True, kw_only=True)
class FreshnessReport:
    checked_at: datetime
    markets: list[MarketFreshness]
    macro: dict[str, date]  # last observation per series code, sorted by code


class GetFreshness:
    """Last stored session per market vs the exchange calendar, last observation per series."""

    def __init__(
        self,
        *,
        assets: AssetRepository,
        prices: PriceRepository,
        macro: MacroRepository,
        clock: Clock,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self._assets = assets
        self._prices = prices
        self._macro = macro
        self._clock = clock
        self._calendar = calendar

    async def __call__(self) -> FreshnessReport:
        now = self._clock.now()
        markets = [await self._market(market, now) for market in Market]
        macro = await self._macro.last_dates()
        return FreshnessReport(checked_at=now, markets=markets, macro=dict(sorted(macro.items())))

    async def _market(self, market: Market, now: datetime) -> MarketFreshness:
        assets = await self._assets.by_market(market)
        ids = [a.id for a in assets if a.id is not None]
        last = await self._prices.last_dates(ids) if ids else {}
        stored: date | None = max(last.values()) if last else None
        if self._calendar is None:
            return MarketFreshness(
                market=market,
                last_stored_session=stored,
                last_completed_session=None,
                sessions_behind=None,
                stale=stored is None,
            )
        return market_freshness(market, stored, self._calendar, now)
