"""RFC 9457 problem details: domain exceptions and the one shape every service answers with.

Services raise `DomainError` subclasses; only the HTTP layer (`install_error_handlers`) turns them
into `application/problem+json`.
"""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from common.allowed_methods import allowed_methods
from common.outages import OUTAGE_RETRY_AFTER_SECONDS

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "tag:async-fastapi-multidb,2026:problem:"

logger = logging.getLogger("common.errors")


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem; `code` is the stable machine-readable string."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    errors: list[ValidationIssue] | None = None


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        errors: list[ValidationIssue] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.instance_code = code or self.code
        self.headers = dict(headers or {})
        self.errors = errors
        # RFC 9457 extension members a subclass adds to its problem (`{"permission": ...}`).
        self.extensions: Mapping[str, str] = {}
        super().__init__(self.detail)


class InvalidInputError(DomainError):
    status = 422
    code = "validation_failed"
    title = "Invalid input"

    def __init__(
        self, field: str, message: str, *, code: str | None = None, location: str = "body"
    ) -> None:
        """`field` is dotted (`permissions.0`); `location` is where it was sent, as in
        FastAPI's own validation errors (`body`, `query`, `path`). The issue's `type` is the
        problem's code (given here or by a subclass), or pydantic's generic `value_error`."""
        chosen = code or self.code
        super().__init__(
            f"{field}: {message}",
            code=code,
            errors=[
                ValidationIssue(
                    loc=[location, *field.split(".")],
                    msg=message,
                    type="value_error" if chosen == InvalidInputError.code else chosen,
                )
            ],
        )


class UnauthorizedError(DomainError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class ForbiddenError(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFoundError(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class ConflictError(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class TooManyRequestsError(DomainError):
    status = 429
    code = "too_many_requests"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(detail, headers={"Retry-After": str(self.retry_after)})


class ServiceUnavailableError(DomainError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"


class DependencyUnavailableError(ServiceUnavailableError):
    """A dependency (`sql`, `redis`, `mongo`, `s3`) cannot be reached right now."""

    code = "dependency_unavailable"
    title = "Dependency unavailable"

    def __init__(self, dependency: str) -> None:
        self.dependency = dependency
        super().__init__(f"{dependency} is unavailable; retry later")


def problem_response(
    request: Request | None,
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: list[ValidationIssue] | None = None,
    instance: str | None = None,
    extensions: Mapping[str, str] | None = None,
) -> JSONResponse:
    if instance is None:
        instance = request_instance(request) if request is not None else ""
    headers = dict(headers or {})
    if status == 503 and not any(k.lower() == "retry-after" for k in headers):
        # Every 503 is temporary by definition; a client told when to come back does not poll.
        headers["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
    problem = Problem(
        type=PROBLEM_TYPE_PREFIX + code,
        title=title or _status_title(status),
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        errors=errors,
    )
    body: dict[str, Any] = {**(extensions or {}), **problem.model_dump(exclude_none=True)}
    return JSONResponse(
        body,
        status_code=status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def request_instance(request: Request) -> str:
    """The path the client asked for, with the gateway prefix the service runs under."""
    root_path = str(request.scope.get("root_path", ""))
    path = str(request.scope.get("path", ""))
    return path if path.startswith(root_path) else root_path + path


def _status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "service_unavailable",
}


def http_status_code(status: int) -> str:
    """The problem `code` of an HTTP error no domain exception names (`payload_too_large`)."""
    return _HTTP_CODES.get(status, f"http_{status}")


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, DomainError):  # registered for this type only
        raise exc
    return problem_response(
        request,
        status=exc.status,
        code=exc.instance_code,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        errors=exc.errors,
        extensions=exc.extensions,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for this type only
        raise exc
    # Only location, message and type: the offending input may be a password or a token.
    issues = [
        ValidationIssue(
            loc=[p for p in err.get("loc", ()) if isinstance(p, str | int)],
            msg=str(err.get("msg", "invalid")),
            type=str(err.get("type", "value_error")),
        )
        for err in exc.errors()
    ]
    fields = ", ".join(".".join(str(p) for p in i.loc) for i in issues[:5])
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        title="Invalid input",
        detail=f"Invalid input at {fields}" if fields else "Invalid input",
        errors=issues,
    )


# Why FastAPI's JSON decoding gave up, by the exception it chained to its 400.
_UNREADABLE_JSON: dict[type[BaseException], str] = {
    UnicodeDecodeError: "JSON must be UTF-8 encoded",
    RecursionError: "JSON nested too deeply",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered for this type only
        raise exc
    cause = exc.__cause__
    unreadable = _UNREADABLE_JSON.get(type(cause)) if cause and exc.status_code == 400 else None
    if unreadable is not None:
        # FastAPI answers a body that is not JSON with 422 but one it cannot decode with a bare
        # 400 that no route documents; both are a malformed body and get the same answer.
        return problem_response(
            request,
            status=422,
            code="validation_failed",
            title="Invalid input",
            detail=f"Invalid input at body: {unreadable}",
            errors=[ValidationIssue(loc=["body"], msg="JSON decode error", type="json_invalid")],
        )
    code = http_status_code(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else _status_title(exc.status_code)
    headers = exc.headers
    if exc.status_code == 405:
        headers = _with_every_allowed_method(request, headers)
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        detail=detail,
        headers=headers,
    )


def _with_every_allowed_method(
    request: Request, headers: Mapping[str, str] | None
) -> Mapping[str, str] | None:
    router = request.scope.get("router")
    if router is None:  # raised before routing, so there is no path to ask the routes about
        return headers
    allowed = allowed_methods(router.routes, request.scope)
    # Routed with its own method, the request reached an endpoint that raised this 405 itself;
    # the Allow it chose stands.
    if not allowed or request.method in allowed:
        return headers
    others = {k: v for k, v in (headers or {}).items() if k.lower() != "allow"}
    return {**others, "Allow": ", ".join(allowed)}


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to problem+json.

    Unexpected exceptions are handled by the request-context middleware, which knows the
    request id to log them under.
    """
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


def error_responses(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the domain errors a route raises on purpose."""
    return {e.status: {"model": Problem, "description": f"{e.title} (`{e.code}`)"} for e in errors}
