"""Prometheus metrics (one registry per app, so tests can build many apps) and the ASGI
middleware that counts requests by route template and status and limits body size."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import TOO_LARGE, ProblemError

# Buckets around the 50 ms p95 target of the read routes, up to long polls of 30 s.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request latency by route (seconds)",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs_submitted = Counter(
            "gateway_backtest_jobs_submitted_total",
            "Backtest jobs created (idempotent replays excluded)",
            registry=self.registry,
        )
        self.jobs_cancelled = Counter(
            "gateway_backtest_jobs_cancelled_total",
            "Backtest jobs cancelled through the API",
            registry=self.registry,
        )
        self.jobs_observed_finished = Counter(
            "gateway_backtest_jobs_finished_total",
            "Terminal job statuses first seen by a long poll, by status",
            ["status"],
            registry=self.registry,
        )
        self.queue_send_errors = Counter(
            "gateway_queue_send_errors_total",
            "Messages the gateway could not send, by queue",
            ["queue"],
            registry=self.registry,
        )
        self.ingest_commands = Counter(
            "gateway_ingest_commands_total",
            "Ingest commands accepted, by type",
            ["type"],
            registry=self.registry,
        )
        self.price_series = Counter(
            "gateway_price_series_total",
            "Asset price series served, by source: the series cache or a read of the store",
            ["source"],
            registry=self.registry,
        )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths share one label so random URLs cannot blow up the series count.
    return str(path) if path else "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, route, str(status["code"])).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413: by Content-Length up front, and by counting
    chunks for streamed bodies (no Content-Length)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_too_large(scope, send, self.max_bytes)
            return
        seen = {"bytes": 0}

        async def counting() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > self.max_bytes:
                    raise ProblemError(TOO_LARGE, _too_large_detail(self.max_bytes))
            return message

        await self.app(scope, counting, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large_detail(max_bytes: int) -> str:
    return f"the request body exceeds {max_bytes} bytes"


async def _send_too_large(scope: Scope, send: Send, max_bytes: int) -> None:
    from gateway.problems import problem_response

    response = problem_response(TOO_LARGE, _too_large_detail(max_bytes), scope.get("path"))
    await response(scope, _no_receive, send)


async def _no_receive() -> Any:  # pragma: no cover - a 413 answer never reads the body
    return {"type": "http.disconnect"}
