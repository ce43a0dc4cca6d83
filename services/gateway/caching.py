"""Conditional requests for immutable representations (finished results, charts): a strong
ETag derived from what determines the bytes, ``If-None-Match`` answered with 304."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response

# Results of finished jobs never change; "private" because with API keys they are per caller.
IMMUTABLE = "private, max-age=86400, immutable"
# Saved portfolios may be deleted: caches must revalidate (cheap with the ETag).
REVALIDATE = "private, no-cache"


def etag_for(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return f'"{digest}"'


def client_holds(request: Request, etag: str) -> bool:
    """True when ``If-None-Match`` names ``etag`` (or ``*``): the client holds these bytes."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    candidates = {c.strip().removeprefix("W/") for c in header.split(",")}
    return "*" in candidates or etag in candidates


def unmodified(etag: str, cache_control: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})


def not_modified(request: Request, etag: str, cache_control: str) -> Response | None:
    """A 304 when the client already holds this representation, else None."""
    return unmodified(etag, cache_control) if client_holds(request, etag) else None
