"""Single-use, short-lived socket tickets: how a browser opens an authenticated socket.

Browsers cannot set `Authorization` on a WebSocket. A client with an access token asks
`POST /{service}/events/tickets` and gets an opaque ticket, valid `TICKET_TTL_SECONDS`, for one
socket path; it then opens `wss://.../{service}/events?ticket=...`.

Two steps, both atomic in Redis, make it single-use whatever the number of replicas:
- the gateway's decision (rbac `/authorize`) *claims* the ticket: a Lua script reads it, deletes
  it and stores it under a claimed key for `CLAIM_TTL_SECONDS`; a second upgrade with the same
  ticket finds nothing and is refused at the gateway (401 `invalid_ticket`);
- the service *redeems* the claim with GETDEL when the socket opens, so the service too judges the
  ticket's access token itself and a claim serves one socket at most.

Only a SHA-256 of the ticket names the keys. The ticket carries the caller's access token, so it
grants no more than the token, for a shorter time, on one path; a ticket presented on another
path (a "foreign" ticket) is refused and burnt.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

TICKET_TTL_SECONDS = 30
CLAIM_TTL_SECONDS = 15
MAX_TICKET_LENGTH = 128

# KEYS[1] ticket key, KEYS[2] claimed key, ARGV[1] claim TTL. GET + DEL + SET in one step.
_CLAIM = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], value, 'EX', tonumber(ARGV[1]))
return value
"""


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def ticket_key(ticket: str) -> str:
    return f"events:ticket:{_digest(ticket)}"


def claimed_key(ticket: str) -> str:
    return f"events:ticket-claimed:{_digest(ticket)}"


@dataclass(frozen=True, slots=True)
class TicketGrant:
    """What a ticket stands for: the access token it was issued from, and the socket path
    (`/{service}/events`) it opens."""

    token: str
    path: str


async def issue_ticket(
    redis: "Redis", token: str, path: str, *, ttl_seconds: int = TICKET_TTL_SECONDS
) -> str:
    ticket = secrets.token_urlsafe(32)
    value = json.dumps({"token": token, "path": path})
    await redis.set(ticket_key(ticket), value, ex=ttl_seconds)
    return ticket


def _grant(value: object) -> TicketGrant | None:
    if not isinstance(value, str | bytes):
        return None
    try:
        parsed = json.loads(value)
        return TicketGrant(str(parsed["token"]), str(parsed["path"]))
    except (ValueError, KeyError, TypeError):
        return None


def _plausible(ticket: str) -> bool:
    return 0 < len(ticket) <= MAX_TICKET_LENGTH


async def claim_ticket(redis: "Redis", ticket: str) -> TicketGrant | None:
    """The gateway's step: the ticket's grant if it existed (it is gone from now on), else None.

    Raises `RedisError`/`OSError` when Redis cannot answer (the caller refuses)."""
    if not _plausible(ticket):
        return None
    value = await redis.eval(
        _CLAIM, 2, ticket_key(ticket), claimed_key(ticket), str(CLAIM_TTL_SECONDS)
    )
    return _grant(value)


async def redeem_claim(redis: "Redis", ticket: str) -> TicketGrant | None:
    """The service's step: the grant the gateway claimed for this ticket, consumed, or None."""
    if not _plausible(ticket):
        return None
    return _grant(await redis.getdel(claimed_key(ticket)))
