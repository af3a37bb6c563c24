"""Pure ASGI middleware: request id in and out, one access log line, and the 500 safety net."""

import logging
import re
import time
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import DependencyUnavailableError, problem_response
from common.logs import request_id_var
from common.outages import outage_of

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_logger = logging.getLogger("common.access")
# Probes ask these every few seconds (the mesh, compose healthchecks, Kubernetes): their successes
# are logged at DEBUG so the access log shows what clients did; a failing probe still shows.
PROBE_PATHS = frozenset({"/health", "/ready"})
error_logger = logging.getLogger("common.unhandled")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            dependency = outage_of(exc)
            where = {"method": scope["method"], "path": scope["path"]}
            if dependency is None:
                error_logger.exception("unhandled error", extra=where)
            else:
                # An outage is an expected state, not a bug: one line, no traceback.
                error_logger.warning(
                    "dependency unavailable: %s (%s)",
                    dependency,
                    type(exc).__name__,
                    extra=where,
                )
            if response_started:
                raise
            if dependency is None:
                response = problem_response(
                    Request(scope),
                    status=500,
                    code="internal_error",
                    title="Internal Server Error",
                    detail=f"An unexpected error occurred. Quote request id {request_id}.",
                )
            else:
                outage = DependencyUnavailableError(dependency)
                response = problem_response(
                    Request(scope),
                    status=outage.status,
                    code=outage.code,
                    title=outage.title,
                    detail=outage.detail,
                )
            await response(scope, receive, send_with_id)
        finally:
            access_logger.log(
                logging.DEBUG if status < 400 and _is_probe(scope) else logging.INFO,
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


def _is_probe(scope: Scope) -> bool:
    path = str(scope["path"])
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :]
    return scope["method"] in ("GET", "HEAD") and path in PROBE_PATHS


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.match(candidate) else None
    return None
