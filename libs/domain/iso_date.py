"""Dates as the API and the message contracts document them: ISO 8601 calendar dates.

pydantic's lax mode also reads a number (or a numeric string) as a Unix timestamp, so
``"start": 0`` in a backtest spec or ``?start=0`` on a price read silently meant 1970-01-01.
A client's slip must be a clear 422, not a different query: only a ``date`` or a
``YYYY-MM-DD`` string is taken.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator

_ISO_CALENDAR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_calendar_date_only(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_CALENDAR_DATE.fullmatch(value):
        return value
    raise ValueError("expected a date in the form YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_calendar_date_only)]
