"""What travels on an event socket: close codes, message shapes and the bounds of the protocol."""

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class CloseCode(IntEnum):
    """The close codes an event socket ends with (RFC 6455 §7.4; 4000-4999 are ours).

    The reason string is one of the `code` strings of the HTTP problems (`session_revoked`, ...).
    """

    NORMAL = 1000  # the client closed
    GOING_AWAY = 1001  # the service is shutting down: reconnect with `last_event_id`
    MESSAGE_TOO_BIG = 1009  # a frame over `MAX_CLIENT_MESSAGE_BYTES`
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # sent by uvicorn itself when the process shuts down
    TRY_AGAIN_LATER = 1013  # a dependency (Redis, rbac) cannot be reached: reconnect later
    BAD_MESSAGE = 4400  # malformed message, unknown filter or message type
    SESSION_ENDED = 4401  # logout, deleted session, disabled user, token expired
    FORBIDDEN = 4403  # permission revoked, or `scope=all` asked by a non-admin
    SLOW_CONSUMER = 4429  # more than `QUEUE_LIMIT` events waiting for this socket


# A client message is a small JSON object; anything larger is closed with 1009.
MAX_CLIENT_MESSAGE_BYTES = 4096
# Events waiting to be sent to one socket; one more and the socket is closed with 4429.
QUEUE_LIMIT = 1000
# Each stream keeps about this many events (XADD MAXLEN ~): the resume window.
STREAM_MAXLEN = 10_000
HEARTBEAT_SECONDS = 15.0
# Query parameters that are not filters.
RESERVED_PARAMETERS = frozenset({"ticket", "last_event_id"})


@dataclass(frozen=True, slots=True)
class Close:
    code: CloseCode
    reason: str


def frame(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


def event_frame(event_id: str, kind: str, data: dict[str, Any]) -> str:
    return frame({"type": "event", "id": event_id, "event": kind, "data": data})
