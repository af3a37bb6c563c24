"""Settings of the auth service (`AUTH_` prefix; shared ones come from `SqlSettings`)."""

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, model_validator

from common.settings import Environment, SqlSettings, service_config

Network = IPv4Network | IPv6Network

# OWASP's Password Storage Cheat Sheet rates these Argon2id settings (KiB of memory, passes, one
# lane) as equally strong, trading memory for passes. A configured setting must be at least one
# of them in both memory and passes; the default is the one that costs the least CPU per
# verification where `python -m bench auth_login` measured it (see the README's "Auth login").
OWASP_ARGON2ID_SETTINGS = (
    (46 * 1024, 1),
    (19 * 1024, 2),
    (12 * 1024, 3),
    (9 * 1024, 4),
    (7 * 1024, 5),
)
DEFAULT_ARGON2ID_SETTING = (7 * 1024, 5)


def owasp_strength(memory_kib: int, time_cost: int) -> bool:
    """True when (memory, passes) is at least as strong as one of OWASP's equal settings."""
    return any(memory_kib >= m and time_cost >= t for m, t in OWASP_ARGON2ID_SETTINGS)


class AuthSettings(SqlSettings):
    model_config = service_config("AUTH_")

    database_url: str = "sqlite+aiosqlite:///.auth/auth.db"
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

    argon2_memory_kib: int = Field(DEFAULT_ARGON2ID_SETTING[0], ge=7 * 1024)
    argon2_time_cost: int = Field(DEFAULT_ARGON2ID_SETTING[1], ge=1)
    argon2_parallelism: int = Field(1, ge=1)
    password_min_length: int = Field(8, ge=8)
    password_max_length: int = Field(128, ge=64, le=1024)

    @model_validator(mode="after")
    def _argon2_as_strong_as_owasp(self) -> "AuthSettings":
        """Fail closed on a setting weaker than every one OWASP rates as the minimum, except
        under ENVIRONMENT=test: test suites hash thousands of throwaway passwords, and only
        there is a cheaper hash worth its risk (no deployment runs with that environment)."""
        if self.environment is Environment.TEST:
            return self
        if not owasp_strength(self.argon2_memory_kib, self.argon2_time_cost):
            rows = ", ".join(f"{m // 1024} MiB/{t}" for m, t in OWASP_ARGON2ID_SETTINGS)
            raise ValueError(
                "AUTH_ARGON2_MEMORY_KIB / AUTH_ARGON2_TIME_COST: "
                f"{self.argon2_memory_kib} KiB with {self.argon2_time_cost} passes is weaker "
                f"than every OWASP setting for Argon2id ({rows}); choose one of them or more"
            )
        return self

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
