"""Settings of the auth service (`AUTH_` prefix; shared ones come from `ServiceSettings`)."""

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, model_validator

from common.settings import ServiceSettings, service_config

Network = IPv4Network | IPv6Network


class AuthSettings(ServiceSettings):
    model_config = service_config("AUTH_")

    database_url: str = "sqlite+aiosqlite:///.auth/auth.db"
    sql_pool_size: int = Field(10, ge=1, le=100)
    # Local only: the RSA key pair is generated here once and reused by every restart.
    state_dir: Path = Path(".auth")
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    # During a key rotation the JWKS keeps publishing the previous key for its tokens.
    previous_public_key: str | None = None
    previous_public_key_file: Path | None = None
    rsa_key_bits: int = Field(3072, ge=2048, le=8192)

    refresh_token_ttl_seconds: int = Field(7 * 24 * 3600, ge=60)
    session_max_age_seconds: int = Field(30 * 24 * 3600, ge=60)
    refresh_reuse_grace_seconds: float = Field(
        2.0,
        ge=0,
        le=60,
        validation_alias=AliasChoices(
            "AUTH_REFRESH_REUSE_GRACE_SECONDS", "REFRESH_REUSE_GRACE_SECONDS"
        ),
    )
    nonce_ttl_seconds: int = Field(120, ge=5, le=3600)
    # A login fetches one key, so 300 a minute lets that many people behind one NAT log in within
    # the same minute; one address then keeps at most 600 nonces alive (120 s TTL), under 100 KiB.
    public_key_requests_per_minute: int = Field(300, ge=1)

    throttle_user_free_failures: int = Field(5, ge=1)
    throttle_ip_free_failures: int = Field(20, ge=1)
    throttle_window_seconds: int = Field(15 * 60, ge=1)
    throttle_base_delay_seconds: int = Field(2, ge=1)
    throttle_max_delay_seconds: int = Field(120, ge=1)
    trusted_proxies: list[Network] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32"), ip_network("::1/128")]
    )

    argon2_memory_kib: int = Field(19 * 1024, ge=8 * 1024)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1)
    password_min_length: int = Field(8, ge=8)
    password_max_length: int = Field(128, ge=64, le=1024)

    @model_validator(mode="before")
    @classmethod
    def _read_key_files(cls, data: Any) -> Any:
        """`*_FILE` variants fill the value they name, so the secret checks see it."""
        if not isinstance(data, dict):
            return data
        for field, file_field, env in (
            ("private_key", "private_key_file", "AUTH_PRIVATE_KEY_FILE"),
            ("previous_public_key", "previous_public_key_file", "AUTH_PREVIOUS_PUBLIC_KEY_FILE"),
        ):
            path = data.get(file_field)
            if data.get(field) or not path:
                continue
            try:
                data[field] = Path(path).read_text()
            except OSError as exc:
                raise ValueError(f"{env}: cannot read {path}: {exc.strerror}") from exc
        return data
