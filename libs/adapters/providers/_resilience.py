"""Retry with exponential backoff and jitter, and a per-provider rate limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from domain.errors import ProviderUnavailable

T = TypeVar("T")


class RateLimiter:
    """At most ``per_second`` calls a second, shared by every thread of one provider
    (vendors throttle by client, not by call site). ``per_second <= 0`` disables it."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            time.sleep(wait)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries after the first try; waits grow as initial * 2^n plus up to ``initial`` of
    jitter, capped at ``max_wait_s``."""

    max_retries: int = 4
    initial_wait_s: float = 1.0
    max_wait_s: float = 30.0


def call_with_retry(call: Callable[[], T], policy: RetryPolicy) -> T:
    """Run ``call``; on a ProviderUnavailable (timeouts, 429, 5xx) retry per ``policy``, then
    re-raise the last error. Other errors are not retried."""
    retrying = Retrying(
        retry=retry_if_exception_type(ProviderUnavailable),
        stop=stop_after_attempt(policy.max_retries + 1),
        wait=wait_exponential_jitter(
            multiplier=policy.initial_wait_s, max=policy.max_wait_s, jitter=policy.initial_wait_s
        ),
        reraise=True,
    )
    return retrying(call)
