"""SQL access to users."""

import uuid

from sqlalchemy import select
from sqlmodel import col

from auth.users.models import User
from common.pagination import PageParams
from common.sql_repository import SqlRepository


def username_key(username: str) -> str:
    """The case-insensitive identity of a username."""
    return username.casefold()


class UserRepository(SqlRepository):
    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_username(self, username: str) -> User | None:
        if "\x00" in username:
            # No stored name holds a NUL (PostgreSQL cannot store one, and would refuse the
            # query with an error): the Swagger form login reaches here unvalidated.
            return None
        result = await self.session.execute(
            select(User).where(col(User.username_key) == username_key(username))
        )
        return result.scalar_one_or_none()

    async def email_taken(self, email: str, *, other_than: uuid.UUID | None = None) -> bool:
        query = select(col(User.id)).where(col(User.email) == email)
        if other_than is not None:
            query = query.where(col(User.id) != other_than)
        return (await self.session.execute(query)).first() is not None

    async def page(self, params: PageParams) -> tuple[list[User], int]:
        return await self.select_page(select(User).order_by(col(User.id)), params)

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def delete(self, user: User) -> None:
        await self.session.delete(user)
        await self.session.flush()
