"""Property-based run of schemathesis over the whole OpenAPI document, in process on the fakes:
no 5xx and no response that breaks the documented schema. Its examples take seconds, so it
runs with the contract tier rather than with the unit tests."""

from __future__ import annotations

import asyncio

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from adapters.clock import ManualClock
from adapters.memory.queue import InMemoryMessageQueue
from domain.usecases.backtests import SubmitLimits
from gateway.bootstrap import bootstrap
from gateway.container import GatewayOptions
from tests.unit.gateway.seed import finished_job, seeded_repositories

MAX_EXAMPLES = 15
API_KEY = "schemathesis-key"


def _app():
    async def build():
        repos = await seeded_repositories()
        await finished_job(repos)
        return repos

    repos = asyncio.run(build())
    return bootstrap(
        repositories=repos,
        backtest_queue=InMemoryMessageQueue("backtest"),
        ingest_queue=InMemoryMessageQueue("ingest"),
        clock=ManualClock(),
        # Keys on for reads too, so the security scheme documented on every route is enforced.
        options=GatewayOptions(
            api_keys=(API_KEY,), require_key_for_reads=True, poll_interval_s=0.01, max_wait_s=0.05
        ),
        limits=SubmitLimits(),
    )


def test_api_conforms_to_its_openapi_document() -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            # A schema-valid body may still name unknown assets or dates outside the stored
            # data: the API answers 422 there, so "positive data acceptance" cannot hold.
            case.call_and_validate(
                headers={"X-API-Key": API_KEY}, excluded_checks=[positive_data_acceptance]
            )

        try:
            run()
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
