import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from redis.asyncio import Redis

from auth.app import create_app
from auth.migrations import upgrade_database
from auth.seed import seed_admin
from auth.settings import AuthSettings
from testkit.auth_app import RunningAuth, running_auth
from testkit.plugin import SqlSchema
from testkit.tokens import TokenSigner

ADMIN_PASSWORD = "correct horse battery staple"
# Argon2 at the cheapest settings AuthSettings accepts (a hash costs ~3 ms of CPU instead of
# ~16 ms), through settings only: the production defaults stay as they are. A test about the
# hash itself asks for `production_argon2`.
TEST_ARGON2 = {"argon2_memory_kib": 8 * 1024, "argon2_time_cost": 1}


@pytest.fixture(scope="session")
def private_key_pem() -> str:
    return TokenSigner().private_pem()


@pytest.fixture
def admin_password() -> str:
    return ADMIN_PASSWORD


@pytest.fixture
def sql_schema() -> SqlSchema:
    """`sql_url` comes migrated to auth's head (a per-session template, copied per test)."""
    return SqlSchema("auth", upgrade_database)


@pytest.fixture
def database_url(sql_url: str, sql_schema: SqlSchema) -> str:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    return sql_url


@pytest.fixture
def production_argon2() -> dict[str, Any]:
    """The Argon2 settings a deployment gets by default, to override TEST_ARGON2 with."""
    return {name: AuthSettings.model_fields[name].default for name in TEST_ARGON2}


@pytest.fixture
def settings_factory(
    redis_url: str, private_key_pem: str, database_url: str, tmp_path: Any
) -> Callable[..., AuthSettings]:
    def make(**overrides: Any) -> AuthSettings:
        values: dict[str, Any] = {
            "environment": "test",
            "log_json": False,
            "redis_url": redis_url,
            "database_url": database_url,
            "private_key": private_key_pem,
            "state_dir": tmp_path / "state",
        }
        values.update(overrides)
        if values["environment"] == "test":
            # Anywhere else the service refuses a hash weaker than OWASP's settings.
            values = {**TEST_ARGON2, **values}
        return AuthSettings.model_validate(values)

    return make


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def auth_settings(settings_factory: Callable[..., AuthSettings]) -> AuthSettings:
    return settings_factory()


@pytest.fixture
async def running_factory(
    redis: Redis,
) -> AsyncIterator[Callable[[AuthSettings], Awaitable[RunningAuth[AuthSettings]]]]:
    """Start an auth app on given settings; every one started is stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(settings: AuthSettings) -> RunningAuth[AuthSettings]:
            await seed_admin(settings, "admin", ADMIN_PASSWORD)
            return await stack.enter_async_context(
                running_auth(create_app(settings), settings, admin_password=ADMIN_PASSWORD)
            )

        yield start


@pytest.fixture
async def auth(
    auth_settings: AuthSettings,
    running_factory: Callable[[AuthSettings], Awaitable[RunningAuth[AuthSettings]]],
) -> RunningAuth[AuthSettings]:
    return await running_factory(auth_settings)


@pytest.fixture
def random_ip() -> Callable[[], str]:
    """A fresh documentation-range client IP, so IP throttling of one test spares the next."""
    return lambda: f"203.0.113.{secrets.randbelow(250) + 1}"
