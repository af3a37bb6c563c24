"""Settings: prefixed service fields, shared unprefixed fields, secrets refused outside local."""

import subprocess
import sys

import pytest
from pydantic import Field, SecretStr

from common.settings import (
    Environment,
    ServiceSettings,
    describe_settings_error,
    env_name,
    service_config,
)


class DemoSettings(ServiceSettings):
    model_config = service_config("DEMO_")

    database_url: str = "sqlite+aiosqlite:///demo.db"
    api_secret: SecretStr | None = None
    workers: int = Field(2, ge=1)


def test_service_fields_use_the_prefix_and_shared_fields_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://db/demo")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://wrong/one")
    settings = DemoSettings()
    assert settings.database_url == "postgresql://db/demo"
    assert settings.redis_url == "redis://cache:6379/1"


def test_env_names_are_what_operators_set() -> None:
    assert env_name(DemoSettings, "database_url") == "DEMO_DATABASE_URL"
    assert env_name(DemoSettings, "redis_url") == "REDIS_URL"
    assert env_name(DemoSettings, "jwks_url") == "AUTH_JWKS_URL"


def test_local_environment_accepts_a_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "local")
    assert DemoSettings().environment is Environment.LOCAL


@pytest.mark.parametrize("value", [None, "changeme", "  ChangeThis ", "secret", ""])
def test_production_refuses_missing_or_placeholder_secrets(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    if value is not None:
        monkeypatch.setenv("DEMO_API_SECRET", value)
    with pytest.raises(ValueError, match="DEMO_API_SECRET must be set to a real secret"):
        DemoSettings()


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DEMO_API_SECRET", "9f2c1e7d0b8a4c3f")
    settings = DemoSettings()
    assert settings.api_secret is not None
    assert "9f2c" not in repr(settings)


def test_a_malformed_setting_is_described_in_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_WORKERS", "many")
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        DemoSettings()
    message = describe_settings_error(DemoSettings, caught.value)
    assert message.startswith("invalid setting DEMO_WORKERS:")
    assert "\n" not in message


@pytest.mark.process
def test_load_settings_stops_the_process_with_that_line() -> None:
    code = (
        "from common.settings import ServiceSettings, load_settings\n"
        "load_settings(ServiceSettings)\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        env={"ENVIRONMENT": "staging", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("invalid setting ENVIRONMENT:")
