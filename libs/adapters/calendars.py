"""Exchange trading calendars (XNYS for the US, XKRX for Korea) via ``exchange_calendars``.

Holidays are not gaps: every "session" here is a day the exchange actually trades, so
freshness, gap checks and the sample provider agree with what a vendor would return.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from domain.model import Market

CALENDAR_CODES: dict[Market, str] = {Market.US: "XNYS", Market.KR: "XKRX"}
EXCHANGE_TIMEZONES: dict[Market, str] = {Market.US: "America/New_York", Market.KR: "Asia/Seoul"}

# exchange_calendars defaults to the last 20 years; backtests and the sample data go back
# further, and a year ahead is enough for "today" on any machine this code runs on.
CALENDAR_START = "2000-01-03"


@lru_cache(maxsize=4)
def exchange_calendar(market: Market) -> xcals.ExchangeCalendar:
    """One calendar per market and process (building one takes ~100 ms)."""
    return xcals.get_calendar(CALENDAR_CODES[market], start=CALENDAR_START)


class ExchangeCalendarsAdapter:
    """The ``TradingCalendar`` port over exchange_calendars."""

    def sessions(self, market: Market, start: date, end: date) -> list[date]:
        """Sessions in [start, end], clipped to the calendar's known range."""
        return [ts.date() for ts in self._sessions_index(market, start, end)]

    def last_completed_session(self, market: Market, now: datetime) -> date:
        """The latest session whose close is at or before ``now`` (timezone-aware). A session
        still trading (or not yet open) today does not count: its bar is not final."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        cal = exchange_calendar(market)
        local_day = pd.Timestamp(now).tz_convert(EXCHANGE_TIMEZONES[market]).date()
        candidates = self._sessions_index(market, local_day - timedelta(days=14), local_day)
        moment = pd.Timestamp(now).tz_convert("UTC")
        for session in reversed(candidates):
            if cal.session_close(session) <= moment:
                return session.date()
        raise ValueError(f"no completed {market} session within 14 days before {now.isoformat()}")

    @staticmethod
    def _sessions_index(market: Market, start: date, end: date) -> pd.DatetimeIndex:
        cal = exchange_calendar(market)
        lo = max(pd.Timestamp(start), cal.first_session)
        hi = min(pd.Timestamp(end), cal.last_session)
        if lo > hi:
            return pd.DatetimeIndex([])
        sessions: pd.DatetimeIndex = cal.sessions_in_range(lo, hi)
        return sessions
