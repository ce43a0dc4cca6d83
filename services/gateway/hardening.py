"""Refuse control characters in the URL before any route sees them.

A NUL byte cannot be stored by PostgreSQL in text, and no ticker, code, cursor or id contains a
control character: such a request is malformed (400), not a reason for a driver error (500).
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

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
