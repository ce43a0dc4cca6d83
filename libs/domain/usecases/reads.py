"""Rules every read use case shares: date ranges and consistent reads."""

from __future__ import annotations

from datetime import date

from domain.errors import InvalidRequest

# A read repeated because a write landed in between gives up after this many attempts: then
# the client retries (503), rather than the gateway reading forever under a busy writer.
CONSISTENT_READ_ATTEMPTS = 3


def check_date_range(start: date | None, end: date | None) -> None:
    """An inclusive date range must not start after it ends (a field error on ``start``)."""
    if start is not None and end is not None and start > end:
        raise InvalidRequest(
            "start is after end", [{"field": "start", "message": "must not be after end"}]
        )
