"""The AsyncAPI 3.0 document of a service's event socket, built from the same models it uses."""

from typing import Any

from pydantic import BaseModel

from common.live_events.protocol import (
    HEARTBEAT_SECONDS,
    MAX_CLIENT_MESSAGE_BYTES,
    QUEUE_LIMIT,
    STREAM_MAXLEN,
    CloseCode,
)
from common.live_events.tickets import TICKET_TTL_SECONDS

CLOSE_CODES = {
    CloseCode.NORMAL: "the client closed",
    CloseCode.GOING_AWAY: "the service is stopping (`service_stopping`): reconnect and resume",
    CloseCode.SERVICE_RESTART: "uvicorn is shutting the process down: reconnect and resume",
    CloseCode.MESSAGE_TOO_BIG: f"a client frame over {MAX_CLIENT_MESSAGE_BYTES} bytes",
    CloseCode.INTERNAL_ERROR: "a bug (`internal_error`)",
    CloseCode.TRY_AGAIN_LATER: "Redis or rbac cannot be reached (`dependency_unavailable`, "
    "`decision_unavailable`): reconnect later and resume",
    CloseCode.BAD_MESSAGE: "`malformed_message`, `unknown_filter: NAME`, `invalid_filter: NAME`",
    CloseCode.SESSION_ENDED: "`session_revoked` (logout, session deleted, user-wide revocation), "
    "`user_disabled`, `user_deleted`, `token_expired`, `token_revoked`: within 1 s",
    CloseCode.FORBIDDEN: "`permission_denied` (a role was taken away; within 1 s), "
    "`admin_required` (`scope=all` by a non-admin)",
    CloseCode.SLOW_CONSUMER: f"`slow_consumer`: more than {QUEUE_LIMIT} events waited to be sent",
}


def _message(name: str, summary: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "summary": summary, "contentType": "application/json", "payload": payload}


def _typed(kind: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", *properties],
        "properties": {"type": {"const": kind}, **properties},
        "additionalProperties": False,
    }


def asyncapi_document(
    service: str,
    socket_path: str,
    filters: type[BaseModel],
    events: dict[str, type[BaseModel]],
    *,
    summary: str,
) -> dict[str, Any]:
    filter_schema = filters.model_json_schema()
    event_payloads = {
        kind: {
            "type": "object",
            "required": ["type", "id", "event", "data"],
            "properties": {
                "type": {"const": "event"},
                "id": {"type": "string", "description": "Redis stream id; resume from it"},
                "event": {"const": kind},
                "data": model.model_json_schema(),
            },
        }
        for kind, model in events.items()
    }
    messages = {
        "welcome": _message(
            "welcome",
            "First message: the filter in force and the id events are delivered after",
            _typed(
                "welcome",
                {
                    "stream": {"type": "string"},
                    "filter": filter_schema,
                    "last_event_id": {"type": "string"},
                    "resume_window_events": {"const": STREAM_MAXLEN},
                    "heartbeat_seconds": {"const": HEARTBEAT_SECONDS},
                    "queue_limit": {"const": QUEUE_LIMIT},
                },
            ),
        ),
        **{
            kind.replace(".", "_"): _message(kind, f"`{kind}` event", payload)
            for kind, payload in event_payloads.items()
        },
        "heartbeat": _message(
            "heartbeat",
            f"Sent after {HEARTBEAT_SECONDS:.0f} s without any other message",
            _typed("heartbeat", {"at": {"type": "number"}}),
        ),
        "gap": _message(
            "gap",
            "The resume point is older than the window: some events were lost; re-read over HTTP",
            _typed("gap", {"detail": {"type": "string"}}),
        ),
        "subscribed": _message(
            "subscribed",
            "The new filter is in force",
            _typed("subscribed", {"filter": filter_schema}),
        ),
        "pong": _message("pong", "Answer to ping", _typed("pong", {})),
        "subscribe": _message(
            "subscribe",
            "Replace the filter (string values only)",
            _typed("subscribe", {"filter": filter_schema}),
        ),
        "ping": _message("ping", "Ask for a pong", _typed("ping", {})),
    }
    server_messages = [m for m in messages if m not in ("subscribe", "ping")]
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{service} live events",
            "version": "1.0.0",
            "description": (
                f"{summary}. Open `{socket_path}` through the gateway with one credential: "
                "`Authorization: Bearer <access token>` (non-browser clients) or "
                f"`?ticket=` from `POST {socket_path}/tickets` (single use, valid "
                f"{TICKET_TTL_SECONDS} s, for this path only). The gateway's decision judges the "
                f"upgrade GET with the permission `{service}:GET:/events`; a missing, expired, "
                "reused or foreign ticket is refused there with `401 invalid_ticket`. "
                "Filters are query parameters (and `subscribe` messages); an unknown one closes "
                f"with 4400. Resume: reconnect with `last_event_id`; the stream keeps about the "
                f"last {STREAM_MAXLEN} events of the service (all users), and a resume point "
                "older than that gets a `gap` message first. A socket ends with its session."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "gateway": {
                "host": "127.0.0.1:8000",
                "protocol": "ws",
                "description": "the gateway (wss behind TLS)",
            }
        },
        "channels": {
            "events": {
                "address": socket_path,
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "ticket": {"type": "string"},
                                "last_event_id": {"type": "string"},
                                **filter_schema.get("properties", {}),
                            },
                            "additionalProperties": False,
                        },
                        "headers": {
                            "type": "object",
                            "properties": {"Authorization": {"type": "string"}},
                        },
                    }
                },
            }
        },
        "operations": {
            "receiveEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/events"},
                "messages": [{"$ref": f"#/channels/events/messages/{m}"} for m in server_messages],
            },
            "sendControl": {
                "action": "send",
                "channel": {"$ref": "#/channels/events"},
                "messages": [
                    {"$ref": "#/channels/events/messages/subscribe"},
                    {"$ref": "#/channels/events/messages/ping"},
                ],
            },
        },
        "components": {"messages": messages},
        "x-close-codes": {str(int(code)): text for code, text in CLOSE_CODES.items()},
    }
