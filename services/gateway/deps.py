"""What a route receives from the process's container (``app.state.container``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.container import GatewayContainer, GatewayUseCases
from gateway.observability import GatewayMetrics


async def get_container(request: Request) -> GatewayContainer:
    container: GatewayContainer = request.app.state.container
    return container


async def get_use_cases(request: Request) -> GatewayUseCases:
    use_cases: GatewayUseCases = request.app.state.container.use_cases
    return use_cases


async def get_metrics(request: Request) -> GatewayMetrics:
    metrics: GatewayMetrics = request.app.state.metrics
    return metrics


Container = Annotated[GatewayContainer, Depends(get_container)]
UseCases = Annotated[GatewayUseCases, Depends(get_use_cases)]
Metrics = Annotated[GatewayMetrics, Depends(get_metrics)]
