"""The gateway's policy comes from the environment (12-factor): each setting reaches the
options the routes read, and values outside their bounds stop the start-up with a clear error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.settings import GatewaySettings
from gateway.bootstrap import options_from_settings


def test_environment_reaches_the_gateway_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "k1, k2")
    monkeypatch.setenv("REQUIRE_KEY_FOR_READS", "true")
    monkeypatch.setenv("GATEWAY_MAX_WAIT_SECONDS", "0.2")
    monkeypatch.setenv("GATEWAY_PRICE_CACHE_MB", "0")
    monkeypatch.setenv("MAX_QUEUED_JOBS_PER_KEY", "7")

    options = options_from_settings(GatewaySettings())

    assert options.api_keys == ("k1", "k2")
    assert options.require_key_for_reads is True
    assert options.max_wait_s == 0.2
    assert options.price_cache_bytes == 0
    assert options.max_active_jobs_per_key == 7


def test_a_wait_beyond_the_load_balancer_idle_timeout_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_MAX_WAIT_SECONDS", "120")
    with pytest.raises(ValidationError, match="gateway_max_wait_seconds"):
        GatewaySettings()
