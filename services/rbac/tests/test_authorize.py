"""The gateway decision through `/authorize`, against a real database and Valkey."""

import time
import uuid

import pytest
from redis.asyncio import Redis

from common.revocation import revoke_session, revoke_user_tokens
from common.user_events import UserEventKind, mark_disabled, publish_user_event
from testkit.credential_shapes import HEADER_SHAPES, HeaderShape
from testkit.polling import until
from testkit.rbac_app import Rbac
from testkit.tokens import TokenSigner

pytestmark = pytest.mark.usefixtures("storage_registered")


async def grant(rbac: Rbac, user_id: str, *patterns: str) -> None:
    code = f"r{uuid.uuid4().hex[:8]}"
    created = await rbac.http.post(
        "/roles",
        json={"code": code, "name": code, "permissions": list(patterns)},
        headers=rbac.admin_headers(),
    )
    assert created.status_code == 201, created.text
    bound = await rbac.http.put(
        f"/users/{user_id}/roles", json={"roles": [code]}, headers=rbac.admin_headers()
    )
    assert bound.status_code == 200, bound.text


async def test_public_route_passes_without_token_and_answers_empty_identity(rbac: Rbac) -> None:
    response = await rbac.authorize("GET", "/storage/health", **{"X-User-Id": "forged"})
    assert response.status_code == 200
    assert response.headers["x-user-id"] == ""
    assert response.headers["x-user-admin"] == ""


@pytest.mark.parametrize(
    "path",
    [
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/redoc.standalone.js",
    ],
)
async def test_every_services_docs_are_public(rbac: Rbac, path: str) -> None:
    assert (await rbac.authorize("GET", f"/storage{path}")).status_code == 200
    assert (await rbac.authorize("GET", f"/rbac{path}")).status_code == 200
    assert (await rbac.authorize("POST", f"/storage{path}")).status_code == 405


async def test_missing_token_is_401_with_bearer_challenge(rbac: Rbac) -> None:
    response = await rbac.authorize("GET", "/storage/files")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "missing_token"


async def test_denials_are_problems_naming_the_path_asked_for_without_its_query(
    rbac: Rbac,
) -> None:
    user = rbac.signer.token(sub=str(uuid.uuid4()))
    for status, method, uri, token in (
        (401, "GET", "/storage/files?token=secret", None),
        (403, "DELETE", "/storage/files/f1?token=secret", user),
        (405, "TRACE", "/storage/files", user),
        (403, "GET", "/storage/nothing/here", user),
    ):
        response = await rbac.authorize(method, uri, token)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert set(problem) == {"type", "title", "status", "detail", "instance", "code"}
        assert problem["instance"] == uri.split("?")[0]


# The gateway relays a denial's body only up to forwardAuth's maxResponseBodySize
# (gateway/dynamic/routes.yml); beyond it the client gets a bare 401 instead of our problem.
GATEWAY_MAX_DENIAL_BYTES = 16384


@pytest.mark.parametrize(
    "uri",
    ["/storage/files/" + "a" * 20_000, "/storage/files?q=" + "a" * 20_000],
    ids=["long-path", "long-query"],
)
async def test_a_uri_too_long_to_judge_is_refused_with_a_problem_the_gateway_relays(
    rbac: Rbac, uri: str
) -> None:
    response = await rbac.authorize("GET", uri, rbac.signer.token(adm=True))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert len(response.content) < GATEWAY_MAX_DENIAL_BYTES
    problem = response.json()
    assert problem["detail"] == "the forwarded URI is longer than 8192 characters"
    assert len(problem["instance"]) <= 8192


async def test_token_signed_by_another_key_is_401(rbac: Rbac) -> None:
    response = await rbac.authorize("GET", "/storage/me", TokenSigner().token())
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize("shape", HEADER_SHAPES, ids=str)
async def test_the_decision_accepts_exactly_one_bearer_credential(
    rbac: Rbac, shape: HeaderShape
) -> None:
    # The same table as the services' own check (common's test_security): both call one function.
    caller, admin = str(uuid.uuid4()), str(uuid.uuid4())
    own, other = rbac.signer.token(sub=caller), rbac.signer.token(sub=admin, adm=True)
    forwarded = [("X-Forwarded-Method", "DELETE"), ("X-Forwarded-Uri", "/storage/files/f1")]
    await grant(rbac, caller, "storage:GET:*")

    deleting = await rbac.http.get("/authorize", headers=forwarded + shape.headers(own, other))
    reading = await rbac.http.get(
        "/authorize",
        headers=[
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/storage/files/f1"),
            *shape.headers(own, other),
        ],
    )

    if shape.refused_with is None:
        # Judged as the caller, who may read but not delete.
        assert (reading.status_code, reading.headers["x-user-id"]) == (200, caller)
        assert deleting.status_code == 403
    else:
        for response in (deleting, reading):
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["code"] == shape.refused_with


async def test_rbacs_own_routes_refuse_two_credentials_like_the_decision(rbac: Rbac) -> None:
    admin = rbac.admin_headers()["Authorization"]
    user = f"Bearer {rbac.signer.token(sub=str(uuid.uuid4()))}"
    for values in ([user, admin], [admin, user], [f"{user}, {admin}"]):
        response = await rbac.http.get("/roles", headers=[("Authorization", v) for v in values])
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "multiple_credentials"


async def test_a_signed_token_whose_subject_is_not_a_user_id_is_401(rbac: Rbac) -> None:
    for sub in ("admin", "u1", "0190A4B2-7C1D-7E3F-8A2B-3C4D5E6F7A80"):
        response = await rbac.authorize("GET", "/storage/me", rbac.signer.token(sub=sub, adm=True))
        assert response.status_code == 401
        assert response.json()["detail"] == "access token rejected: subject is not a user id"


async def test_a_token_living_longer_than_the_access_token_lifetime_is_401(rbac: Rbac) -> None:
    now = int(time.time())
    token = rbac.signer.token(adm=True, iat=now, exp=now + 10 * 365 * 24 * 3600)
    response = await rbac.authorize("GET", "/storage/me", token)
    assert response.status_code == 401
    assert response.json()["detail"] == "access token rejected: token lifetime too long"


async def test_authenticated_route_needs_only_a_valid_token(rbac: Rbac) -> None:
    user = str(uuid.uuid4())
    token = rbac.signer.token(sub=user, sid="s1", name="Zoë")
    response = await rbac.authorize("GET", "/storage/me", token)
    assert response.status_code == 200
    assert response.headers["x-user-id"] == user
    assert response.headers["x-session-id"] == "s1"
    assert response.headers["x-user-name"] == "Zo%C3%AB"
    assert response.headers["x-user-admin"] == "false"


async def test_user_without_role_is_403_and_a_grant_lets_them_through(rbac: Rbac) -> None:
    user = str(uuid.uuid4())
    token = rbac.signer.token(sub=user)
    denied = await rbac.authorize("GET", "/storage/files/abc", token)
    assert denied.status_code == 403
    assert denied.json()["code"] == "permission_denied"
    await grant(rbac, user, "storage:GET:/files/{file_id}")
    assert (await rbac.authorize("GET", "/storage/files/abc", token)).status_code == 200
    assert (await rbac.authorize("DELETE", "/storage/files/abc", token)).status_code == 403


async def test_pattern_grant_covers_every_matching_route(rbac: Rbac) -> None:
    user = str(uuid.uuid4())
    token = rbac.signer.token(sub=user)
    await grant(rbac, user, "storage:GET:*")
    assert (await rbac.authorize("GET", "/storage/files", token)).status_code == 200
    assert (await rbac.authorize("GET", "/storage/files/x", token)).status_code == 200
    assert (await rbac.authorize("POST", "/storage/uploads", token)).status_code == 403


async def test_unbinding_the_role_revokes_access_at_once(rbac: Rbac) -> None:
    user = str(uuid.uuid4())
    token = rbac.signer.token(sub=user)
    await grant(rbac, user, "storage:*")
    assert (await rbac.authorize("POST", "/storage/uploads", token)).status_code == 200
    unbound = await rbac.http.put(
        f"/users/{user}/roles", json={"roles": []}, headers=rbac.admin_headers()
    )
    assert unbound.status_code == 200
    assert (await rbac.authorize("POST", "/storage/uploads", token)).status_code == 403


async def test_deactivated_role_grants_nothing(rbac: Rbac) -> None:
    user = str(uuid.uuid4())
    token = rbac.signer.token(sub=user)
    await grant(rbac, user, "storage:*")
    role = (await rbac.http.get(f"/users/{user}/roles", headers=rbac.admin_headers())).json()
    patched = await rbac.http.patch(
        f"/roles/{role['roles'][0]}", json={"is_active": False}, headers=rbac.admin_headers()
    )
    assert patched.status_code == 200
    assert (await rbac.authorize("GET", "/storage/files", token)).status_code == 403


async def test_admin_passes_every_permission_check(rbac: Rbac) -> None:
    token = rbac.signer.token(adm=True)
    response = await rbac.authorize("DELETE", "/storage/files/abc", token)
    assert response.status_code == 200
    assert response.headers["x-user-admin"] == "true"


async def test_admin_only_route_is_refused_to_non_admins_whatever_their_roles_grant(
    rbac: Rbac,
) -> None:
    user = str(uuid.uuid4())
    token = rbac.signer.token(sub=user)
    await grant(rbac, user, "*")
    assert (await rbac.authorize("GET", "/storage/files", token)).status_code == 200

    refused = await rbac.authorize("GET", "/storage/buckets", token)

    assert refused.status_code == 403
    assert refused.json()["code"] == "admin_required"
    admin = rbac.signer.token(adm=True)
    assert (await rbac.authorize("GET", "/storage/buckets", admin)).status_code == 200


async def test_unregistered_route_is_403_even_for_admins(rbac: Rbac) -> None:
    token = rbac.signer.token(adm=True)
    for method, uri in [("GET", "/storage/nope"), ("PUT", "/storage/nope"), ("GET", "/x/y")]:
        response = await rbac.authorize(method, uri, token)
        assert response.status_code == 403
        assert response.json()["code"] == "unregistered_route"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PUT", "PROPFIND", "BREW"])
@pytest.mark.parametrize("token", [None, "user", "admin"])
async def test_a_method_a_served_path_lacks_is_405_naming_the_served_ones_in_allow(
    rbac: Rbac, method: str, token: str | None
) -> None:
    bearer = {"user": rbac.signer.token(sub="u1"), "admin": rbac.signer.token(adm=True)}
    response = await rbac.authorize(method, "/storage/files/x", bearer.get(token or ""))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, DELETE"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Forwarded-Method": "GET"},
        {"X-Forwarded-Uri": "/storage/files"},
        {"X-Forwarded-Method": "BREW", "X-Forwarded-Uri": "/storage/nothing"},
        {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/storage/files/%2e%2e/uploads"},
        {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/storage/files/%ff"},
        {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "garbage"},
    ],
)
async def test_missing_or_garbled_forwarded_headers_are_403(
    rbac: Rbac, headers: dict[str, str]
) -> None:
    token = rbac.signer.token(adm=True)
    response = await rbac.http.get(
        "/authorize", headers={"Authorization": f"Bearer {token}", **headers}
    )
    assert response.status_code == 403


async def test_revoked_session_is_refused(rbac: Rbac, redis: Redis) -> None:
    token = rbac.signer.token(sid="session-1")
    assert (await rbac.authorize("GET", "/storage/me", token)).status_code == 200
    await revoke_session(redis, "session-1", ttl_seconds=900)
    response = await until(
        lambda: rbac.authorize("GET", "/storage/me", token), lambda r: r.status_code == 401
    )
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


async def test_user_wide_revocation_refuses_older_tokens_only(rbac: Rbac, redis: Redis) -> None:
    user, now = str(uuid.uuid4()), int(time.time())
    old = rbac.signer.token(sub=user, iat=now - 100, exp=now + 800)
    new = rbac.signer.token(sub=user, iat=now)
    assert (await rbac.authorize("GET", "/storage/me", old)).status_code == 200
    await revoke_user_tokens(redis, user, issued_before=now - 50, ttl=900)
    response = await until(
        lambda: rbac.authorize("GET", "/storage/me", old), lambda r: r.status_code == 401
    )
    assert response.status_code == 401
    assert (await rbac.authorize("GET", "/storage/me", new)).status_code == 200


async def test_disabled_admin_is_refused(rbac: Rbac, redis: Redis) -> None:
    user = str(uuid.uuid4())
    token = rbac.signer.token(sub=user, adm=True)
    assert (await rbac.authorize("GET", "/storage/files", token)).status_code == 200
    await mark_disabled(redis, user)
    await publish_user_event(redis, user, UserEventKind.DISABLED)
    response = await until(
        lambda: rbac.authorize("GET", "/storage/files", token), lambda r: r.status_code == 401
    )
    assert response.status_code == 401


async def test_disabled_mark_alone_refuses_a_token_never_seen(rbac: Rbac, redis: Redis) -> None:
    user = str(uuid.uuid4())
    await mark_disabled(redis, user)
    token = rbac.signer.token(sub=user, adm=True)
    assert (await rbac.authorize("GET", "/storage/files", token)).status_code == 401


async def test_remembered_allow_ends_when_the_token_expires(rbac: Rbac) -> None:
    token = rbac.signer.token(exp=int(time.time()) + 1)
    assert (await rbac.authorize("GET", "/storage/me", token)).status_code == 200
    response = await until(
        lambda: rbac.authorize("GET", "/storage/me", token), lambda r: r.status_code == 401
    )
    assert response.json()["code"] == "invalid_token"
