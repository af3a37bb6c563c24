"""A ceiling on request bodies, so that one request cannot fill a service's memory.

API bodies are small: files travel to S3 on presigned URLs and never through a service, and the
largest body a route takes (a multipart completion listing 10,000 parts) is under 1 MiB. Starlette
reads a body whole before parsing it, so without a ceiling a client could make a service buffer
gigabytes. A body whose `Content-Length` is over the limit is refused before any of it is read;
a chunked body is refused as soon as what arrived passes the limit.

The answer keeps the connection open on purpose: uvicorn reads and discards the rest of the body
after the response, as nginx's lingering close does. Closing at once would reset a connection
the client, or the gateway, is still writing to, and the gateway would answer 502 instead of
relaying the 413.
"""

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import http_status_code, problem_response

DEFAULT_MAX_REQUEST_BODY_BYTES = 2 * 1024 * 1024
STATUS = 413


def too_large_detail(limit: int) -> str:
    return f"The request body is larger than {limit} bytes."


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = problem_response(
                Request(scope),
                status=STATUS,
                # The code the error handlers give the HTTPException below: one answer for both.
                code=http_status_code(STATUS),
                detail=too_large_detail(self.max_bytes),
            )
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised where the route reads its body; FastAPI passes an HTTPException
                    # through, and the error handlers answer it with the same problem.
                    raise HTTPException(STATUS, detail=too_large_detail(self.max_bytes))
            return message

        await self.app(scope, receive_within_limit, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server has already refused a malformed length; a digit string remains.
            return int(value) if value.isdigit() else None
    return None
