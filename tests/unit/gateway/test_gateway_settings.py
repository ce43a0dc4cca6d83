"""The gateway's policy comes from the environment (12-factor): each setting reaches the
options the routes read or the limits the submit use case applies, and values outside their
bounds stop the start-up with a clear error."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from adapters.clock import ManualClock
from adapters.memory.queue import InMemoryMessageQueue
from adapters.settings import BacktestLimitSettings, GatewaySettings
from domain.usecases.backtests import SubmitLimits
from gateway.bootstrap import (
    GatewayProcessSettings,
    bootstrap,
    options_from_settings,
    submit_limits_from_settings,
)
from gateway.container import GatewayOptions
from tests.unit.gateway.seed import seeded_repositories, spec_body

LIMIT_VARIABLES = (
    "MAX_UNIVERSE",
    "MAX_SPAN_DAYS",
    "MAX_ACTIVE_JOBS_PER_KEY",
    "MAX_QUEUED_JOBS_PER_KEY",
)


@pytest.fixture(autouse=True)
def no_limits_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LIMIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_environment_reaches_the_gateway_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "k1, k2")
    monkeypatch.setenv("REQUIRE_KEY_FOR_READS", "true")
    monkeypatch.setenv("GATEWAY_MAX_WAIT_SECONDS", "0.2")
    monkeypatch.setenv("GATEWAY_PRICE_CACHE_MB", "0")

    options = options_from_settings(GatewaySettings())

    assert options.api_keys == ("k1", "k2")
    assert options.require_key_for_reads is True
    assert options.max_wait_s == 0.2
    assert options.price_cache_bytes == 0


def test_environment_reaches_the_submit_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_UNIVERSE", "12")
    monkeypatch.setenv("MAX_SPAN_DAYS", "3650")
    monkeypatch.setenv("MAX_ACTIVE_JOBS_PER_KEY", "7")

    limits = submit_limits_from_settings(BacktestLimitSettings())

    assert limits == SubmitLimits(max_universe=12, max_span_days=3650, max_active_jobs_per_key=7)


def test_unset_limits_keep_the_domain_defaults() -> None:
    assert submit_limits_from_settings(BacktestLimitSettings()) == SubmitLimits()


def test_the_former_name_of_the_active_job_limit_is_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_QUEUED_JOBS_PER_KEY", "7")
    assert submit_limits_from_settings(BacktestLimitSettings()).max_active_jobs_per_key == 7

    monkeypatch.setenv("MAX_ACTIVE_JOBS_PER_KEY", "9")  # the current name wins
    assert submit_limits_from_settings(BacktestLimitSettings()).max_active_jobs_per_key == 9


async def test_the_root_hands_the_limits_from_the_environment_to_the_submit_use_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_ACTIVE_JOBS_PER_KEY", "1")
    app = bootstrap(
        GatewayProcessSettings(),
        repositories=await seeded_repositories(),
        backtest_queue=InMemoryMessageQueue("backtest"),
        ingest_queue=InMemoryMessageQueue("ingest"),
        clock=ManualClock(),
        options=GatewayOptions(),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.post("/v1/backtests", json=spec_body())
        second = await client.post("/v1/backtests", json=spec_body(name="another"))

    assert first.status_code == 202
    assert second.status_code == 429


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("GATEWAY_MAX_WAIT_SECONDS", "120", "gateway_max_wait_seconds"),
        ("MAX_ACTIVE_JOBS_PER_KEY", "0", "max_active_jobs_per_key"),
        ("MAX_SPAN_DAYS", "0", "max_span_days"),
    ],
)
def test_a_setting_out_of_bounds_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=field):
        GatewayProcessSettings()
