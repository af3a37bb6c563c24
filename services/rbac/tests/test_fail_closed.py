"""Without Redis rbac cannot know about revocations, so it denies instead of guessing."""

from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from common.redis_client import create_redis
from common.route_manifest import publish_manifest
from rbac.decision.listener import ChangeListener
from rbac.migrations import upgrade
from testkit.polling import until
from testkit.rbac_app import Rbac, StartRbac, manifest
from testkit.tokens import TokenSigner
from testkit.valkey import valkey_server

ROUTES = [
    ("GET", "/health", "public"),
    ("GET", "/files", "permission"),
    ("GET", "/me", "authenticated"),
]


async def _listening(listener: ChangeListener, connected: bool) -> bool:
    async def probe() -> bool:
        return listener.connected.is_set()

    return await until(probe, lambda value: value is connected)


async def _statuses(rbac: Rbac, admin: str, user: str) -> tuple[int, int, int]:
    return (
        (await rbac.authorize("GET", "/storage/files", admin)).status_code,
        (await rbac.authorize("GET", "/storage/me", user)).status_code,
        (await rbac.authorize("GET", "/storage/health")).status_code,
    )


async def test_stopped_redis_turns_warm_allows_into_denials_until_it_is_back(
    tmp_path: Path, signer: TokenSigner, start_rbac: StartRbac
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rbac.db'}"
    await upgrade(url)
    admin = signer.token(adm=True)
    user = signer.token(sub="01900000-0000-7000-8000-0000000000fc")
    with ExitStack() as valkey:
        redis_url = valkey.enter_context(valkey_server(tmp_path / "valkey"))
        async with start_rbac(url, redis_url) as rbac:
            redis = create_redis(redis_url)
            await publish_manifest(redis, manifest("storage", ROUTES))
            await redis.aclose()
            warm = await until(lambda: _statuses(rbac, admin, user), lambda s: s == (200, 200, 200))
            assert warm == (200, 200, 200)
            listener: ChangeListener = rbac.app.state.listener

            valkey.close()
            assert await _listening(listener, False) is False
            admin_denied = await rbac.authorize("GET", "/storage/files", admin)
            assert admin_denied.status_code == 503
            assert admin_denied.json()["code"] == "revocation_unavailable"
            assert int(admin_denied.headers["Retry-After"]) > 0
            # Public routes need no revocation knowledge; the route table is in SQL.
            assert await _statuses(rbac, admin, user) == (503, 503, 200)
            ready = await rbac.http.get("/ready")
            assert ready.status_code == 503
            assert "pubsub" in ready.json()["detail"]

            port = urlsplit(redis_url).port
            valkey.enter_context(valkey_server(tmp_path / "valkey", port=port))
            assert await _listening(listener, True) is True
            assert await _statuses(rbac, admin, user) == (200, 200, 200)
