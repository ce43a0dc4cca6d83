"""Exchange calendars and freshness: holidays are not sessions, and "stale" counts sessions."""

from __future__ import annotations

from datetime import UTC, date, datetime

from adapters.calendars import ExchangeCalendarsAdapter
from domain.freshness import market_freshness, series_freshness
from domain.model import Market

CAL = ExchangeCalendarsAdapter()


def test_a_session_counts_as_completed_only_after_its_close() -> None:
    # 2024-07-03 (Wed): NYSE closes early at 13:00 New York = 17:00 UTC.
    assert CAL.last_completed_session(Market.US, datetime(2024, 7, 3, 16, 59, tzinfo=UTC)) == date(
        2024, 7, 2
    )
    assert CAL.last_completed_session(Market.US, datetime(2024, 7, 3, 17, 0, tzinfo=UTC)) == date(
        2024, 7, 3
    )
    # 2024-07-04 is a holiday: all day long, the 3rd is the last completed session.
    assert CAL.last_completed_session(Market.US, datetime(2024, 7, 4, 23, 0, tzinfo=UTC)) == date(
        2024, 7, 3
    )


def test_korean_sessions_skip_chuseok() -> None:
    sessions = CAL.sessions(Market.KR, date(2023, 9, 26), date(2023, 10, 5))
    assert sessions == [date(2023, 9, 26), date(2023, 9, 27), date(2023, 10, 4), date(2023, 10, 5)]


def test_market_is_fresh_across_a_holiday_weekend() -> None:
    # Monday 2024-09-02 is Labor Day: on Tuesday morning, Friday's bar is the latest possible.
    now = datetime(2024, 9, 3, 12, 0, tzinfo=UTC)
    fresh = market_freshness(Market.US, date(2024, 8, 30), CAL, now)

    assert fresh.last_completed_session == date(2024, 8, 30)
    assert fresh.sessions_behind == 0 and not fresh.stale


def test_market_one_session_behind_is_stale_and_empty_market_too() -> None:
    now = datetime(2024, 9, 4, 12, 0, tzinfo=UTC)
    behind = market_freshness(Market.US, date(2024, 8, 30), CAL, now)
    empty = market_freshness(Market.KR, None, CAL, now)

    assert behind.sessions_behind == 1 and behind.stale
    assert empty.sessions_behind is None and empty.stale


def test_series_freshness_lists_every_catalogued_series() -> None:
    result = series_freshness(["UNRATE", "DGS10"], {"DGS10": date(2025, 12, 30)})
    assert [(s.code, s.last_observation) for s in result] == [
        ("DGS10", date(2025, 12, 30)),
        ("UNRATE", None),
    ]
