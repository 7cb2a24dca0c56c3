"""Errors, defined once. Domain code raises these; the app maps them to HTTP in one place.

Bodies are stable JSON: ``{"error": code, "message": text, "field": name?, "details": [...]}``.
Database errors are translated by SQLSTATE at one boundary (:func:`translate_db_error`).
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

from tracker.responses import JSONResponse


class TrackerError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.details is not None:
            out["details"] = self.details
        return out


class BadRequest(TrackerError):
    status_code = 400
    code = "bad_request"


class Unauthorized(TrackerError):
    status_code = 401
    code = "unauthorized"


class Forbidden(TrackerError):
    status_code = 403
    code = "forbidden"


class NotFound(TrackerError):
    status_code = 404
    code = "not_found"


class Conflict(TrackerError):
    status_code = 409
    code = "conflict"


class TooManyRequests(TrackerError):
    """429; ``retry_after_s`` becomes the ``Retry-After`` header."""

    status_code = 429
    code = "too_many_requests"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: Any = None,
        retry_after_s: int = 1,
    ) -> None:
        super().__init__(message, field=field, details=details)
        self.retry_after_s = retry_after_s


class PayloadTooLarge(TrackerError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(TrackerError):
    status_code = 415
    code = "unsupported_media_type"


class Unavailable(TrackerError):
    """503: nothing was done, try again; the answer says when (``Retry-After``, seconds)."""

    status_code = 503
    code = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: Any = None,
        retry_after_s: int = 2,
    ) -> None:
        super().__init__(message, field=field, details=details)
        self.retry_after_s = retry_after_s


def error_headers(exc: TrackerError) -> dict[str, str] | None:
    """The headers an error's answer carries: the auth scheme on a 401, when to retry a 503."""
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, Unavailable):
        return {"Retry-After": str(max(1, exc.retry_after_s))}
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(max(1, exc.retry_after_s))}
    return None


_SQLSTATE_MAP: dict[str, type[TrackerError]] = {
    "23505": Conflict,  # unique_violation
    "23503": BadRequest,  # foreign_key_violation: a dangling reference
    "23514": BadRequest,  # check_violation
    "23502": BadRequest,  # not_null_violation
    "22P02": BadRequest,  # invalid_text_representation
}


def translate_db_error(exc: psycopg.Error) -> TrackerError:
    """Map a database error to a TrackerError by its SQLSTATE; unknown ones become 503."""
    diag = exc.diag
    cls = _SQLSTATE_MAP.get(exc.sqlstate or "")
    if cls is None and isinstance(exc, psycopg.DataError):
        cls = BadRequest  # class 22 (a number out of range...) or a NUL byte caught client-side
    if isinstance(exc, PoolTimeout):
        return Unavailable("no database connection free in time; retry")
    if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled):
        return Unavailable("the database is busy (a lock or statement timeout); retry")
    if cls is None:
        return Unavailable("database error")
    field = diag.column_name or _constraint_field(diag.constraint_name, diag.table_name)
    return cls(diag.message_detail or diag.message_primary or str(exc), field=field)


def _constraint_field(constraint: str | None, table: str | None) -> str | None:
    """``vehicles_company_id_fkey`` on ``vehicles`` names the field ``company_id``."""
    if constraint is None:
        return None
    name = constraint
    if table and name.startswith(table + "_"):
        name = name[len(table) + 1 :]
    for suffix in ("_fkey", "_key", "_check"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _out_of_range_param(request: Request) -> str | None:
    """The path or query parameter holding an integer no ``bigint`` can hold, if one does."""
    for params in (request.path_params, request.query_params):
        for name, value in params.items():
            try:
                number = int(value)
            except (TypeError, ValueError):
                continue
            if not -(2**63) <= number < 2**63:
                return str(name)
    return None


def register_error_handlers(app: FastAPI) -> None:
    async def tracker_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TrackerError)
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=error_headers(exc))

    async def db_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, psycopg.Error)
        err = translate_db_error(exc)
        if err.field is None and exc.sqlstate == "22003":  # a number out of the column's range
            err.field = _out_of_range_param(request)
        return JSONResponse(err.body(), status_code=err.status_code, headers=error_headers(err))

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {
                "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        first = details[0]["field"] if details else None
        body = {"error": "bad_request", "message": "invalid request", "field": first}
        return JSONResponse({**body, "details": details}, status_code=422)

    async def http_error(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400:  # FastAPI could not parse a body (e.g. JSON nested too deep)
            body = {"error": "bad_request", "message": str(exc.detail), "field": "body"}
            return JSONResponse(body, status_code=400)
        return await http_exception_handler(request, exc)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(TrackerError, tracker_error)
    app.add_exception_handler(psycopg.Error, db_error)
    app.add_exception_handler(RequestValidationError, validation_error)
