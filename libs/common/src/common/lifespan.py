"""`service_lifespan`: the engines and clients a service opens at start-up, built once.

A service names the resources it uses; they are opened in a fixed order (SQL, Redis, MongoDB,
S3, the token verifier), kept on `app.state`, checked by `/ready` under fixed names (`sql`,
`redis`, `mongo`, `s3`) and closed in the reverse order, whatever fails on the way. The
service's own part (`started`) runs inside them, and the app's routes are published to the
rbac registry last, once everything is up.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

from beanie import Document
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from common.app import Lifespan
from common.health import register_ready_check
from common.mongo import init_mongo, ping_mongo
from common.redis_client import create_redis
from common.route_manifest import publish_app_routes
from common.security import install_verifier, token_verifier
from common.settings import MongoSettings, ServiceSettings, SqlSettings
from common.sql import SqlDatabase
from common.tokens import JwksClient, KeySource, TokenVerifier

MongoClient = AsyncMongoClient[dict[str, object]]
# Opens the service's MongoDB database: (MONGO_URL, database) -> a client with its documents
# registered. `common.mongo.init_mongo` for plain Beanie documents; a service that must prepare
# its collections first (a data migration) passes its own.
MongoOpener = Callable[[str, str], Awaitable[MongoClient]]


class S3Store(Protocol):
    async def ping(self) -> None: ...

    def close(self) -> None:
        """Close its pooled connections (left to the garbage collector, they close at random)."""


# Opens the service's S3 store (and makes sure its bucket exists).
S3Opener = Callable[[], Awaitable[S3Store]]


@dataclass
class Resources:
    """What the lifespan opened; a resource the service did not ask for is None."""

    database: SqlDatabase | None = None
    redis: "Redis | None" = None
    mongo: MongoClient | None = None
    s3: S3Store | None = None
    token_verifier: TokenVerifier | None = None

    def sql(self) -> SqlDatabase:
        if self.database is None:
            raise RuntimeError("this service's lifespan opens no SQL database")
        return self.database

    def redis_client(self) -> "Redis":
        if self.redis is None:
            raise RuntimeError("this service's lifespan opens no Redis client")
        return self.redis


# The service's own start-up and shutdown, run inside the shared resources.
StartedPart = Callable[[FastAPI, Resources], AbstractAsyncContextManager[None]]


def service_lifespan(
    settings: ServiceSettings,
    *,
    sql: bool | SqlDatabase = False,
    redis: "bool | Redis" = False,
    mongo: Sequence[type[Document]] | MongoOpener | None = None,
    s3: S3Opener | None = None,
    tokens: bool | KeySource | TokenVerifier = False,
    publish_routes: bool = False,
    started: StartedPart | None = None,
) -> Lifespan:
    """The lifespan of a service using the resources named.

    - `sql`: `SqlDatabase` on `settings.database_url` (`SqlSettings`), `app.state.database`.
    - `redis`: the shared Redis, `app.state.redis`.
    - `mongo`: Beanie documents (or an opener) on `settings.mongo_url`/`mongo_database`
      (`MongoSettings`), `app.state.mongo`.
    - `s3`: what `s3()` opens, `app.state.s3`.
    - `tokens`: `CurrentUserDep` works: tokens verified with auth's JWKS (`True`), the keys or
      the verifier given; revocation looked up in Redis when `redis` is on.
    - `publish_routes`: the app's route manifest is published to the rbac registry through
      Redis once the service has started (every service behind the gateway).

    A database, Redis client or verifier given (one the app built beforehand) is owned all
    the same: disposed, closed (a JWKS client too) when the lifespan ends.
    """
    if sql is True and not isinstance(settings, SqlSettings):
        raise TypeError("sql=True needs the settings to be SqlSettings")
    if mongo is not None and not isinstance(settings, MongoSettings):
        raise TypeError("mongo needs the settings to be MongoSettings")
    if publish_routes and not redis:
        raise ValueError("publish_routes needs redis=True: the manifest is published there")
    open_mongo: MongoOpener | None = None
    if mongo is not None:
        if callable(mongo):
            open_mongo = mongo
        else:
            documents = list(mongo)

            def open_mongo(url: str, database: str) -> Awaitable[MongoClient]:
                return init_mongo(url, database, documents)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = Resources()
        async with AsyncExitStack() as stack:
            if sql is not False:
                database = _sql_database(settings, sql)
                stack.push_async_callback(database.dispose)
                opened.database = app.state.database = database
                register_ready_check(app, "sql", database.ping)
            if redis is not False:
                client = create_redis(settings.redis_url) if redis is True else redis
                stack.push_async_callback(client.aclose)
                opened.redis = app.state.redis = client
                register_ready_check(app, "redis", client.ping)
            if isinstance(settings, MongoSettings) and open_mongo is not None:
                mongo_client = await open_mongo(settings.mongo_url, settings.mongo_database)
                stack.push_async_callback(mongo_client.close)
                opened.mongo = app.state.mongo = mongo_client
                register_ready_check(app, "mongo", lambda: ping_mongo(mongo_client))
            if s3 is not None:
                store = await s3()
                stack.callback(store.close)
                opened.s3 = app.state.s3 = store
                register_ready_check(app, "s3", store.ping)
            if tokens is not False:
                verifier = _token_verifier(settings, tokens)
                if isinstance(verifier.keys, JwksClient):
                    stack.push_async_callback(verifier.keys.aclose)
                install_verifier(app, verifier, redis=opened.redis)
                opened.token_verifier = verifier
            if started is not None:
                await stack.enter_async_context(started(app, opened))
            if publish_routes:
                await publish_app_routes(app, opened.redis_client())
            yield

    return lifespan


def _sql_database(settings: ServiceSettings, sql: "Literal[True] | SqlDatabase") -> SqlDatabase:
    if isinstance(sql, SqlDatabase):
        return sql
    if not isinstance(settings, SqlSettings):
        raise TypeError("sql=True needs the settings to be SqlSettings")
    return SqlDatabase(settings.database_url, pool_size=settings.sql_pool_size)


def _token_verifier(
    settings: ServiceSettings, tokens: "Literal[True] | KeySource | TokenVerifier"
) -> TokenVerifier:
    if isinstance(tokens, TokenVerifier):
        return tokens
    keys = JwksClient(str(settings.jwks_url)) if tokens is True else tokens
    return token_verifier(settings, keys)
