"""Argon2id password hashing (in a worker thread) and the password policy.

Hashes are standard PHC strings (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`). Single-lane
hashes are computed by libsodium (PyNaCl), whose AVX2/AVX-512 Argon2 core is markedly faster than
the portable one in argon2-cffi for the same parameters and the same output, so a login costs less
CPU without weakening the hash. argon2-cffi stays the authority on the format: it reads the
parameters of stored hashes (rehash decisions) and handles anything libsodium cannot (p > 1).
"""

import asyncio
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash.argon2id
from argon2 import Parameters, PasswordHasher, Type, extract_parameters
from argon2.exceptions import VerificationError

from auth.users.common_passwords import COMMON_PASSWORDS
from common.errors import InvalidInputError
from common.text import utf8_encodable


@dataclass(frozen=True)
class PasswordCheck:
    valid: bool
    needs_rehash: bool = False


# libsodium's argon2id string format: a 16-byte salt and a 32-byte hash, one lane.
_SODIUM_SALT_LEN = 16
_SODIUM_HASH_LEN = 32


def _sodium_can_verify(parameters: Parameters) -> bool:
    return parameters.type is Type.ID and parameters.parallelism == 1


class Passwords:
    """Hashes and verifies passwords without blocking the event loop."""

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=_SODIUM_HASH_LEN,
            salt_len=_SODIUM_SALT_LEN,
            type=Type.ID,
        )
        self._memory_kib = memory_kib
        self._time_cost = time_cost
        self._sodium_hashes = parallelism == 1
        # Verified when the user does not exist, so an unknown name costs as much as a real one.
        self._dummy_hash = self._hash_sync("not-a-real-password-only-burns-time")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash_sync, password)

    def _hash_sync(self, password: str) -> str:
        if not self._sodium_hashes:
            return self._hasher.hash(password)
        encoded = nacl.pwhash.argon2id.str(
            password.encode(), opslimit=self._time_cost, memlimit=self._memory_kib * 1024
        )
        return encoded.decode("ascii")

    async def verify(self, password_hash: str | None, password: str) -> PasswordCheck:
        return await asyncio.to_thread(self._verify_sync, password_hash, password)

    def _verify_sync(self, password_hash: str | None, password: str) -> PasswordCheck:
        stored = password_hash or self._dummy_hash
        try:
            parameters = extract_parameters(stored)
            if _sodium_can_verify(parameters):
                nacl.pwhash.argon2id.verify(stored.encode("ascii"), password.encode())
            else:
                self._hasher.verify(stored, password)
        # ValueError covers a malformed stored hash (InvalidHashError, libsodium's refusal) and
        # a password that is not encodable (a lone surrogate from JSON): both are "no match".
        except (ValueError, VerificationError, nacl.exceptions.CryptoError):
            return PasswordCheck(valid=False)
        if password_hash is None:
            return PasswordCheck(valid=False)
        return PasswordCheck(
            valid=True, needs_rehash=self._hasher.check_needs_rehash(password_hash)
        )


class PasswordPolicy:
    """Length only (no composition rules), plus a refusal of the commonest passwords."""

    def __init__(self, *, min_length: int, max_length: int) -> None:
        self.min_length = min_length
        self.max_length = max_length

    def check(self, password: str, *, username: str = "", field: str = "password") -> None:
        if not utf8_encodable(password):
            raise InvalidInputError(
                field, "must be valid Unicode text", code="password_invalid_text"
            )
        if len(password) < self.min_length:
            raise InvalidInputError(
                field, f"must be at least {self.min_length} characters", code="password_too_short"
            )
        if len(password) > self.max_length:
            raise InvalidInputError(
                field, f"must be at most {self.max_length} characters", code="password_too_long"
            )
        lowered = password.casefold()
        if lowered in COMMON_PASSWORDS or (username and lowered == username.casefold()):
            raise InvalidInputError(
                field, "is too common or too easy to guess", code="password_too_common"
            )
