"""Password hashes: standard Argon2id strings, whichever library computes them."""

import pytest
from argon2 import PasswordHasher, Type

from auth.users.passwords import PasswordCheck, PasswordPolicy, Passwords
from common.errors import InvalidInputError

OWASP = {"memory_kib": 19 * 1024, "time_cost": 2, "parallelism": 1}
# The service's default since the benchmark chose it: OWASP's 7 MiB, 5 passes.
DEFAULT = {"memory_kib": 7 * 1024, "time_cost": 5, "parallelism": 1}


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(**OWASP)


async def test_a_new_hash_is_a_phc_string_with_the_configured_parameters(
    passwords: Passwords,
) -> None:
    hashed = await passwords.hash("correct horse battery")

    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await passwords.verify(hashed, "correct horse battery")).valid
    assert not (await passwords.verify(hashed, "correct horse battery!")).valid


async def test_a_fresh_hash_does_not_ask_to_be_rehashed(passwords: Passwords) -> None:
    hashed = await passwords.hash("correct horse battery")

    check = await passwords.verify(hashed, "correct horse battery")

    assert check == PasswordCheck(valid=True, needs_rehash=False)


async def test_a_hash_made_by_argon2_cffi_verifies(passwords: Passwords) -> None:
    """Hashes stored before libsodium computed them stay valid, and are not rehashed for it."""
    legacy = PasswordHasher(
        time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
    ).hash("correct horse battery")

    check = await passwords.verify(legacy, "correct horse battery")

    assert check.valid
    assert not check.needs_rehash
    assert not (await passwords.verify(legacy, "wrong horse battery")).valid


async def test_a_hash_made_by_libsodium_verifies_with_argon2_cffi(passwords: Passwords) -> None:
    """The stored format is the portable one: any Argon2 library can take the database over."""
    hashed = await passwords.hash("correct horse battery")

    assert PasswordHasher().verify(hashed, "correct horse battery")


async def test_multi_lane_and_weaker_hashes_verify_and_ask_for_an_upgrade(
    passwords: Passwords,
) -> None:
    for legacy in (
        PasswordHasher(time_cost=1, memory_cost=8192, parallelism=4).hash("lanes lanes lanes"),
        PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("lanes lanes lanes"),
        PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1, type=Type.I).hash(
            "lanes lanes lanes"
        ),
    ):
        check = await passwords.verify(legacy, "lanes lanes lanes")
        assert check.valid, legacy
        assert check.needs_rehash, legacy
        assert not (await passwords.verify(legacy, "lanes lanes lane")).valid, legacy


async def test_a_service_configured_for_several_lanes_hashes_with_them() -> None:
    lanes = Passwords(memory_kib=8192, time_cost=1, parallelism=2)

    hashed = await lanes.hash("correct horse battery")

    assert "$m=8192,t=1,p=2$" in hashed
    check = await lanes.verify(hashed, "correct horse battery")
    assert check == PasswordCheck(valid=True, needs_rehash=False)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
        "$argon2id$v=19$m=19456,t=2,p=1$" + "A" * 200,
        "$bcrypt$whatever",
    ],
)
async def test_a_garbled_stored_hash_is_a_mismatch_not_an_error(
    passwords: Passwords, stored: str
) -> None:
    assert not (await passwords.verify(stored, "correct horse battery")).valid


async def test_an_unknown_user_pays_for_a_hash_and_never_matches(passwords: Passwords) -> None:
    assert not (await passwords.verify(None, "not-a-real-password-only-burns-time")).valid


async def test_a_password_that_is_not_valid_unicode_never_matches(passwords: Passwords) -> None:
    hashed = await passwords.hash("correct horse battery")

    assert not (await passwords.verify(hashed, "correct horse \ud800")).valid


def test_the_policy_refuses_a_password_that_is_not_valid_unicode() -> None:
    with pytest.raises(InvalidInputError) as refused:
        PasswordPolicy(min_length=8, max_length=64).check("lone surrogate \ud800")

    assert refused.value.instance_code == "password_invalid_text"


@pytest.mark.parametrize("setting", [OWASP, DEFAULT], ids=["19MiB-t2", "7MiB-t5"])
async def test_libsodium_and_argon2_cffi_verify_each_others_hashes(setting: dict[str, int]) -> None:
    """Both produce the same PHC `$argon2id$` string: either can verify what the other stored,
    at the old default and at the new one, and neither asks for a rehash of a current hash."""
    service = Passwords(**setting)
    cffi = PasswordHasher(
        time_cost=setting["time_cost"],
        memory_cost=setting["memory_kib"],
        parallelism=1,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )
    by_service = await service.hash("correct horse battery")
    by_cffi = cffi.hash("correct horse battery")

    assert by_service.split("$")[:4] == by_cffi.split("$")[:4]
    assert cffi.verify(by_service, "correct horse battery")
    assert await service.verify(by_cffi, "correct horse battery") == PasswordCheck(
        valid=True, needs_rehash=False
    )
    assert not (await service.verify(by_cffi, "correct horse battery!")).valid


async def test_a_hash_of_the_previous_default_asks_for_an_upgrade_to_the_new_one() -> None:
    previous = await Passwords(**OWASP).hash("correct horse battery")
    current = Passwords(**DEFAULT)

    check = await current.verify(previous, "correct horse battery")

    assert check == PasswordCheck(valid=True, needs_rehash=True)
    assert (await current.hash("correct horse battery")).startswith(
        "$argon2id$v=19$m=7168,t=5,p=1$"
    )
