"""What every ``MessageQueue`` adapter here shares with SQS: its limits and its dead letters.

``SqsMessageQueue`` and the in-memory fake both refuse what SQS refuses, with the same
limits, so code tested against the fake is valid against SQS; both report a dead-lettered
message as a ``DeadLetter``. Neither adapter imports the other: this module is their common
ground and needs no SDK.
"""

from __future__ import annotations

from dataclasses import dataclass

# SQS's limits: messages per receive, long-poll wait, visibility timeout, delivery delay.
MAX_BATCH = 10
MAX_WAIT_S = 20
MAX_LEASE_S = 12 * 60 * 60
MAX_DELAY_S = 15 * 60


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A message in a dead-letter queue. ``reason`` is None when the queue's redrive policy
    moved it (too many receives) rather than a consumer giving up on it."""

    message_id: str
    body: str
    reason: str | None
    receive_count: int
    source_queue: str


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Refuse arguments SQS would refuse, so code tested on the fake is valid on SQS."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
