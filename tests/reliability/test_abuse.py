"""The gateway under abuse, as a real process on PostgreSQL with API keys configured: a
schemathesis run with random and schema-violating inputs (no 5xx, no schema violation), hostile
inputs answered with a 4xx problem detail and the database unchanged, and writes refused
without a valid key."""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import FlakyStrategyDefinition, Unsatisfiable
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from tests.reliability.harness import FAST_ENV, TICKERS, ChaosStack, fetch, prepare_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.sqs, pytest.mark.timeout(900)]

API_KEY = f"abuse-key-{uuid.uuid4().hex}"
PROBLEM = "application/problem+json"
# Per operation and mode; CHAOS_HEAVY runs many more. The figure goes into docs/reliability.md.
FUZZ_EXAMPLES = int(
    os.environ.get("FUZZ_EXAMPLES", "200" if os.environ.get("CHAOS_HEAVY") else "12")
)

INJECTIONS = (
    "' OR '1'='1",
    "1; DROP TABLE prices; --",
    '" OR ""="',
    "1 UNION SELECT password FROM pg_shadow --",
    "%27%20OR%201%3D1--",
    "${jndi:ldap://127.0.0.1/a}",
    "<script>alert(1)</script>",
)
TRAVERSALS = ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc", "....//....//")


@pytest.fixture(scope="module")
def stack(
    fresh_database: Callable[[], str], sqs_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChaosStack]:
    url = fresh_database()
    asyncio.run(prepare_database(url, ingest=TICKERS[:3]))
    stack = ChaosStack(
        database_url=url,
        sqs_endpoint=sqs_endpoint,
        direct_sqs=sqs_endpoint,
        log_dir=tmp_path_factory.mktemp("chaos-abuse") / "logs",
        # Keys on for reads too: the document lists the key on every route, and the fuzz run
        # (negative mode drops it) holds the server to that.
        # Generated `?wait=` values would each hold a poll for its full length (no backtester
        # runs here to change a status); a short cap keeps the fuzzing about inputs.
        extra_env={
            **FAST_ENV,
            "API_KEYS": API_KEY,
            "REQUIRE_KEY_FOR_READS": "true",
            "GATEWAY_MAX_WAIT_SECONDS": "0.2",
        },
    )
    stack.start("gateway")
    try:
        yield stack
    finally:
        stack.stop_all()


SNAPSHOT_TABLES = (
    "assets",
    "prices",
    "macro_series",
    "macro_observations",
    "ingestion_runs",
    "backtest_jobs",
    "backtest_results",
    "portfolios",
)


async def snapshot(url: str) -> dict[str, str]:
    """Every row of every table, digested: "the database is unchanged" means this is equal."""
    digests = {}
    for table in SNAPSHOT_TABLES:
        rows = await fetch(
            url,
            f"SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS d FROM {table} t",
        )
        digests[table] = f"{rows[0]['n']}:{rows[0]['d']}"
    return digests


def assert_problem(answer: httpx.Response, allowed: set[int] | None = None) -> None:
    where = (
        f"{answer.request.method} {answer.request.url} -> {answer.status_code}: {answer.text[:300]}"
    )
    assert 400 <= answer.status_code < 500, where
    if allowed is not None:
        assert answer.status_code in allowed, where
    assert answer.headers.get("content-type", "").startswith(PROBLEM), where


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": [value]}
    return value


def valid_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "strategy": {"type": "equal_weight", "params": {}},
        "universe": list(TICKERS[:3]),
        "start": "2015-01-01",
        "end": "2019-12-31",
        "rebalance": "M",
    }
    spec.update(changes)
    return spec


async def hostile_requests(
    client: httpx.AsyncClient,
) -> list[tuple[str, httpx.Response | httpx.HTTPError]]:
    key = {"X-API-Key": API_KEY}
    sent: list[tuple[str, httpx.Response | httpx.HTTPError]] = []

    async def send(label: str, method: str, path: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", key)  # hostile, but past the key check
        try:
            sent.append((label, await client.request(method, path, **kwargs)))
        except httpx.HTTPError as exc:  # a dropped connection is a failure to report, not stop at
            sent.append((label, exc))

    big = b'{"universe": ["' + b"A" * (2 * 1024 * 1024) + b'"]}'
    await send(
        "oversized body",
        "POST",
        "/v1/backtests",
        content=big,
        headers={**key, "content-type": "application/json"},
    )
    # Built as text: json.dumps itself cannot encode this depth.
    deep = ('{"a": [' * 5000 + "1" + "]}" * 5000).encode()
    await send(
        "deeply nested JSON",
        "POST",
        "/v1/backtests",
        content=deep,
        headers={**key, "content-type": "application/json"},
    )
    await send(
        "huge universe",
        "POST",
        "/v1/backtests",
        json=valid_spec(universe=[f"T{i}" for i in range(20_000)]),
        headers=key,
    )
    await send(
        "absurd date range",
        "POST",
        "/v1/backtests",
        json=valid_spec(start="0001-01-01", end="9999-12-31"),
        headers=key,
    )
    await send(
        "inverted date range",
        "POST",
        "/v1/backtests",
        json=valid_spec(start="2020-01-01", end="2010-01-01"),
        headers=key,
    )
    await send(
        "absurd capital",
        "POST",
        "/v1/backtests",
        json=valid_spec(initial_capital=1e308, fee_bps=-5),
        headers=key,
    )
    await send(
        "absurd price range",
        "GET",
        "/v1/assets/1/prices",
        params={"start": "0001-01-01", "end": "99999-01-01"},
    )
    for text in INJECTIONS:
        await send(
            f"injection in universe {text!r}",
            "POST",
            "/v1/backtests",
            json=valid_spec(universe=[text]),
            headers=key,
        )
        await send(
            f"injection in strategy {text!r}",
            "POST",
            "/v1/backtests",
            json=valid_spec(strategy={"type": text, "params": {}}),
            headers=key,
        )
        await send(f"injection in limit {text!r}", "GET", "/v1/assets", params={"limit": text})
        await send(f"injection in cursor {text!r}", "GET", "/v1/assets", params={"cursor": text})
        await send(f"injection in market {text!r}", "GET", "/v1/assets", params={"market": text})
        await send(f"injection in status {text!r}", "GET", "/v1/backtests", params={"status": text})
        await send(
            f"injection in dates {text!r}",
            "GET",
            "/v1/assets/1/prices",
            params={"start": text, "end": text},
        )
        await send(f"injection in asset id {text!r}", "GET", f"/v1/assets/{text}")
        await send(f"injection in job id {text!r}", "GET", f"/v1/backtests/{text}")
        await send(f"injection in cancel {text!r}", "DELETE", f"/v1/backtests/{text}", headers=key)
        await send(
            f"injection in the key {text!r}",
            "POST",
            "/v1/backtests",
            json=valid_spec(),
            headers={"X-API-Key": text, "Idempotency-Key": text},
        )
        await send(
            f"injection in the idempotency key {text!r}",
            "POST",
            "/v1/backtests",
            json=valid_spec(universe=[]),
            headers={**key, "Idempotency-Key": text},
        )
        await send(
            f"injection in ingestion {text!r}",
            "POST",
            "/v1/ingestion/commands",
            json={"type": "update_prices", "market": text},
            headers=key,
        )
    for path in TRAVERSALS:
        for template in (
            "/v1/backtests/{}",
            "/v1/backtests/{}/result",
            "/v1/assets/{}",
            "/v1/assets/{}/prices",
            "/v1/portfolios/{}",
        ):
            await send(f"traversal {template.format(path)}", "GET", template.format(path))
    return sent


async def test_hostile_inputs_get_a_4xx_problem_and_leave_the_database_unchanged(
    stack: ChaosStack, client: httpx.AsyncClient
) -> None:
    before = await snapshot(stack.database_url)
    sent = await hostile_requests(client)
    failures = []
    for label, answer in sent:
        try:
            assert isinstance(answer, httpx.Response), f"no answer: {answer!r}"
            assert_problem(answer)
        except AssertionError as exc:
            failures.append(f"{label}: {exc}")
    assert not failures, "\n".join(failures)
    assert await snapshot(stack.database_url) == before
    assert stack.processes["gateway"].poll() is None


async def test_writes_without_or_with_a_wrong_key_are_refused(
    stack: ChaosStack, client: httpx.AsyncClient
) -> None:
    before = await snapshot(stack.database_url)
    writes = (
        ("POST", "/v1/backtests", valid_spec()),
        ("POST", "/v1/ingestion/commands", {"type": "update_prices", "market": "US"}),
        ("POST", "/v1/portfolios", {"name": "x", "job_id": str(uuid.uuid4())}),
        ("DELETE", f"/v1/backtests/{uuid.uuid4()}", None),
    )
    for method, path, body in writes:
        for headers in ({}, {"X-API-Key": "wrong-" + API_KEY}, {"X-API-Key": ""}):
            answer = await client.request(method, path, json=body, headers=headers)
            assert_problem(answer, allowed={401, 403})
    assert await snapshot(stack.database_url) == before
    # The same write with the key is accepted: the refusals above were about the key.
    accepted = await client.post("/v1/backtests", json=valid_spec(), headers={"X-API-Key": API_KEY})
    assert accepted.status_code == 202, accepted.text


def key_for(case: schemathesis.Case, mode: GenerationMode) -> dict[str, str]:
    """The valid key in place of a generated one; none where a negative case left the required
    header out (putting it back would undo the violation the case is about: the server's 200
    would then be right, and the check would call it a schema-violating request accepted)."""
    if mode is GenerationMode.NEGATIVE and "X-API-Key" not in (case.headers or {}):
        return {}
    return {"X-API-Key": API_KEY}


def fuzz_operations(base_url: str, mode: GenerationMode) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    cases = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        strategy = operation.as_strategy(generation_mode=mode)

        @given(case=strategy)
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            nonlocal cases
            cases += 1
            # An empty array as a query value is sent as nothing at all: that "violation"
            # never reaches the server, which then rightly answers 200.
            assume(not any(value == [] for value in (case.query or {}).values()))
            # A schema-valid request may still name unknown assets or dates without data:
            # 404/422 there is correct, so "positive data acceptance" cannot hold.
            case.call_and_validate(
                headers=key_for(case, mode), excluded_checks=[positive_data_acceptance]
            )

        try:
            run()
        except Unsatisfiable:
            # Negative mode on an operation without inputs (health, metrics): nothing to break.
            continue
        except Exception as exc:  # every operation's failure, not just the first
            failures.append(f"{operation.label} [{mode.value}]: {exc}"[:3000])
    return cases, failures


async def test_fuzzed_requests_get_no_5xx_and_no_schema_violation(
    stack: ChaosStack, client: httpx.AsyncClient, record_property: Callable[[str, object], None]
) -> None:
    total = 0
    failures: list[str] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        cases, found = await asyncio.to_thread(fuzz_operations, stack.base_url, mode)
        total += cases
        failures += found
    record_property("fuzz_cases", total)
    print(f"fuzz cases run: {total}")
    assert not failures, "\n\n".join(failures)
    assert stack.processes["gateway"].poll() is None


# Inputs that reach the driver or the parser unless validated first (a 500, after which
# uvicorn drops the connection): NUL bytes, ids beyond int32, deep nesting.
PATHOLOGICAL = [
    pytest.param(
        "POST",
        "/v1/backtests",
        {"json": valid_spec(strategy={"type": "equal_weight", "params": nested(200)})},
        id="deeply nested strategy params",
    ),
    pytest.param(
        "POST", "/v1/backtests", {"json": valid_spec(universe=["x\u0000y"])}, id="NUL in a ticker"
    ),
    pytest.param("GET", "/v1/assets", {"params": {"q": "x\u0000y"}}, id="NUL in the asset search"),
    pytest.param(
        "POST",
        "/v1/backtests",
        {"json": valid_spec(universe=[-(2**35)])},
        id="asset id beyond int32 in a universe",
    ),
    pytest.param("GET", f"/v1/assets/{2**64}", {}, id="asset id beyond int32"),
    pytest.param("GET", f"/v1/assets/{2**64}/prices", {}, id="beyond int32 in prices"),
    pytest.param(
        "GET",
        "/v1/prices",
        {"params": {"asset_id": 2**40}},
        id="beyond int32 in a price query",
    ),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), PATHOLOGICAL)
async def test_pathological_strings_and_depths_get_a_4xx_problem(
    method: str, path: str, kwargs: dict[str, Any], stack: ChaosStack, client: httpx.AsyncClient
) -> None:
    before = await snapshot(stack.database_url)
    answer = await client.request(method, path, headers={"X-API-Key": API_KEY}, **kwargs)
    assert_problem(answer)
    assert await snapshot(stack.database_url) == before


STATEFUL_STEPS = int(
    os.environ.get("STATEFUL_EXAMPLES", "400" if os.environ.get("CHAOS_HEAVY") else "40")
)


STATEFUL_BATCH = 20
EXTRA_BATCHES_TO_FOLLOW_A_JOB = 10


def job_followed(seen: dict[str, set[int]]) -> bool:
    """A job id taken from a 202 was read back: the links were followed, not guessed."""
    return 200 in seen.get("GET /v1/backtests/{job_id}", set())


@dataclass
class StatefulOutcome:
    statuses: dict[str, set[int]]
    violations: list[str]
    scenarios: int
    flaky_stops: int


def stateful_run(base_url: str) -> StatefulOutcome:
    """schemathesis' state machine over the document's links (submit → poll → result → cancel,
    save → read → delete, list → item): random bodies, headers and parameters at every step, each
    response checked against the document."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    seen: dict[str, set[int]] = {}
    violations: list[str] = []
    scenarios = [0]
    submissions = itertools.count()

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            scenarios[0] += 1

        def before_call(self, case: schemathesis.Case) -> None:
            # The valid key goes in explicitly (get_call_kwargs), so chains go deep and the
            # ignored_auth check probes each operation without it and with a wrong one.
            if case.headers:
                case.headers.pop("X-API-Key", None)
            # Random specs almost never name stored tickers and dates with data; every other
            # submission is a valid one so the job lifecycle links have a job to follow.
            negative_body = case.meta is not None and case.meta.is_negative_at(
                ParameterLocation.BODY
            )
            if (
                not negative_body
                and case.operation.label == "POST /v1/backtests"
                and next(submissions) % 2 == 0
            ):
                case.body = valid_spec(start=f"{2010 + next(submissions) % 5}-01-01")

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": {"X-API-Key": API_KEY}}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            seen.setdefault(case.operation.label, set()).add(response.status_code)

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            # As in the stateless run: a valid body may still name data that is not stored.
            # Rejection of schema-violating requests is the stateless run's job: here the key
            # put back on every step would undo a negative case's missing-header violation.
            try:
                case.validate_response(
                    response,
                    excluded_checks=[positive_data_acceptance, negative_data_rejection],
                    transport_kwargs=kwargs,
                )
            except Exception as exc:
                violations.append(f"{case.operation.label}: {exc}"[:3000])
                raise

    # Against a real server the links on offer depend on what earlier steps stored, so
    # Hypothesis may find a replayed prefix drawing differently (FlakyStrategyDefinition) and
    # stop that run. Run batches until the scenarios that did run reach the target and a job
    # was followed from its 202 to its status (which steps a scenario takes is random: a short
    # run may never draw that chain), bounded, keeping every violation seen.
    flaky_stops = 0
    for _ in range(4 * STATEFUL_STEPS // STATEFUL_BATCH + EXTRA_BATCHES_TO_FOLLOW_A_JOB):
        if scenarios[0] >= STATEFUL_STEPS and job_followed(seen):
            break
        try:
            Machine.run(
                settings=settings(
                    max_examples=STATEFUL_BATCH,
                    stateful_step_count=6,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
            )
        except FlakyStrategyDefinition:
            flaky_stops += 1
        except Exception as exc:
            violations.append(str(exc)[:3000])
    return StatefulOutcome(seen, violations, scenarios[0], flaky_stops)


async def test_stateful_run_over_the_documented_links_finds_no_5xx_or_schema_violation(
    stack: ChaosStack, client: httpx.AsyncClient, record_property: Callable[[str, object], None]
) -> None:
    outcome = await asyncio.to_thread(stateful_run, stack.base_url)
    seen = outcome.statuses
    print(f"stateful run: {outcome}")
    record_property("stateful_scenarios", outcome.scenarios)
    record_property("stateful_operations", len(seen))
    assert not outcome.violations, "\n\n".join(outcome.violations)
    assert not [op for op, codes in seen.items() if any(code >= 500 for code in codes)], seen
    # Batches cut short by Hypothesis' replay check are made up for by further batches.
    assert outcome.scenarios >= STATEFUL_STEPS, outcome
    assert job_followed(seen), seen
    assert stack.processes["gateway"].poll() is None
