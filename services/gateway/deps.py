"""Request-scoped access to the container."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.container import GatewayContainer
from gateway.observability import GatewayMetrics


async def get_container(request: Request) -> GatewayContainer:
    container: GatewayContainer = request.app.state.container
    return container


async def get_metrics(request: Request) -> GatewayMetrics:
    metrics: GatewayMetrics = request.app.state.metrics
    return metrics


Container = Annotated[GatewayContainer, Depends(get_container)]
Metrics = Annotated[GatewayMetrics, Depends(get_metrics)]
