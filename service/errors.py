"""The one place where errors become HTTP responses: ``{code, message, request_id}`` everywhere.

``kg.errors.KgrError`` subclasses map to statuses here; HTTP-only conditions (body too large, rate
limited, timed out) are small subclasses of the matching domain error so they flow the same way.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kg.errors import (
    AuthError,
    CapacityError,
    ConstraintError,
    DataFormatError,
    ForbiddenError,
    InputError,
    KgrError,
    ModelError,
    NotFoundError,
    StoreUnavailableError,
)

log = logging.getLogger("kgr.service")


class PayloadTooLargeError(InputError):
    code = "payload_too_large"


class RateLimitedError(CapacityError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RequestTimeoutError(CapacityError):
    code = "request_timeout"


class NotReadyError(ModelError):
    """The service is up but cannot answer yet (no student loaded, index building)."""

    code = "not_ready"


class UpstreamError(ModelError):
    """A service we call (the LLM reasoner) failed or could not be reached."""

    code = "upstream_error"


# most specific first: the first isinstance match wins
_STATUS: tuple[tuple[type[KgrError], int], ...] = (
    (PayloadTooLargeError, 413),
    (RateLimitedError, 429),
    (RequestTimeoutError, 504),
    (DataFormatError, 422),
    (InputError, 422),
    (ConstraintError, 422),
    (NotFoundError, 404),
    (AuthError, 401),
    (ForbiddenError, 403),
    (CapacityError, 503),
    (StoreUnavailableError, 503),
    (NotReadyError, 503),
    (UpstreamError, 502),
)
RETRY_AFTER_S = 1


def status_of(exc: KgrError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or request.headers.get("x-request-id", ""))


def error_body(code: str, message: str, request_id: str) -> dict[str, str]:
    return {"code": code, "message": message, "request_id": request_id}


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    rid = request_id_of(request)
    return JSONResponse(error_body(code, message, rid), status_code=status, headers=headers)


def kgr_error_response(request: Request, exc: KgrError) -> JSONResponse:
    status = status_of(exc)
    headers: dict[str, str] = {}
    if status in (429, 503, 504):
        retry = getattr(exc, "retry_after_s", RETRY_AFTER_S)
        headers["Retry-After"] = str(max(1, int(retry + 0.999)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500:
        log.warning("request failed: %s: %s", exc.code, exc)
    return error_response(request, status, exc.code, str(exc), headers)


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


def install_error_handlers(app: FastAPI) -> None:
    async def on_kgr_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, KgrError)
        return kgr_error_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 422, "invalid_input", _validation_message(list(exc.errors())))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"request_id": request_id_of(request)})
        return error_response(request, 500, "internal_error", "internal error; see the server log")

    app.add_exception_handler(KgrError, on_kgr_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
