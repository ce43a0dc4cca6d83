"""API keys: ``X-API-Key`` guards every write when keys are configured, and reads too when
``require_key_for_reads`` is set. Keys are compared in constant time and never logged; a job's
owner is a fingerprint of the key, never the key itself."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from gateway.container import GatewayOptions
from gateway.problems import UNAUTHORIZED, ProblemError

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Needed for writes when the server has API keys set.",
)


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _matches(candidate: str, keys: tuple[str, ...]) -> bool:
    # Compare against every key (no early exit) so timing tells nothing about which one matched.
    found = False
    for key in keys:
        found |= hmac.compare_digest(candidate.encode(), key.encode())
    return found


def _check(options: GatewayOptions, supplied: str | None, required: bool) -> str | None:
    """The caller's owner fingerprint (None when keys are off or the key is optional and absent)."""
    if not options.api_keys:
        return None
    if supplied is None:
        if not required:
            return None
        raise ProblemError(
            UNAUTHORIZED,
            "this operation needs an X-API-Key header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    if not _matches(supplied, options.api_keys):
        raise ProblemError(
            UNAUTHORIZED, "the X-API-Key is not valid", headers={"WWW-Authenticate": "ApiKey"}
        )
    return key_fingerprint(supplied)


def _options(request: Request) -> GatewayOptions:
    options: GatewayOptions = request.app.state.container.options
    return options


async def write_access(
    request: Request, key: Annotated[str | None, Depends(API_KEY_HEADER)]
) -> str | None:
    """Dependency of every write route; returns the caller's owner fingerprint."""
    return _check(_options(request), key, required=True)


async def read_access(
    request: Request, key: Annotated[str | None, Depends(API_KEY_HEADER)]
) -> str | None:
    options = _options(request)
    return _check(options, key, required=options.require_key_for_reads)


Writer = Annotated[str | None, Depends(write_access)]
Reader = Annotated[str | None, Depends(read_access)]
