"""Account administration: create, list, change, disable and delete users.

Every change that could leave a stolen token alive (disable, delete, password change) ends the
user's sessions and is announced, so the gateway refuses the old tokens at once.
"""

import uuid

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError

from auth.errors import EmailTakenError, SelfLockoutError, UsernameTakenError, UserNotFoundError
from auth.sessions.service import SessionService
from auth.users.models import User
from auth.users.passwords import PasswordPolicy, Passwords
from auth.users.repository import UserRepository, username_key
from auth.users.schemas import NOT_NULLABLE, UserCreate, UserUpdate
from common import user_events
from common.clock import utcnow
from common.pagination import PageParams
from common.patch import refuse_nulls
from common.user_events import UserEventKind


class UserService:
    def __init__(
        self,
        *,
        users: UserRepository,
        passwords: Passwords,
        policy: PasswordPolicy,
        sessions: SessionService,
        redis: "Redis",
        access_ttl: int,
    ) -> None:
        self.users = users
        self.passwords = passwords
        self.policy = policy
        self.sessions = sessions
        self.redis = redis
        self.access_ttl = access_ttl

    async def create(self, data: UserCreate) -> User:
        self.policy.check(data.password, username=data.username)
        if await self.users.get_by_username(data.username) is not None:
            raise UsernameTakenError(f"The username {data.username!r} is taken.")
        if data.email is not None and await self.users.email_taken(data.email):
            raise EmailTakenError("That email address belongs to another user.")
        user = User(
            username=data.username,
            username_key=username_key(data.username),
            name=data.name,
            email=data.email,
            password_hash=await self.passwords.hash(data.password),
            is_admin=data.is_admin,
        )
        return await self._save(user)

    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise UserNotFoundError
        return user

    async def page(self, params: PageParams) -> tuple[list[User], int]:
        return await self.users.page(params)

    async def update(self, user_id: uuid.UUID, data: UserUpdate, *, actor_id: str) -> User:
        user = await self.get(user_id)
        changes = data.model_dump(exclude_unset=True)
        refuse_nulls(changes, NOT_NULLABLE)
        if str(user.id) == actor_id and (
            changes.get("is_active") is False or changes.get("is_admin") is False
        ):
            raise SelfLockoutError("You cannot disable yourself or drop your own admin role.")
        if data.password is not None:
            self.policy.check(data.password, username=user.username)
            user.password_hash = await self.passwords.hash(data.password)
        if "email" in changes and data.email != user.email:
            if data.email is not None and await self.users.email_taken(
                data.email, other_than=user.id
            ):
                raise EmailTakenError("That email address belongs to another user.")
            user.email = data.email
        if data.name is not None:
            user.name = data.name
        was_active, was_admin = user.is_active, user.is_admin
        if data.is_active is not None:
            user.is_active = data.is_active
        if data.is_admin is not None:
            user.is_admin = data.is_admin
        user.updated_at = utcnow()
        user = await self._save(user)
        await self._announce(user, was_active=was_active, was_admin=was_admin, data=data)
        return user

    async def delete(self, user_id: uuid.UUID, *, actor_id: str) -> None:
        user = await self.get(user_id)
        if str(user.id) == actor_id:
            raise SelfLockoutError("You cannot delete your own account.")
        await self.users.delete(user)
        uid = str(user.id)
        await self.sessions.revoke_all(uid)
        # Long enough to outlive every access token the user still holds.
        await user_events.mark_disabled(self.redis, uid, ttl_seconds=self.access_ttl)
        await user_events.publish_user_event(self.redis, uid, UserEventKind.DELETED)

    async def _announce(
        self, user: User, *, was_active: bool, was_admin: bool, data: UserUpdate
    ) -> None:
        uid = str(user.id)
        if was_active and not user.is_active:
            await user_events.mark_disabled(self.redis, uid)
            await self.sessions.revoke_all(uid)
            await user_events.publish_user_event(self.redis, uid, UserEventKind.DISABLED)
            return
        if not was_active and user.is_active:
            await user_events.clear_disabled(self.redis, uid)
            await user_events.publish_user_event(self.redis, uid, UserEventKind.ENABLED)
            return
        # A new password or a lost admin role must not leave old tokens carrying the old rights.
        if data.password is not None or (was_admin and not user.is_admin):
            await self.sessions.revoke_all(uid)
        await user_events.publish_user_event(self.redis, uid, UserEventKind.UPDATED)

    async def _save(self, user: User) -> User:
        try:
            return await self.users.add(user)
        except IntegrityError as exc:
            # Lost a race with a concurrent create: the checks above passed for both.
            if "email" in str(exc.orig).lower():
                raise EmailTakenError("That email address belongs to another user.") from exc
            raise UsernameTakenError("That username is taken.") from exc
