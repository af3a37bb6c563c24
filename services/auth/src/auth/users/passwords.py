"""Argon2id password hashing (in a worker thread) and the password policy."""

import asyncio
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from auth.users.common_passwords import COMMON_PASSWORDS
from common.errors import InvalidInputError


@dataclass(frozen=True)
class PasswordCheck:
    valid: bool
    needs_rehash: bool = False


class Passwords:
    """Hashes and verifies passwords without blocking the event loop."""

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # Verified when the user does not exist, so an unknown name costs as much as a real one.
        self._dummy_hash = self._hasher.hash("not-a-real-password-only-burns-time")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> PasswordCheck:
        return await asyncio.to_thread(self._verify_sync, password_hash, password)

    def _verify_sync(self, password_hash: str | None, password: str) -> PasswordCheck:
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
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
