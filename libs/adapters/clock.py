"""Clocks implementing ``domain.ports.Clock``: the system clock and a manual one for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    """The wall clock, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to, so time-dependent rules test deterministically."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _aware(start) if start is not None else datetime(2024, 1, 2, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = _aware(when)

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by a timedelta or a number of seconds; return the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        self._now += step
        return self._now


def _aware(when: datetime) -> datetime:
    # A naive datetime is ambiguous; refuse it rather than guess the zone.
    if when.tzinfo is None:
        raise ValueError("ManualClock needs a timezone-aware datetime")
    return when.astimezone(UTC)
