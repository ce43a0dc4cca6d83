"""RFC 9457 problem details: one stable ``type`` URI per error kind, and the exception handlers
that turn domain errors into them at the HTTP edge."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    Conflict,
    DomainError,
    InvalidMessage,
    InvalidRequest,
    NotFound,
    QueueUnavailable,
    RetryableError,
    StorageCredentialsRejected,
    StorageUnavailable,
)
from domain.usecases.backtests import TooManyActiveJobs
from gateway.refusals import record_refusal

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://insight-invest.dev/problems/"
RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class Kind:
    slug: str
    title: str
    status: int

    @property
    def type(self) -> str:
        return TYPE_BASE + self.slug


BAD_REQUEST = Kind("bad-request", "Bad request", 400)
UNAUTHORIZED = Kind("unauthorized", "Missing or invalid API key", 401)
NOT_FOUND = Kind("not-found", "Resource not found", 404)
METHOD_NOT_ALLOWED = Kind("method-not-allowed", "Method not allowed", 405)
NOT_ACCEPTABLE = Kind("not-acceptable", "Not acceptable", 406)
CONFLICT = Kind("conflict", "Conflict with the current state", 409)
TOO_LARGE = Kind("payload-too-large", "Request body too large", 413)
UNSUPPORTED_MEDIA = Kind("unsupported-media-type", "Unsupported media type", 415)
VALIDATION = Kind("validation-error", "The request is invalid", 422)
TOO_MANY_JOBS = Kind("too-many-active-jobs", "Too many active backtests", 429)
INTERNAL = Kind("internal-error", "Internal server error", 500)
STORAGE_DOWN = Kind("storage-unavailable", "The database is unavailable", 503)
QUEUE_DOWN = Kind("queue-unavailable", "The message queue is unavailable", 503)
UNAVAILABLE = Kind("service-unavailable", "Service unavailable", 503)

_BY_STATUS = {
    k.status: k
    for k in (
        BAD_REQUEST,
        UNAUTHORIZED,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        NOT_ACCEPTABLE,
        CONFLICT,
        TOO_LARGE,
        UNSUPPORTED_MEDIA,
        VALIDATION,
        TOO_MANY_JOBS,
        INTERNAL,
        UNAVAILABLE,
    )
}


class FieldError(BaseModel):
    field: str = Field(examples=["universe.1"])
    message: str = Field(examples=["unknown or ambiguous asset 'NOPE'"])


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(examples=[VALIDATION.type])
    title: str = Field(examples=[VALIDATION.title])
    status: int = Field(examples=[422])
    detail: str | None = Field(default=None, examples=["the backtest request is invalid"])
    instance: str | None = Field(default=None, examples=["/v1/backtests"])
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raised by the HTTP layer itself (auth, content negotiation) to answer with a problem."""

    def __init__(self, kind: Kind, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.headers = headers


def problem_response(
    kind: Kind,
    detail: str | None,
    instance: str | None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": kind.type,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=kind.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _domain_kind(exc: DomainError) -> Kind:
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, TooManyActiveJobs):
        return TOO_MANY_JOBS
    if isinstance(exc, Conflict):
        return CONFLICT
    if isinstance(exc, InvalidRequest | InvalidMessage):
        return VALIDATION
    if isinstance(exc, StorageUnavailable):
        return STORAGE_DOWN
    if isinstance(exc, QueueUnavailable):
        return QUEUE_DOWN
    if isinstance(exc, RetryableError):
        return UNAVAILABLE
    return INTERNAL


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    kind = _domain_kind(exc)
    instance = request.url.path
    if isinstance(exc, StorageCredentialsRejected):
        record_refusal(request.app, "database", exc)
    if kind.status >= 500:
        # Dependencies' messages may carry hosts or SQL: log them, answer generically.
        log.warning("dependency unavailable on %s: %s", instance, type(exc).__name__)
        headers = {"Retry-After": str(RETRY_AFTER_S)} if kind.status == 503 else None
        return problem_response(kind, kind.title, instance, headers=headers)
    errors = None
    if isinstance(exc, InvalidRequest):
        errors = exc.errors
    elif isinstance(exc, InvalidMessage):
        errors = [{"field": "body", "message": str(exc)}]
    return problem_response(kind, str(exc), instance, errors=errors)


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "universe", 1) → "universe.1"; ("query", "limit") → "limit".
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else loc
    return ".".join(str(p) for p in parts) or "body"


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_name(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    return problem_response(VALIDATION, "the request is invalid", request.url.path, errors=errors)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = _BY_STATUS.get(exc.status_code) or Kind("http-error", "HTTP error", exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else kind.title
    return problem_response(kind, detail, request.url.path, headers=getattr(exc, "headers", None))


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.kind, exc.detail, request.url.path, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The trace goes to the log only; the client never sees internals (stack, SQL, hosts).
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(INTERNAL, "an unexpected error occurred", request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


def problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses, with an example each."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        kind = _BY_STATUS.get(status, INTERNAL)
        example = {
            "type": kind.type,
            "title": kind.title,
            "status": status,
            "detail": kind.title,
            "instance": "/v1/...",
        }
        if status == 422:
            example["errors"] = [
                {"field": "universe.1", "message": "unknown or ambiguous asset 'NOPE'"}
            ]
        out[status] = {
            "model": Problem,
            "description": kind.title,
            "content": {PROBLEM_MEDIA_TYPE: {"example": example}},
        }
    return out
