"""Request dependencies of the auth service, declared once as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from auth.keys import KeyRing
from auth.login.client_ip import client_ip
from auth.login.nonces import NonceStore
from auth.login.public_key_rate_limit import PublicKeyRateLimit
from auth.login.service import LoginService, PublicKeyOffers
from auth.login.throttle import LoginThrottle, ThrottlePolicy
from auth.sessions.access_tokens import AccessTokenSigner
from auth.sessions.service import SessionPolicy, SessionService
from auth.settings import AuthSettings
from auth.users.passwords import PasswordPolicy, Passwords
from auth.users.repository import UserRepository
from auth.users.service import UserService
from common.unit_of_work import SessionDep


async def get_settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings
    return settings


async def get_redis(request: Request) -> "Redis":
    redis: Redis = request.app.state.redis
    return redis


async def get_keys(request: Request) -> KeyRing:
    keys: KeyRing = request.app.state.keys
    return keys


SettingsDep = Annotated[AuthSettings, Depends(get_settings)]
RedisDep = Annotated["Redis", Depends(get_redis)]
KeysDep = Annotated[KeyRing, Depends(get_keys)]


async def get_client_ip(request: Request, settings: SettingsDep) -> str:
    return client_ip(request, settings.trusted_proxies)


async def get_user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


ClientIpDep = Annotated[str, Depends(get_client_ip)]
UserAgentDep = Annotated[str, Depends(get_user_agent)]


async def get_session_service(
    request: Request, redis: RedisDep, settings: SettingsDep
) -> SessionService:
    signer: AccessTokenSigner = request.app.state.signer
    return SessionService(redis, signer, session_policy(settings))


SessionServiceDep = Annotated[SessionService, Depends(get_session_service)]


async def get_user_repository(session: SessionDep) -> UserRepository:
    return UserRepository(session)


UserRepositoryDep = Annotated[UserRepository, Depends(get_user_repository)]


async def get_login_service(
    request: Request,
    redis: RedisDep,
    settings: SettingsDep,
    keys: KeysDep,
    users: UserRepositoryDep,
    sessions: SessionServiceDep,
) -> LoginService:
    nonces = NonceStore(redis, ttl_seconds=settings.nonce_ttl_seconds)
    return LoginService(
        keys=keys,
        nonces=nonces,
        public_key_limit=PublicKeyRateLimit(
            redis, nonces, per_minute=settings.public_key_requests_per_minute
        ),
        throttle=LoginThrottle(redis, throttle_policy(settings)),
        passwords=request.app.state.passwords,
        users=users,
        sessions=sessions,
        max_password_length=settings.password_max_length,
    )


async def get_public_key_offers(
    redis: RedisDep, settings: SettingsDep, keys: KeysDep
) -> PublicKeyOffers:
    """What `GET /keys/public` needs, without the SQL session and the session service that a
    login's dependencies open."""
    nonces = NonceStore(redis, ttl_seconds=settings.nonce_ttl_seconds)
    return PublicKeyOffers(
        keys=keys,
        nonces=nonces,
        public_key_limit=PublicKeyRateLimit(
            redis, nonces, per_minute=settings.public_key_requests_per_minute
        ),
    )


async def get_user_service(
    request: Request,
    redis: RedisDep,
    settings: SettingsDep,
    users: UserRepositoryDep,
    sessions: SessionServiceDep,
) -> UserService:
    return UserService(
        users=users,
        passwords=request.app.state.passwords,
        policy=password_policy(settings),
        sessions=sessions,
        redis=redis,
        access_ttl=settings.access_token_ttl_seconds,
    )


LoginServiceDep = Annotated[LoginService, Depends(get_login_service)]
KeyOffersDep = Annotated[PublicKeyOffers, Depends(get_public_key_offers)]
UserServiceDep = Annotated[UserService, Depends(get_user_service)]


def session_policy(settings: AuthSettings) -> SessionPolicy:
    return SessionPolicy(
        access_ttl=settings.access_token_ttl_seconds,
        refresh_ttl=settings.refresh_token_ttl_seconds,
        session_max_age=settings.session_max_age_seconds,
        reuse_grace=settings.refresh_reuse_grace_seconds,
    )


def throttle_policy(settings: AuthSettings) -> ThrottlePolicy:
    return ThrottlePolicy(
        user_free_failures=settings.throttle_user_free_failures,
        ip_free_failures=settings.throttle_ip_free_failures,
        window_seconds=settings.throttle_window_seconds,
        base_delay_seconds=settings.throttle_base_delay_seconds,
        max_delay_seconds=settings.throttle_max_delay_seconds,
    )


def password_policy(settings: AuthSettings) -> PasswordPolicy:
    return PasswordPolicy(
        min_length=settings.password_min_length, max_length=settings.password_max_length
    )


def password_hasher(settings: AuthSettings) -> Passwords:
    return Passwords(
        memory_kib=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
    )
