"""The login flow: one code path, one answer and a similar cost for every kind of failure."""

import base64
import binascii
import json
from dataclasses import dataclass

from auth.errors import InvalidCredentialsError
from auth.keys import PUBLIC_KEY_ALGORITHM, KeyRing
from auth.login.nonces import NonceStore
from auth.login.public_key_rate_limit import PublicKeyRateLimit
from auth.login.throttle import LoginThrottle
from auth.sessions.service import IssuedTokens, SessionService
from auth.users.models import User
from auth.users.passwords import Passwords
from auth.users.repository import UserRepository, username_key
from common.clock import utcnow

# A base64 string this long cannot hold one RSA block of any key we accept.
MAX_CIPHERTEXT_CHARS = 2048


@dataclass(frozen=True)
class PublicKeyOffer:
    kid: str
    algorithm: str
    public_key: str
    nonce: str
    nonce_expires_in: int


@dataclass(frozen=True)
class Envelope:
    """What an RSA-sealed login envelope holds, once it decrypted and looked right."""

    password: str
    nonce: str
    username: str


@dataclass(frozen=True)
class LoginAttempt:
    username: str
    ciphertext: str
    ip: str
    user_agent: str


class PublicKeyOffers:
    """`GET /keys/public`: the key and a fresh nonce, and nothing a login needs besides."""

    def __init__(
        self, *, keys: KeyRing, nonces: NonceStore, public_key_limit: PublicKeyRateLimit
    ) -> None:
        self.keys = keys
        self.nonces = nonces
        self.public_key_limit = public_key_limit

    async def offer(self, ip: str) -> PublicKeyOffer:
        """The key and a fresh nonce; over `ip`'s limit, `PublicKeyRateLimitedError`, no nonce."""
        nonce = await self.public_key_limit.issue_nonce(ip)
        return PublicKeyOffer(
            kid=self.keys.kid,
            algorithm=PUBLIC_KEY_ALGORITHM,
            public_key=self.keys.public_pem,
            nonce=nonce,
            nonce_expires_in=self.nonces.ttl_seconds,
        )


class LoginService:
    def __init__(
        self,
        *,
        keys: KeyRing,
        nonces: NonceStore,
        public_key_limit: PublicKeyRateLimit,
        throttle: LoginThrottle,
        passwords: Passwords,
        users: UserRepository,
        sessions: SessionService,
        max_password_length: int,
    ) -> None:
        self.keys = keys
        self.nonces = nonces
        self.public_key_limit = public_key_limit
        self.throttle = throttle
        self.passwords = passwords
        self.users = users
        self.sessions = sessions
        self.max_password_length = max_password_length

    async def offer_public_key(self, ip: str) -> PublicKeyOffer:
        """The key and a fresh nonce; over `ip`'s limit, `PublicKeyRateLimitedError`, no nonce."""
        offers = PublicKeyOffers(
            keys=self.keys, nonces=self.nonces, public_key_limit=self.public_key_limit
        )
        return await offers.offer(ip)

    async def login(self, attempt: LoginAttempt) -> IssuedTokens:
        """Check the RSA-sealed password; every failure is the same `InvalidCredentialsError`.

        The envelope is opened first, so that the throttle's counters are read and its nonce is
        spent in one Redis round trip; a throttled attempt spends its nonce too.
        """
        envelope = await self._unseal(attempt.ciphertext)
        nonce = self.nonces.key_of(envelope.nonce) if envelope is not None else None
        fresh = await self.throttle.check(username_key(attempt.username), attempt.ip, consume=nonce)
        password = None
        # The envelope names the username it was sealed for, and it must be the body's: an
        # envelope captured on its way to one account cannot log in to another that happens to
        # share the password (its nonce is spent either way).
        if envelope is not None and fresh and envelope.username == attempt.username:
            password = envelope.password
        return await self._finish(attempt.username, password, attempt.ip, attempt.user_agent)

    async def login_plain(
        self, username: str, password: str, *, ip: str, user_agent: str
    ) -> IssuedTokens:
        """Swagger UI's form login (local only): same checks and throttling, no envelope."""
        await self.throttle.check(username_key(username), ip)
        usable = password if 0 < len(password) <= self.max_password_length else None
        return await self._finish(username, usable, ip, user_agent)

    async def _finish(
        self, username: str, password: str | None, ip: str, user_agent: str
    ) -> IssuedTokens:
        key = username_key(username)
        user = await self.check_password(username, password)
        if user is None:
            await self.throttle.record_failure(key, ip)
            raise InvalidCredentialsError
        # The throttle forgets the failures in the transaction that starts the session.
        return await self.sessions.start(
            user,
            user_agent=user_agent,
            ip=ip,
            alongside=self.throttle.success_writes(key, ip),
        )

    async def check_password(self, username: str, password: str | None) -> User | None:
        """The active user whose password this is, or None; always pays for one hash check.

        Upgrades the stored hash when the hashing parameters have changed since it was made.
        """
        user = await self.users.get_by_username(username)
        stored = user.password_hash if user is not None else None
        result = await self.passwords.verify(stored, password or "")
        if user is None or password is None or not result.valid or not user.is_active:
            return None
        if result.needs_rehash:
            user.password_hash = await self.passwords.hash(password)
            user.updated_at = utcnow()
            await self.users.add(user)
        return user

    async def _unseal(self, ciphertext: str) -> Envelope | None:
        """The envelope's password, nonce and username; None for anything off."""
        if len(ciphertext) > MAX_CIPHERTEXT_CHARS:
            return None
        try:
            sealed = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(sealed) != self.keys.private_key.key_size // 8:
            return None
        try:
            plaintext = await self.keys.decrypt(sealed)
            envelope = json.loads(plaintext.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(envelope, dict):
            return None
        password, nonce = envelope.get("password"), envelope.get("nonce")
        sealed_for = envelope.get("username")
        if not isinstance(password, str) or not isinstance(nonce, str):
            return None
        if not isinstance(sealed_for, str):
            return None
        if not password or len(password) > self.max_password_length:
            return None
        return Envelope(password=password, nonce=nonce, username=sealed_for)
