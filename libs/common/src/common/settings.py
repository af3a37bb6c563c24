"""The settings base every service builds on.

Shared infrastructure (environment, Redis, JWT verification) is read from unprefixed variables so
one `.env` serves the whole mesh; each service adds its own fields under its `env_prefix`
(`AUTH_DATABASE_URL`, ...).
"""

import sys
import typing
from enum import StrEnum
from typing import Any, Self

from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.body_limit import DEFAULT_MAX_REQUEST_BODY_BYTES
from common.tokens import DEFAULT_ACCESS_TOKEN_TTL_SECONDS

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "change_me", "secret", "password", "minioadmin"}
)


class Environment(StrEnum):
    LOCAL = "local"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set `model_config = service_config("AUTH_")`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Environment = Field(Environment.LOCAL, validation_alias="ENVIRONMENT")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    log_json: bool = Field(True, validation_alias="LOG_JSON")
    cors_origins: list[str] = Field(default_factory=list, validation_alias="CORS_ORIGINS")
    max_request_body_bytes: int = Field(
        DEFAULT_MAX_REQUEST_BODY_BYTES, ge=1024, validation_alias="MAX_REQUEST_BODY_BYTES"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")
    jwks_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8000/auth/.well-known/jwks.json"),
        validation_alias="AUTH_JWKS_URL",
    )
    # rbac's address, for services that judge open sockets again when roles change
    # (`common.live_events`); unset, a role change does not close sockets (logout still does).
    rbac_url: AnyHttpUrl | None = Field(None, validation_alias="RBAC_URL")
    # Where Swagger UI's username/password login posts (ENVIRONMENT=local only): an absolute
    # gateway path, so it works from every service's /docs and from the portal. Empty: not offered.
    swagger_login_url: str = Field("/auth/login/swagger", validation_alias="SWAGGER_LOGIN_URL")
    jwt_issuer: str = Field("async-fastapi-multidb", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field("async-fastapi-multidb", validation_alias="JWT_AUDIENCE")
    # One setting under auth's name: auth issues tokens for this long, and every verifier
    # refuses a token that claims to live longer. (The field name is accepted too, so tests
    # can pass it as a keyword.)
    access_token_ttl_seconds: int = Field(
        DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
        ge=30,
        le=24 * 3600,
        validation_alias=AliasChoices("AUTH_ACCESS_TOKEN_TTL_SECONDS", "access_token_ttl_seconds"),
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment is Environment.LOCAL:
            return self
        for name, field in type(self).model_fields.items():
            if not _holds_secret(field.annotation):
                continue
            value = getattr(self, name)
            if value is None or value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    f"{env_name(type(self), name)} must be set to a real secret "
                    f"when ENVIRONMENT={self.environment.value}"
                )
        return self


class SqlSettings(ServiceSettings):
    """A service with its own SQL database: `{PREFIX}DATABASE_URL` (each service sets its
    default) and `{PREFIX}SQL_POOL_SIZE`."""

    database_url: str
    sql_pool_size: int = Field(10, ge=1, le=100)


class MongoSettings(ServiceSettings):
    """A service with a MongoDB database: the shared `MONGO_URL`, and `{PREFIX}MONGO_DATABASE`
    (each service sets its default)."""

    mongo_url: str = Field("mongodb://127.0.0.1:27017", validation_alias="MONGO_URL")
    mongo_database: str


def service_config(prefix: str) -> SettingsConfigDict:
    """The model config of a service's settings class, with its env prefix."""
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", frozen=True)


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(arg is SecretStr for arg in typing.get_args(annotation))


def env_name(cls: type[BaseSettings], field_name: str) -> str:
    """The environment variable a field is read from."""
    field = cls.model_fields[field_name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        alias = alias.choices[0]
    if isinstance(alias, str):
        return alias
    prefix = cls.model_config.get("env_prefix") or ""
    return f"{prefix}{field_name}".upper()


def load_settings[S: BaseSettings](cls: type[S]) -> S:
    """Build settings, or stop the process with one line naming the bad setting."""
    try:
        return cls()
    except ValidationError as exc:
        sys.exit(describe_settings_error(cls, exc))


def describe_settings_error(cls: type[BaseSettings], exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = first.get("loc") or ()
    field = str(loc[0]) if loc else ""
    names = {n: env_name(cls, n) for n in cls.model_fields}
    aliases = {v.lower(): v for v in names.values()}
    setting = names.get(field) or aliases.get(field.lower()) or field
    message = first.get("msg", "invalid value")
    if setting:
        return f"invalid setting {setting}: {message}"
    return f"invalid settings: {message}"
