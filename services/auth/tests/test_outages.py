import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from auth.app import create_app
from auth.seed import seed_admin
from auth.settings import AuthSettings
from mesh.net import free_port
from testkit.auth_app import running_auth
from testkit.valkey import valkey_server

ADMIN_PASSWORD = "correct horse battery staple"


def _assert_redis_outage(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    problem = response.json()
    assert problem["code"] == "dependency_unavailable"
    assert "redis" in problem["detail"]
    assert "Traceback" not in response.text
    assert int(response.headers["Retry-After"]) > 0


async def test_with_redis_down_public_routes_answer_503_and_recover_when_it_returns(
    settings_factory: Callable[..., AuthSettings], tmp_path: Path
) -> None:
    port = free_port()
    servers = ExitStack()
    redis_url = await asyncio.to_thread(
        servers.enter_context, valkey_server(tmp_path / "valkey", port)
    )
    settings = settings_factory(redis_url=redis_url)
    try:
        await seed_admin(settings, "admin", ADMIN_PASSWORD)
        app = create_app(settings)
        async with running_auth(app, settings, admin_password=ADMIN_PASSWORD) as auth:
            pair = await auth.login("admin", ADMIN_PASSWORD)

            await asyncio.to_thread(servers.close)
            _assert_redis_outage(await auth.http.get("/auth/keys/public"))
            login = {"username": "admin", "password": "AAAA"}
            _assert_redis_outage(await auth.http.post("/auth/login", json=login))
            refresh = {"refresh_token": pair.refresh_token}
            _assert_redis_outage(await auth.http.post("/auth/token/refresh", json=refresh))
            ready = await auth.http.get("/auth/ready")
            _assert_redis_outage(ready)

            # The same client, no restart: its pool reconnects once the server is back.
            await asyncio.to_thread(servers.enter_context, valkey_server(tmp_path / "valkey", port))
            assert (await auth.http.get("/auth/keys/public")).status_code == 200
            assert (await auth.http.get("/auth/ready")).status_code == 200
            assert (await auth.login("admin", ADMIN_PASSWORD)).access_token
    finally:
        await asyncio.to_thread(servers.close)
