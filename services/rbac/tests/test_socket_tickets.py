"""Socket tickets at the gateway's decision: judged like the token they stand for, used once."""

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from common.live_events.tickets import claimed_key, issue_ticket, redeem_claim
from common.route_manifest import publish_manifest
from testkit.polling import until
from testkit.rbac_app import Rbac, manifest

pytestmark = pytest.mark.usefixtures("events_registered")


@pytest.fixture
async def events_registered(rbac: Rbac, redis: Redis) -> None:
    routes = [("GET", "/events", "permission"), ("POST", "/events/tickets", "authenticated")]
    await publish_manifest(redis, manifest("scheduler", routes))
    await until(
        lambda: rbac.authorize("GET", "/scheduler/events", rbac.signer.token(adm=True)),
        lambda r: r.status_code == 200,
    )


async def test_a_ticket_is_judged_as_its_token_and_answers_no_store(
    rbac: Rbac, redis: Redis
) -> None:
    user = str(uuid.uuid4())
    ticket = await issue_ticket(redis, rbac.signer.token(sub=user, adm=True), "/scheduler/events")
    answer = await rbac.authorize("GET", f"/scheduler/events?ticket={ticket}")
    assert answer.status_code == 200
    assert answer.headers["x-user-id"] == user
    assert answer.headers["cache-control"] == "no-store"
    # The service's half of the claim is waiting for the socket.
    grant = await redeem_claim(redis, ticket)
    assert grant is not None
    assert grant.path == "/scheduler/events"


async def test_a_reused_ticket_is_refused_even_right_after_an_allow(
    rbac: Rbac, redis: Redis
) -> None:
    ticket = await issue_ticket(redis, rbac.signer.token(adm=True), "/scheduler/events")
    uri = f"/scheduler/events?ticket={ticket}"
    assert (await rbac.authorize("GET", uri)).status_code == 200
    again = await rbac.authorize("GET", uri)
    assert again.status_code == 401
    assert again.json()["code"] == "invalid_ticket"
    assert again.headers["cache-control"] == "no-store"


async def test_concurrent_upgrades_with_one_ticket_let_exactly_one_through(
    rbac: Rbac, redis: Redis
) -> None:
    ticket = await issue_ticket(redis, rbac.signer.token(adm=True), "/scheduler/events")
    uri = f"/scheduler/events?ticket={ticket}"
    answers = await asyncio.gather(*(rbac.authorize("GET", uri) for _ in range(20)))
    assert sorted(a.status_code for a in answers) == [200] + [401] * 19


@pytest.mark.parametrize(
    "uri",
    [
        "/scheduler/events?ticket=never-issued",
        "/scheduler/events?ticket=",
        "/scheduler/events?ticket=" + "x" * 500,
    ],
)
async def test_an_unknown_ticket_is_refused(rbac: Rbac, uri: str) -> None:
    answer = await rbac.authorize("GET", uri)
    assert answer.status_code == 401
    assert answer.json()["code"] == "invalid_ticket"
    assert "ticket" not in answer.json()["instance"]


async def test_an_expired_ticket_is_refused(rbac: Rbac, redis: Redis) -> None:
    ticket = await issue_ticket(
        redis, rbac.signer.token(adm=True), "/scheduler/events", ttl_seconds=1
    )
    await asyncio.sleep(1.2)
    answer = await rbac.authorize("GET", f"/scheduler/events?ticket={ticket}")
    assert answer.status_code == 401
    assert answer.json()["code"] == "invalid_ticket"


async def test_a_ticket_for_another_socket_is_refused_and_burnt(rbac: Rbac, redis: Redis) -> None:
    ticket = await issue_ticket(redis, rbac.signer.token(adm=True), "/storage/events")
    answer = await rbac.authorize("GET", f"/scheduler/events?ticket={ticket}")
    assert answer.status_code == 401
    assert answer.json()["code"] == "invalid_ticket"
    assert await redis.exists(claimed_key(ticket)) == 1  # claimed, so unusable at storage too
    assert (await rbac.authorize("GET", f"/storage/events?ticket={ticket}")).status_code in (
        401,
        403,
    )


async def test_a_ticket_with_a_token_beside_it_is_two_credentials(rbac: Rbac, redis: Redis) -> None:
    token = rbac.signer.token(adm=True)
    ticket = await issue_ticket(redis, token, "/scheduler/events")
    answer = await rbac.authorize("GET", f"/scheduler/events?ticket={ticket}", token)
    assert answer.status_code == 401
    assert answer.json()["code"] == "multiple_credentials"
    twice = await rbac.authorize("GET", f"/scheduler/events?ticket={ticket}&ticket={ticket}")
    assert twice.json()["code"] == "multiple_credentials"


async def test_a_ticket_grants_no_more_than_its_token(rbac: Rbac, redis: Redis) -> None:
    # A user without any role: the socket's permission is missing, ticket or not.
    ticket = await issue_ticket(
        redis, rbac.signer.token(sub=str(uuid.uuid4())), "/scheduler/events"
    )
    answer = await rbac.authorize("GET", f"/scheduler/events?ticket={ticket}")
    assert answer.status_code == 403
    assert answer.json()["code"] == "permission_denied"
