"""`/authorize` as bare ASGI: the gateway calls it on every request, so it skips FastAPI's
per-request layers, routing and per-request logging (denials are logged at debug)."""

import json
import logging

from starlette.types import Receive, Scope, Send

from common.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX
from common.outages import OUTAGE_RETRY_AFTER_SECONDS
from rbac.decision.authorizer import Authorizer, Decision
from rbac.forwarded_path import requested_path

AUTHORIZE_PATH = "/authorize"

logger = logging.getLogger("rbac.authorize")

_OK_HEADERS = [(b"content-length", b"0")]


class AuthorizeEndpoint:
    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = uri = None
        # Every value: a client that sends two is refused, not judged on one of them.
        authorization: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-method":
                method = value.decode("latin-1")
            elif name == b"x-forwarded-uri":
                uri = value.decode("latin-1")
            elif name == b"authorization":
                authorization.append(value.decode("latin-1"))
        try:
            decision = await self.authorizer.decide(method, uri, authorization)
        except Exception:
            # Whatever went wrong, the answer is no.
            logger.exception("authorize failed")
            decision = Decision(503, "decision_unavailable", "the decision could not be made")
        await _respond(decision, send, requested_path(uri))


async def _respond(decision: Decision, send: Send, instance: str) -> None:
    headers = list(decision.raw_headers)
    if decision.allowed:
        await send({"type": "http.response.start", "status": 200, "headers": headers + _OK_HEADERS})
        await send({"type": "http.response.body", "body": b""})
        return
    logger.debug("denied", extra={"status": decision.status, "code": decision.code})
    body = json.dumps(
        {
            "type": PROBLEM_TYPE_PREFIX + decision.code,
            "title": _TITLES.get(decision.status, "Error"),
            "status": decision.status,
            "detail": decision.detail,
            "instance": instance,
            "code": decision.code,
        }
    ).encode()
    if decision.status == 503:
        # Denied for an outage, not for the caller: tell the client when to try again.
        headers.append((b"retry-after", str(OUTAGE_RETRY_AFTER_SECONDS).encode()))
    headers += [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": decision.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_TITLES = {
    401: "Unauthorized",
    403: "Forbidden",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}
