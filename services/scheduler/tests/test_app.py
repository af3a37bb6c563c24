import httpx

from common.tokens import JwksClient
from scheduler.app import create_app
from scheduler.settings import SchedulerSettings


async def test_ready_checks_sql_redis_and_mongo_under_their_fixed_names(
    settings: SchedulerSettings,
) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scheduler") as client:
            ready = await client.get("/ready")

    assert ready.status_code == 200
    assert ready.json()["checks"] == {"sql": "ok", "redis": "ok", "mongo": "ok"}


async def test_the_jwks_client_opened_at_start_up_is_closed_at_shutdown(
    settings: SchedulerSettings,
) -> None:
    app = create_app(settings)  # no keys given: auth's JWKS
    async with app.router.lifespan_context(app):
        keys = app.state.token_verifier.keys
        assert isinstance(keys, JwksClient)
        assert not keys.closed

    assert keys.closed
