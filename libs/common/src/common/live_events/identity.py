"""`SocketCallerDep`: the caller of a WebSocket route, judged as `CurrentUserDep` judges HTTP ones.

The credential is either the `Authorization` header (non-browser clients) or a `ticket` query
parameter the gateway's decision has claimed (`tickets`); never both. The token is then verified
and checked for revocation by the same `common.credentials.authenticate` as every HTTP route, with
the app's verifier and Redis (`install_token_verification`), so a socket and a request of the same
caller can never be judged differently. A refusal closes the handshake before it is accepted
(the client sees HTTP 403 from the service; through the gateway the decision refuses first).
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, WebSocket, WebSocketException
from redis.exceptions import RedisError

from common.credentials import MULTIPLE_CREDENTIALS, Rejection, authenticate
from common.live_events.protocol import CloseCode
from common.live_events.tickets import redeem_claim
from common.tokens import AccessClaims

INVALID_TICKET = Rejection(
    401, "invalid_ticket", "the ticket is unknown, expired, already used or for another socket"
)


@dataclass(frozen=True, slots=True)
class SocketCaller:
    """The verified caller and the access token they opened the socket with (kept to judge the
    socket again when roles change)."""

    claims: AccessClaims
    token: str


def refuse(rejection: Rejection) -> WebSocketException:
    code = CloseCode.TRY_AGAIN_LATER if rejection.status == 503 else CloseCode.SESSION_ENDED
    return WebSocketException(code=code, reason=rejection.code)


async def _credential(websocket: WebSocket) -> list[str] | Rejection:
    authorization = websocket.headers.getlist("authorization")
    tickets = websocket.query_params.getlist("ticket")
    if not tickets:
        return authorization
    if authorization or len(tickets) > 1:
        return MULTIPLE_CREDENTIALS
    try:
        grant = await redeem_claim(websocket.app.state.redis, tickets[0])
    except (RedisError, OSError):
        return Rejection(503, "revocation_unavailable", "the ticket cannot be checked right now")
    if grant is None or grant.path != websocket.url.path:
        return INVALID_TICKET
    return [f"Bearer {grant.token}"]


async def socket_caller(websocket: WebSocket) -> SocketCaller:
    authorization = await _credential(websocket)
    if isinstance(authorization, Rejection):
        raise refuse(authorization)
    state = websocket.app.state
    result = await authenticate(authorization, state.token_verifier, state.revocations)
    if isinstance(result, Rejection):
        raise refuse(result)
    token = authorization[0].split()[1]
    return SocketCaller(result, token)


SocketCallerDep = Annotated[SocketCaller, Depends(socket_caller)]
