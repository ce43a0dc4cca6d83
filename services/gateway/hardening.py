"""Refuse control characters in the URL before any route sees them.

A NUL byte cannot be stored by PostgreSQL in text, and no ticker, code, cursor or id contains a
control character: such a request is malformed (400), not a reason for a driver error (500).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.errors import InvalidRequest
from gateway.problems import BAD_REQUEST, problem_response

_CONTROL = frozenset(range(0x20)) | {0x7F}


def _has_control_bytes(raw: bytes) -> bool:
    return any(byte in _CONTROL for byte in unquote_to_bytes(raw))


class ControlCharacterMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("raw_path") or scope.get("path", "").encode()
            query = scope.get("query_string", b"")
            if _has_control_bytes(path) or _has_control_bytes(query.replace(b"+", b" ")):
                response = problem_response(
                    BAD_REQUEST,
                    "the URL contains control characters (e.g. a NUL byte)",
                    scope.get("path"),
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def reject_unknown_query_parameters(request: Request) -> None:
    """A query parameter the route does not declare is a client mistake (``?stat=queued`` would
    otherwise silently list every job): answer 422 naming it instead of ignoring it."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = {p.alias for p in _all_query_params(dependant)}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidRequest(
            "unknown query parameters: " + ", ".join(unknown[:10]),
            errors=[
                {"field": f"query.{name[:64]}", "message": "not a parameter of this route"}
                for name in unknown[:10]
            ],
        )


def _all_query_params(dependant: Any) -> list[Any]:
    params = list(dependant.query_params)
    for sub in dependant.dependencies:
        params += _all_query_params(sub)
    return params
