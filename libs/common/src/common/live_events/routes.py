"""`events_router`: a service's event routes in one call.

    router = events_router("scheduler", RunFilter, {"run.state": RunEvent}, summary="...")

gives `POST /events/tickets` (any signed-in caller), `GET /events` (the WebSocket handshake; its
permission code, `{service}:GET:/events`, is judged by the gateway on the upgrade like any GET;
a plain HTTP GET answers `426`), `GET /events/asyncapi.json` and `GET /events/console` (public).
The app's lifespan keeps the `EventHub` on `app.state.event_hub` (`running_hub`).
"""

from http import HTTPStatus
from importlib.resources import files

from fastapi import APIRouter, Request, WebSocket, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from common.access import Access, access
from common.errors import DomainError, error_responses
from common.live_events.asyncapi import asyncapi_document
from common.live_events.identity import SocketCallerDep
from common.live_events.socket_session import EventFilter, serve_events
from common.live_events.tickets import TICKET_TTL_SECONDS, issue_ticket
from common.security import CurrentUserDep

SOCKET_PATH = "/events"


class UpgradeRequiredError(DomainError):
    status = 426
    code = "upgrade_required"
    title = "Upgrade required"

    def __init__(self) -> None:
        super().__init__(
            "this is a WebSocket endpoint: open it with an Upgrade: websocket request",
            headers={"Upgrade": "websocket", "Connection": "Upgrade"},
        )


class SocketTicket(BaseModel):
    ticket: str
    expires_in: int
    socket_path: str


def events_router(
    service: str,
    filters: type[EventFilter],
    events: dict[str, type[BaseModel]],
    *,
    summary: str,
) -> APIRouter:
    router = APIRouter(tags=["live events"])
    socket_path = f"/{service}{SOCKET_PATH}"
    document = asyncapi_document(service, socket_path, filters, events, summary=summary)

    @router.post(
        SOCKET_PATH + "/tickets",
        status_code=status.HTTP_201_CREATED,
        summary="A single-use ticket (30 s) that opens one event socket without a token in the URL",
        openapi_extra=access(Access.AUTHENTICATED),
    )
    async def issue_socket_ticket(request: Request, _user: CurrentUserDep) -> SocketTicket:
        token = request.headers["authorization"].split()[1]
        ticket = await issue_ticket(request.app.state.redis, token, socket_path)
        return SocketTicket(ticket=ticket, expires_in=TICKET_TTL_SECONDS, socket_path=socket_path)

    @router.get(
        SOCKET_PATH,
        summary=f"{summary} (WebSocket: see the AsyncAPI document at {socket_path}/asyncapi.json)",
        status_code=HTTPStatus.SWITCHING_PROTOCOLS,
        response_model=None,
        responses={
            101: {"description": "Switched to the WebSocket protocol"},
            **error_responses(UpgradeRequiredError),
        },
        openapi_extra={"x-websocket": True, "x-asyncapi": f"{socket_path}/asyncapi.json"},
    )
    async def events_handshake(_user: CurrentUserDep) -> None:
        raise UpgradeRequiredError

    @router.websocket(SOCKET_PATH)
    async def events_socket(websocket: WebSocket, caller: SocketCallerDep) -> None:
        await serve_events(websocket, caller, websocket.app.state.event_hub, filters)

    @router.get(
        SOCKET_PATH + "/asyncapi.json",
        summary="AsyncAPI 3.0 document of the event socket: handshake, messages, close codes",
        openapi_extra=access(Access.PUBLIC),
    )
    async def events_asyncapi() -> dict[str, object]:
        return document

    @router.get(
        SOCKET_PATH + "/console",
        summary="A tiny page that shows this service's live events in a browser",
        openapi_extra=access(Access.PUBLIC),
        response_class=HTMLResponse,
    )
    async def events_console() -> HTMLResponse:
        page = (files("common.live_events") / "console.html").read_text()
        return HTMLResponse(
            page.replace("{{SERVICE}}", service),
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    return router
