"""Liveness, readiness (per-dependency detail) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from domain.errors import DomainError
from gateway.deps import Container, Metrics
from gateway.schemas import ReadinessOut

router = APIRouter(tags=["health"])


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
async def ready(container: Container) -> JSONResponse:
    timeout = container.options.dependency_timeout_s
    probes: dict[str, Callable[[], Awaitable[None]]] = {
        "database": container.repositories.health.check,
        "backtest_queue": container.backtest_queue.ping,
        "ingest_queue": container.ingest_queue.ping,
    }
    results = await asyncio.gather(*(_probe(p, timeout) for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    healthy = all(c["status"] == "ok" for c in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


async def _probe(check: Callable[[], Awaitable[None]], limit_s: float) -> dict[str, str | None]:
    try:
        async with asyncio.timeout(limit_s):
            await check()
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
