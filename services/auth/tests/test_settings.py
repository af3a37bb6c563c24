"""The Argon2id setting: OWASP's least-CPU equal setting by default, nothing weaker accepted."""

from typing import Any

import pytest
from pydantic import ValidationError

from auth.settings import OWASP_ARGON2ID_SETTINGS, AuthSettings


def _settings(**values: Any) -> AuthSettings:
    return AuthSettings.model_validate({"environment": "local", **values})


def test_the_default_is_owasps_7_mib_5_passes_setting() -> None:
    settings = _settings()

    assert (settings.argon2_memory_kib, settings.argon2_time_cost) == (7 * 1024, 5)
    assert (7 * 1024, 5) in OWASP_ARGON2ID_SETTINGS
    assert settings.argon2_parallelism == 1


@pytest.mark.parametrize(
    ("memory_kib", "time_cost"),
    [*OWASP_ARGON2ID_SETTINGS, (8 * 1024, 5), (19 * 1024, 3), (64 * 1024, 1)],
)
def test_every_owasp_setting_and_anything_stronger_is_accepted(
    memory_kib: int, time_cost: int
) -> None:
    settings = _settings(argon2_memory_kib=memory_kib, argon2_time_cost=time_cost)

    assert (settings.argon2_memory_kib, settings.argon2_time_cost) == (memory_kib, time_cost)


@pytest.mark.parametrize(
    ("memory_kib", "time_cost"),
    [(7 * 1024, 4), (8 * 1024, 1), (9 * 1024, 3), (12 * 1024, 2), (19 * 1024, 1)],
)
def test_a_setting_weaker_than_every_owasp_one_refuses_to_start(
    memory_kib: int, time_cost: int
) -> None:
    with pytest.raises(ValidationError, match="weaker than every OWASP setting"):
        _settings(argon2_memory_kib=memory_kib, argon2_time_cost=time_cost)


@pytest.mark.parametrize("environment", ["local", "production"])
def test_a_weak_setting_is_refused_wherever_a_deployment_can_run(environment: str) -> None:
    with pytest.raises(ValidationError, match="weaker than every OWASP setting"):
        AuthSettings.model_validate(
            {
                "environment": environment,
                "argon2_memory_kib": 8 * 1024,
                "argon2_time_cost": 1,
                "private_key": "unused",
            }
        )


def test_only_the_test_environment_may_hash_cheaply(private_key_pem: str) -> None:
    settings = AuthSettings.model_validate(
        {
            "environment": "test",
            "argon2_memory_kib": 8 * 1024,
            "argon2_time_cost": 1,
            "private_key": private_key_pem,
        }
    )

    assert (settings.argon2_memory_kib, settings.argon2_time_cost) == (8 * 1024, 1)
