"""Liveness, readiness (per-dependency detail) and Prometheus metrics.

A dependency that refused this task's credentials (the database password was rotated after the
task read its secret, seen by a probe or by any request: `gateway.refusals`) keeps readiness at 503 for the rest of the task's life: the ALB fails the
target three times in a row and ECS replaces the task with one that reads the current secret.
The process does not exit by itself: the ALB drains the target first, so requests in flight on
connections opened before the rotation still finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from domain.errors import DomainError, RestartRequired
from gateway.deps import Container, Metrics
from gateway.refusals import CheckResult, record_refusal, refused_credentials
from gateway.schemas import ReadinessOut

router = APIRouter(tags=["health"])

Probe = Callable[[], Awaitable[None]]


@router.get("/health/live", summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="The database and both queues answer",
    response_model=ReadinessOut,
    responses={
        503: {"model": ReadinessOut, "description": "A dependency is down (named in checks)"}
    },
)
async def ready(container: Container, request: Request) -> JSONResponse:
    timeout = container.options.dependency_timeout_s
    probes: dict[str, Probe] = {
        "database": container.repositories.health.check,
        "backtest_queue": container.backtest_queue.ping,
        "ingest_queue": container.ingest_queue.ping,
    }
    results = await asyncio.gather(
        *(_probe_unless_refused(request, name, probe, timeout) for name, probe in probes.items())
    )
    checks = dict(zip(probes, results, strict=True))
    healthy = all(c["status"] == "ok" for c in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


async def _probe_unless_refused(
    request: Request, name: str, check: Probe, limit_s: float
) -> CheckResult:
    if refused := refused_credentials(request.app).get(name):
        return refused
    try:
        return await _probe(check, limit_s)
    except RestartRequired as exc:
        return record_refusal(request.app, name, exc)


async def _probe(check: Probe, limit_s: float) -> CheckResult:
    try:
        async with asyncio.timeout(limit_s):
            await check()
    except RestartRequired:
        raise
    except TimeoutError:
        return {"status": "unavailable", "detail": f"no answer within {limit_s:g} s"}
    except DomainError as exc:
        # The error class names the failure without leaking hosts or credentials.
        return {"status": "unavailable", "detail": type(exc).__name__}
    except Exception as exc:  # a probe must report, never crash readiness
        return {"status": "unavailable", "detail": type(exc).__name__}
    return {"status": "ok", "detail": None}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        }
    },
)
async def metrics(metrics: Metrics) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
