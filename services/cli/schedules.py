"""The three scheduled update commands, as the EventBridge rules in deploy/ deliver them.

Each rule's input transformer fills ``command_id`` from the event's ``id`` and ``scheduled_at``
from its ``time``; a contract test checks these bodies against the templates.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

SCHEDULES: dict[str, tuple[str, dict[str, Any]]] = {
    "us-prices": ("cron(0 9 ? * TUE-SAT *)", {"type": "update_prices", "market": "US"}),
    "kr-prices": ("cron(0 21 ? * MON-FRI *)", {"type": "update_prices", "market": "KR"}),
    "macro": ("cron(0 23 ? * SUN-FRI *)", {"type": "update_macro"}),
}


def scheduled_bodies(*, time: datetime) -> list[dict[str, Any]]:
    """One body per rule, each with its own event id, as three separate scheduled events."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        {**body, "command_id": str(uuid.uuid4()), "scheduled_at": stamp}
        for _cron, body in SCHEDULES.values()
    ]
