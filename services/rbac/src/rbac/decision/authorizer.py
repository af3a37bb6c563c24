"""The decision for one forwarded request: allow (with identity headers), 401, 403 or 503.

Order: the route (unregistered → 403; public → allow, no identity), the token (401), revocation
and disabled users (401), then authenticated routes pass, admins pass, admin-only routes refuse
everyone else (403), and the rest need the route's permission in their grants (403). Everything
here is in-process on a warm cache.
"""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, quote

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from common.access import Access
from common.credentials import MULTIPLE_CREDENTIALS, Rejection, authenticate
from common.live_events.identity import INVALID_TICKET
from common.live_events.tickets import claim_ticket
from common.tokens import AccessClaims, TokenVerifier
from rbac.decision.grants_cache import GrantsCache
from rbac.decision.revocation_cache import RevocationCache
from rbac.forwarded_path import AmbiguousPathError, parse_forwarded_uri
from rbac.route_table import RouteInfo, RouteTable

logger = logging.getLogger("rbac.decision")

REMEMBER_SECONDS = 5.0
MAX_REMEMBERED = 10_000  # keys hold whole tokens: about 10 MB at most
IDENTITY_HEADERS = ("x-user-id", "x-user-name", "x-user-admin", "x-session-id")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Answered on every allow without identity, so a client cannot smuggle its own X-User-* through.
ANONYMOUS: tuple[tuple[str, str], ...] = tuple((name, "") for name in IDENTITY_HEADERS)


@dataclass(frozen=True, slots=True)
class Decision:
    status: int
    code: str
    detail: str
    headers: tuple[tuple[str, str], ...] = ()
    claims: AccessClaims | None = None
    # The headers as the ASGI server wants them, encoded once.
    raw_headers: tuple[tuple[bytes, bytes], ...] = field(init=False)

    def __post_init__(self) -> None:
        raw = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers)
        object.__setattr__(self, "raw_headers", raw)

    @property
    def allowed(self) -> bool:
        return self.status == 200


@dataclass(frozen=True, slots=True)
class _Remembered:
    decision: Decision
    state: tuple[int, int, RouteTable]
    until: float  # monotonic
    token_exp: float  # unix time


ALLOW_ANONYMOUS = Decision(200, "allowed", "allowed", ANONYMOUS)
# A single-use ticket's answer holds for that one request: no cache may reuse it (a gateway
# plugin that caches decisions must not turn one claim into an allow across requests).
NO_STORE = ("cache-control", "no-store")


def _tickets_in(uri: str | None) -> list[str]:
    """The `ticket` query parameters of the forwarded URI (a socket's browser credential)."""
    if uri is None or "?" not in uri:
        return []
    query = uri.split("?", 1)[1].split("#", 1)[0]
    return parse_qs(query, keep_blank_values=True).get("ticket", [])


def _not_stored(decision: Decision) -> Decision:
    return replace(decision, headers=(*decision.headers, NO_STORE))


def _deny(status: int, code: str, detail: str) -> Decision:
    headers = (("www-authenticate", "Bearer"),) if status == 401 else ()
    return Decision(status, code, detail, headers)


def _identity(claims: AccessClaims) -> Decision:
    return Decision(
        200,
        "allowed",
        "allowed",
        (
            ("x-user-id", header_value(claims.sub)),
            ("x-user-name", header_value(claims.name)),
            ("x-user-admin", "true" if claims.adm else "false"),
            ("x-session-id", header_value(claims.sid)),
        ),
        claims,
    )


def header_value(text: str) -> str:
    """Printable ASCII as is; anything else (a non-ASCII display name) percent-encoded UTF-8."""
    if text.isascii() and text.isprintable() and "%" not in text:
        return text
    return quote(text, safe=" !\"#$&'()*+,-./:;<=>?@[]^_`{|}~")


class Authorizer:
    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        revocations: RevocationCache,
        grants: GrantsCache,
        routes: RouteTable | None = None,
        tickets: "Redis | None" = None,
    ) -> None:
        self.verifier = verifier
        # Where socket tickets are claimed (`common.live_events.tickets`); None: no tickets.
        self.tickets = tickets
        self.revocations = revocations
        self.grants = grants
        self.routes = routes or RouteTable([])
        self._memo: dict[tuple[str | None, str | None, tuple[str, ...]], _Remembered] = {}

    def _state(self) -> tuple[int, int, RouteTable]:
        return (self.revocations.generation, self.grants.generation, self.routes)

    async def decide(
        self, method: str | None, uri: str | None, authorization: Sequence[str]
    ) -> Decision:
        """`authorization`: every `Authorization` value of the forwarded request, in order."""
        tickets = _tickets_in(uri)
        if tickets:
            # Never remembered: the claim consumes the ticket, so the next request must fail.
            return _not_stored(await self._decide(method, uri, authorization, tickets))
        key = (method, uri, tuple(authorization))
        remembered = self._memo.get(key)
        if (
            remembered is not None
            and remembered.state == self._state()
            and remembered.until > time.monotonic()
            and remembered.token_exp > time.time()
        ):
            return remembered.decision
        # Taken before deciding: a change that lands while we await makes the result unusable.
        state = self._state()
        decision = await self._decide(method, uri, authorization)
        if decision.allowed and self.revocations.live and self.grants.live:
            if len(self._memo) >= MAX_REMEMBERED:
                self._memo.clear()
            token_exp = float(decision.claims.exp) if decision.claims else float("inf")
            until = time.monotonic() + REMEMBER_SECONDS
            self._memo[key] = _Remembered(decision, state, until, token_exp)
        return decision

    async def _decide(
        self,
        method: str | None,
        uri: str | None,
        authorization: Sequence[str],
        tickets: Sequence[str] = (),
    ) -> Decision:
        if method is None or uri is None:
            return _deny(403, "bad_forwarded_request", "missing forwarded method or URI")
        method = method.upper()
        try:
            target = parse_forwarded_uri(uri)
        except AmbiguousPathError as exc:
            return _deny(403, "ambiguous_path", str(exc))
        known = method in _METHODS
        route = self.routes.match(target.service, method, target.path) if known else None
        if route is None:
            served = self.routes.methods_at(target.service, target.path)
            if method == "OPTIONS" and served:
                # A CORS preflight carries no credentials; the service's CORS layer answers it.
                return ALLOW_ANONYMOUS
            if served:
                # TRACE, CONNECT or any method the path is not served with: what the service
                # itself would answer, before any token is looked at (RFC 9110 §15.5.6).
                return Decision(
                    405,
                    "method_not_allowed",
                    f"{method} is not served here",
                    (("allow", ", ".join(served)),),
                )
            if not known:
                return _deny(403, "bad_forwarded_request", "unknown forwarded method")
            return _deny(403, "unregistered_route", "no registered route serves this request")
        if tickets and route.access is not Access.PUBLIC:
            return await self._check_ticket(
                route, f"/{target.service}{target.path}", authorization, tickets
            )
        return await self.check_route(route, authorization)

    async def _check_ticket(
        self, route: RouteInfo, path: str, authorization: Sequence[str], tickets: Sequence[str]
    ) -> Decision:
        """A socket ticket instead of a token: claimed (single use) and judged as its token."""
        if authorization or len(tickets) > 1:
            return _deny(401, MULTIPLE_CREDENTIALS.code, MULTIPLE_CREDENTIALS.detail)
        if self.tickets is None:
            return _deny(401, INVALID_TICKET.code, INVALID_TICKET.detail)
        try:
            grant = await claim_ticket(self.tickets, tickets[0])
        except (RedisError, OSError) as exc:
            logger.warning("ticket could not be claimed: %s", type(exc).__name__)
            return _deny(503, "decision_unavailable", "the ticket cannot be checked right now")
        if grant is None or grant.path != path:
            return _deny(401, INVALID_TICKET.code, INVALID_TICKET.detail)
        return await self.check_route(route, [f"Bearer {grant.token}"])

    async def check_route(self, route: RouteInfo, authorization: Sequence[str]) -> Decision:
        """The decision for a request already matched to `route`."""
        if route.access is Access.PUBLIC:
            return ALLOW_ANONYMOUS
        claims = await self._authenticate(authorization)
        if isinstance(claims, Decision):
            return claims
        if route.access is Access.AUTHENTICATED or claims.adm:
            return _identity(claims)
        if route.access is Access.ADMIN:
            # No role opens an admin-only route: the service would refuse it all the same.
            return _deny(403, "admin_required", "this route is reserved to administrators")
        try:
            grants = await self.grants.get(claims.sub)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("grants could not be loaded: %s", type(exc).__name__)
            return _deny(503, "decision_unavailable", "permissions cannot be checked right now")
        if grants.allows(route.permission):
            return _identity(claims)
        return _deny(403, "permission_denied", f"missing permission {route.permission}")

    async def _authenticate(self, authorization: Sequence[str]) -> AccessClaims | Decision:
        # The same reading and verification as every service's `CurrentUserDep`.
        result = await authenticate(authorization, self.verifier, self.revocations)
        if isinstance(result, Rejection):
            return _deny(result.status, result.code, result.detail)
        return result
