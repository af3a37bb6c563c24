"""Event sockets (`common.live_events`) on a tiny app behind a real uvicorn, over a real Valkey."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.app import create_app
from common.live_events.event_stream import (
    decode_entry,
    publish_event,
    publish_events,
    stream_key,
)
from common.live_events.hub import Subscriber
from common.live_events.identity import SocketCaller
from common.live_events.lifecycle import running_hub
from common.live_events.protocol import QUEUE_LIMIT, CloseCode
from common.live_events.routes import events_router
from common.live_events.socket_session import EventFilter
from common.live_events.tickets import claim_ticket, issue_ticket
from common.redis_client import create_redis
from common.revocation import revoke_session, revoke_user_tokens, session_key
from common.security import install_token_verification
from common.settings import ServiceSettings
from common.tokens import AccessClaims
from common.user_events import UserEventKind, publish_user_event
from testkit.asgi_server import serving
from testkit.tokens import TokenSigner

STREAM = stream_key("demo", "things")
WAIT = 5.0


class ThingFilter(EventFilter):
    colour: str | None = None


class ThingEvent(BaseModel):
    colour: str


def demo_app(redis_url: str, signer: TokenSigner, rbac_url: str | None = None) -> FastAPI:
    settings = ServiceSettings.model_validate(
        {"environment": "test", "log_json": False, "redis_url": redis_url, "rbac_url": rbac_url}
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = create_redis(redis_url)
        app.state.redis = redis
        install_token_verification(app, settings, redis=redis, keys=signer.keys())
        async with running_hub(app, settings, redis, STREAM):
            yield
        await redis.aclose()

    router = events_router("demo", ThingFilter, {"thing": ThingEvent}, summary="Demo things")
    return create_app(
        "demo",
        settings,
        routers=[router],
        lifespan=lifespan,
        configure_logs=False,
    )


@pytest.fixture(scope="module")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis(redis_url)
    await client.delete(STREAM)
    yield client
    await client.aclose()


@pytest.fixture
async def base(redis_url: str, redis: Redis, signer: TokenSigner) -> AsyncIterator[str]:
    async with serving(demo_app(redis_url, signer)) as url:
        yield url.replace("http://", "ws://") + "/demo/events"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert isinstance(message, dict)
    return message


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = await receive(ws)
        if message["type"] == "event":
            return message


async def _drain(ws: ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), WAIT)


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """The close code and reason the server ended the socket with (messages before are skipped)."""
    with pytest.raises(ConnectionClosed) as closed:
        await _drain(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_batch_of_events_is_appended_in_order_one_entry_each(redis: Redis) -> None:
    """As many `publish_event` calls would append them, in one command (beat's queued runs)."""
    datas = [json.dumps({"n": n, "text": "two\nlines"}) for n in range(3)]
    datas.append(json.dumps({"n": 3, "nested": {"a": [1, 2]}}, indent=2))  # raw newlines
    assert await publish_events(redis, STREAM, "thing", datas, owner="someone")
    events = [decode_entry(str(i), fields) for i, fields in await redis.xrange(STREAM) or []]
    assert [e.data if e else None for e in events] == [json.loads(d) for d in datas]
    assert {(e.kind, e.owner) for e in events if e} == {("thing", "someone")}


async def test_own_events_arrive_and_others_never_do(
    base: str, redis: Redis, signer: TokenSigner
) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    async with connect(base, additional_headers=bearer(signer.token(sub=alice))) as ws:
        assert (await receive(ws))["type"] == "welcome"
        await publish_event(redis, STREAM, "thing", {"colour": "bob's"}, owner=bob)
        await publish_event(redis, STREAM, "thing", {"colour": "alice's"}, owner=alice)
        event = await next_event(ws)
        assert event["data"] == {"colour": "alice's"}
        assert event["event"] == "thing"


async def test_an_admin_sees_everyones_with_scope_all_and_a_user_may_not_ask(
    base: str, redis: Redis, signer: TokenSigner
) -> None:
    admin = signer.token(adm=True)
    async with connect(f"{base}?scope=all", additional_headers=bearer(admin)) as ws:
        await receive(ws)
        await publish_event(redis, STREAM, "thing", {"colour": "red"}, owner=str(uuid.uuid4()))
        assert (await next_event(ws))["data"]["colour"] == "red"
    user = signer.token(sub=str(uuid.uuid4()))
    async with connect(f"{base}?scope=all", additional_headers=bearer(user)) as ws:
        assert await closed_with(ws) == (CloseCode.FORBIDDEN, "admin_required")


async def test_filters_select_events(base: str, redis: Redis, signer: TokenSigner) -> None:
    user = str(uuid.uuid4())
    async with connect(
        f"{base}?colour=blue", additional_headers=bearer(signer.token(sub=user))
    ) as ws:
        await receive(ws)
        await publish_event(redis, STREAM, "thing", {"colour": "red"}, owner=user)
        await publish_event(redis, STREAM, "thing", {"colour": "blue"}, owner=user)
        assert (await next_event(ws))["data"]["colour"] == "blue"
        await ws.send(json.dumps({"type": "subscribe", "filter": {"colour": "red"}}))
        assert (await receive(ws))["type"] == "subscribed"
        await publish_event(redis, STREAM, "thing", {"colour": "blue"}, owner=user)
        await publish_event(redis, STREAM, "thing", {"colour": "red"}, owner=user)
        assert (await next_event(ws))["data"]["colour"] == "red"


@pytest.mark.parametrize(
    ("query", "sent", "close"),
    [
        ("?shape=round", None, (CloseCode.BAD_MESSAGE, "unknown_filter: shape")),
        ("?colour=a&colour=b", None, (CloseCode.BAD_MESSAGE, "invalid_filter: repeated")),
        ("?scope=some", None, (CloseCode.BAD_MESSAGE, "invalid_filter: scope")),
        (
            "?last_event_id=yesterday",
            None,
            (CloseCode.BAD_MESSAGE, "invalid_filter: last_event_id"),
        ),
        ("", "not json", (CloseCode.BAD_MESSAGE, "malformed_message")),
        ("", '{"type": "dance"}', (CloseCode.BAD_MESSAGE, "malformed_message")),
        ("", '{"type": "subscribe", "filter": {"shape": "x"}}', (4400, "unknown_filter: shape")),
        ("", '{"type": "subscribe", "filter": {"colour": 1}}', (4400, "malformed_message")),
        ("", "x" * 5000, (CloseCode.MESSAGE_TOO_BIG, "message_too_big")),
    ],
)
async def test_bad_input_closes_with_a_documented_code(
    base: str, signer: TokenSigner, query: str, sent: str | None, close: tuple[int, str]
) -> None:
    async with connect(base + query, additional_headers=bearer(signer.token())) as ws:
        if sent is not None:
            await receive(ws)
            await ws.send(sent)
        assert await closed_with(ws) == close


async def test_ping_is_answered(base: str, signer: TokenSigner) -> None:
    async with connect(base, additional_headers=bearer(signer.token())) as ws:
        await receive(ws)
        await ws.send('{"type": "ping"}')
        assert (await receive(ws))["type"] == "pong"


async def test_logout_closes_the_sessions_sockets_within_a_second(
    base: str, redis: Redis, signer: TokenSigner
) -> None:
    user = str(uuid.uuid4())
    ending, staying = signer.token(sub=user, sid="s-ending"), signer.token(sub=user, sid="s-other")
    async with (
        connect(base, additional_headers=bearer(ending)) as ws,
        connect(base, additional_headers=bearer(staying)) as other,
    ):
        await receive(ws)
        await receive(other)
        started = time.monotonic()
        await revoke_session(redis, "s-ending", 60)
        assert await closed_with(ws) == (CloseCode.SESSION_ENDED, "session_revoked")
        assert time.monotonic() - started < 1.0
        await other.send('{"type": "ping"}')
        assert (await receive(other))["type"] == "pong"


async def test_a_user_wide_revocation_closes_the_sockets_of_tokens_issued_before_it(
    base: str, redis: Redis, signer: TokenSigner
) -> None:
    user = str(uuid.uuid4())
    now = int(time.time())
    async with (
        connect(base, additional_headers=bearer(signer.token(sub=user, iat=now - 10))) as old,
        connect(base, additional_headers=bearer(signer.token(sub=user, iat=now - 2))) as new,
    ):
        await receive(old)
        await receive(new)
        await revoke_user_tokens(redis, user, now - 5, 60)
        assert await closed_with(old) == (CloseCode.SESSION_ENDED, "session_revoked")
        await new.send('{"type": "ping"}')
        assert (await receive(new))["type"] == "pong"


async def test_a_revocation_announced_while_the_hub_was_not_listening_still_ends_the_socket(
    base: str, redis: Redis, signer: TokenSigner
) -> None:
    async with connect(base, additional_headers=bearer(signer.token(sid="s-missed"))) as ws:
        await receive(ws)
        # Revoked without the announcement reaching the hub, whose channel then drops.
        await redis.set(session_key("s-missed"), "1", ex=60)
        await redis.client_kill_filter(_type="pubsub")
        assert await closed_with(ws) == (CloseCode.SESSION_ENDED, "session_revoked")


async def test_a_disabled_user_loses_every_socket(
    base: str, redis: Redis, signer: TokenSigner
) -> None:
    user = str(uuid.uuid4())
    async with connect(base, additional_headers=bearer(signer.token(sub=user))) as ws:
        await receive(ws)
        await publish_user_event(redis, user, UserEventKind.DISABLED)
        assert await closed_with(ws) == (CloseCode.SESSION_ENDED, "user_disabled")


async def test_resume_from_the_last_event_id_loses_nothing(
    base: str, redis: Redis, signer: TokenSigner
) -> None:
    user = str(uuid.uuid4())
    headers = bearer(signer.token(sub=user))
    async with connect(base, additional_headers=headers) as ws:
        seen = (await receive(ws))["last_event_id"]
        await publish_event(redis, STREAM, "thing", {"colour": "1"}, owner=user)
        seen = (await next_event(ws))["id"]
    for colour in ("2", "3"):  # while disconnected
        await publish_event(redis, STREAM, "thing", {"colour": colour}, owner=user)
        await publish_event(redis, STREAM, "thing", {"colour": "x"}, owner=str(uuid.uuid4()))
    async with connect(f"{base}?last_event_id={seen}", additional_headers=headers) as ws:
        assert (await receive(ws))["type"] == "welcome"
        await publish_event(redis, STREAM, "thing", {"colour": "4"}, owner=user)
        colours = [(await next_event(ws))["data"]["colour"] for _ in range(3)]
        assert colours == ["2", "3", "4"]


async def test_a_ticket_opens_one_socket_once_the_gateway_claimed_it(
    base: str, redis: Redis, signer: TokenSigner
) -> None:
    user = str(uuid.uuid4())
    ticket = await issue_ticket(redis, signer.token(sub=user), "/demo/events")
    with pytest.raises(InvalidStatus):  # not claimed by the gateway's decision: refused
        async with connect(f"{base}?ticket={ticket}"):
            pass
    assert await claim_ticket(redis, ticket) is not None
    async with connect(f"{base}?ticket={ticket}") as ws:
        assert (await receive(ws))["type"] == "welcome"
        await publish_event(redis, STREAM, "thing", {"colour": "mine"}, owner=user)
        assert (await next_event(ws))["data"]["colour"] == "mine"
    with pytest.raises(InvalidStatus):  # used
        async with connect(f"{base}?ticket={ticket}"):
            pass


async def test_a_ticket_for_another_path_is_refused(
    base: str, redis: Redis, signer: TokenSigner
) -> None:
    ticket = await issue_ticket(redis, signer.token(), "/other/events")
    await claim_ticket(redis, ticket)
    with pytest.raises(InvalidStatus):
        async with connect(f"{base}?ticket={ticket}"):
            pass


async def test_no_credential_or_a_bad_token_is_refused_at_the_handshake(
    base: str, signer: TokenSigner
) -> None:
    for headers in ({}, bearer("not-a-token"), bearer(signer.token(exp=int(time.time()) - 10))):
        with pytest.raises(InvalidStatus):
            async with connect(base, additional_headers=headers):
                pass


async def test_plain_http_get_is_told_to_upgrade_and_the_docs_are_public(base: str) -> None:
    origin = base.replace("ws://", "http://").removesuffix("/demo/events")
    async with httpx.AsyncClient(base_url=origin) as http:
        answer = await http.get("/demo/events", headers=bearer("x"))
        assert answer.status_code in (401, 426)
        document = (await http.get("/demo/events/asyncapi.json")).json()
        assert document["asyncapi"] == "3.0.0"
        assert "4401" in document["x-close-codes"]
        assert "demo/events/tickets" in (await http.get("/demo/events/console")).text


async def test_a_socket_that_does_not_keep_up_is_ended_not_buffered() -> None:
    claims = AccessClaims.model_validate(
        {
            "iss": "i",
            "aud": "a",
            "sub": str(uuid.uuid4()),
            "sid": "s",
            "jti": "j",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "name": "n",
            "adm": False,
        }
    )
    subscriber = Subscriber(SocketCaller(claims, "t"), {}, everyone=False)
    for n in range(QUEUE_LIMIT):
        subscriber.offer(str(n), "x")
    assert not subscriber.ending.done()
    subscriber.offer("last", "x")
    assert subscriber.ending.result().code == CloseCode.SLOW_CONSUMER
    assert subscriber.queue.qsize() == QUEUE_LIMIT


def decision_refusing(refused: set[str]) -> FastAPI:
    """A stand-in for rbac's `/authorize`: 403 for the tokens in `refused`, else 200."""
    decision = FastAPI()

    @decision.get("/authorize")
    async def authorize(request: Request) -> Response:
        token = request.headers["authorization"].split()[1]
        assert request.headers["x-forwarded-uri"] == "/demo/events"
        if token in refused:
            body = b'{"code": "permission_denied"}'
            return Response(body, status_code=403, media_type="application/problem+json")
        return Response(status_code=200)

    return decision


async def test_a_role_change_closes_the_sockets_the_decision_now_refuses(
    redis_url: str, redis: Redis, signer: TokenSigner
) -> None:
    losing, keeping = signer.token(sub=str(uuid.uuid4())), signer.token(sub=str(uuid.uuid4()))
    refused: set[str] = set()
    async with (
        serving(decision_refusing(refused)) as rbac_url,
        serving(demo_app(redis_url, signer, rbac_url)) as url,
    ):
        base = url.replace("http://", "ws://") + "/demo/events"
        async with (
            connect(base, additional_headers=bearer(losing)) as ws,
            connect(base, additional_headers=bearer(keeping)) as other,
        ):
            await receive(ws)
            await receive(other)
            refused.add(losing)
            started = time.monotonic()
            await redis.publish("rbac:changes", json.dumps({"kind": "bindings"}))
            assert await closed_with(ws) == (CloseCode.FORBIDDEN, "permission_denied")
            assert time.monotonic() - started < 1.0
            await other.send('{"type": "ping"}')
            assert (await receive(other))["type"] == "pong"
