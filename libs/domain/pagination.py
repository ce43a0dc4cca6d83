"""The page cursor: an opaque, URL-safe token naming the last row of a page.

Every ``Page`` store encodes its sort key with ``encode_cursor`` and continues after the row a
client's cursor names; a cursor a client tampered with is a client error (``InvalidRequest``),
never a crash.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from domain.errors import InvalidRequest


def encode_cursor(*parts: Any) -> str:
    """An opaque, URL-safe cursor from JSON-ready key parts."""
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The key parts of a cursor; a malformed cursor is a client error, not a crash."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(
            "malformed cursor", [{"field": "cursor", "message": str(exc)}]
        ) from exc
    if not isinstance(parts, list):
        raise InvalidRequest("malformed cursor", [{"field": "cursor", "message": "not a list"}])
    return parts


def cursor_parts(cursor: str, n: int) -> list[Any]:
    """The ``n`` key parts of a cursor; a cursor of another shape is a client error."""
    parts = decode_cursor(cursor)
    if len(parts) != n:
        raise InvalidRequest("malformed cursor", [{"field": "cursor", "message": "wrong shape"}])
    return parts
