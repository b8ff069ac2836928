"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error answer of the gateway is a ``Problem``: ``type`` is
``urn:tentenone:problem:<code>``, ``code`` the stable code of the
``tentenone.errors`` class (the remote one's for errors that came back over
RPC), ``status`` the HTTP status that family maps to, ``detail`` what was
wrong. Nothing else (no traceback, no echo of a large input) goes out.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tentenone.errors import RemoteError, TentenoneError
from tentenone.logging import get_correlation_id
from tentenone_gateway.errors import RateLimited, Unauthenticated

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
    "status_of",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:tentenone:problem:"
_MAX_DETAIL = 1000
_log = logging.getLogger(__name__)


class Problem(BaseModel):
    """RFC 9457 problem details, with the stable error ``code``."""

    type: str = Field(examples=["urn:tentenone:problem:token_invalid"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str
    instance: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = None


def status_of(exc: TentenoneError) -> int:
    """The HTTP status of an error: its family's, or for a remote error, the remote side's."""
    if isinstance(exc, RemoteError):
        status = exc.remote_status
        if status is None or exc.remote_code == TentenoneError.code:
            return 502  # a bug or a non-tentenone peer behind us
        return status
    return exc.http_status


def _json_safe(value: Any) -> dict[str, Any]:
    try:
        safe = json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return {}
    return safe if isinstance(safe, dict) else {}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = Problem(
        type=f"{_TYPE_PREFIX}{code}",
        title=title,
        status=status,
        detail=detail[:_MAX_DETAIL],
        code=code,
        instance=instance,
        details=_json_safe(details or {}),
        correlation_id=get_correlation_id(),
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _tentenone_problem(request: Request, exc: TentenoneError) -> JSONResponse:
    status = status_of(exc)
    code = exc.remote_code if isinstance(exc, RemoteError) else exc.code
    details = {k: v for k, v in exc.details.items() if not k.startswith(("remote_", "exc_"))}
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="tentenone"'
    detail = exc.message
    if status >= 500 and code == TentenoneError.code:
        detail = "the service behind this route failed; the failure is logged"
    if status >= 500:
        _log.warning("%s %s -> %d %s: %s", request.method, request.url.path, status, code, exc)
    return problem_response(
        status, code, detail, instance=request.url.path, details=details, headers=headers
    )


def _validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors()[:20]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        errors.append({"field": loc, "problem": str(err.get("msg", ""))[:200]})
    summary = "; ".join(f"{e['field']}: {e['problem']}" for e in errors[:5]) or "malformed request"
    return problem_response(
        422, "invalid_input", summary, instance=request.url.path, details={"errors": errors}
    )


def _http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {
        400: "invalid_input",
        401: "unauthenticated",
        403: "permission_denied",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        415: "unsupported_media_type",
    }.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404:
        detail = f"no route {request.url.path[:200]}"
    headers = dict(exc.headers or {})
    return problem_response(
        exc.status_code, code, detail, instance=request.url.path, headers=headers
    )


def _redis_problem(request: Request, exc: Exception) -> JSONResponse:
    _log.warning("Redis failed on %s %s: %r", request.method, request.url.path, exc)
    return problem_response(
        503,
        "unavailable",
        "sessions and rate limits are unreachable right now; try again shortly",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


def _unexpected_problem(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal", "an unexpected error; it is logged")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error with a problem (replacing the platform's plain JSON handler)."""

    async def tentenone(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TentenoneError)
        return _tentenone_problem(request, exc)

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation_problem(request, exc)

    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _http_problem(request, exc)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _unexpected_problem(request, exc)

    async def redis(request: Request, exc: Exception) -> JSONResponse:
        return _redis_problem(request, exc)

    app.add_exception_handler(TentenoneError, tentenone)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(RedisError, redis)
    app.add_exception_handler(Exception, unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries: these statuses answer with a ``Problem``.

    The ``Problem`` schema itself is added to the document's components by
    ``tentenone_gateway.openapi``.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
