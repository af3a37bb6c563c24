"""`python -m auth.seed`: create or update the admin user (idempotent).

Reads ADMIN_USERNAME (default `admin`) and ADMIN_PASSWORD (required). The password is never
printed or logged. An existing admin gets the password, the admin flag and an active account
back; its sessions are left alone when the password did not change.
"""

import asyncio
import logging
import os
import sys

from auth.deps import password_hasher
from auth.settings import AuthSettings
from auth.users.models import User
from auth.users.passwords import Passwords
from auth.users.repository import UserRepository, username_key
from common.clock import utcnow
from common.logs import configure_logging
from common.settings import load_settings
from common.sql import SqlDatabase

logger = logging.getLogger("auth.seed")


async def seed_admin(settings: AuthSettings, username: str, password: str) -> str:
    """Create or update the admin; returns `created`, `updated` or `unchanged`."""
    passwords: Passwords = password_hasher(settings)
    database = SqlDatabase(settings.database_url, pool_size=1)
    try:
        async with database.session() as session:
            users = UserRepository(session)
            user = await users.get_by_username(username)
            if user is None:
                await users.add(
                    User(
                        username=username,
                        username_key=username_key(username),
                        name="Administrator",
                        password_hash=await passwords.hash(password),
                        is_admin=True,
                    )
                )
                return "created"
            same_password = (await passwords.verify(user.password_hash, password)).valid
            if same_password and user.is_admin and user.is_active:
                return "unchanged"
            if not same_password:
                user.password_hash = await passwords.hash(password)
            user.is_admin = True
            user.is_active = True
            user.updated_at = utcnow()
            await users.add(user)
            return "updated"
    finally:
        await database.dispose()


def main() -> None:
    settings = load_settings(AuthSettings)
    configure_logging("auth-seed", settings.log_level, json_format=settings.log_json)
    username = os.environ.get("ADMIN_USERNAME", "admin").strip() or "admin"
    password = os.environ.get("ADMIN_PASSWORD", "")
    if len(password) < settings.password_min_length:
        sys.exit(
            f"invalid setting ADMIN_PASSWORD: must be at least "
            f"{settings.password_min_length} characters"
        )
    outcome = asyncio.run(seed_admin(settings, username, password))
    logger.info("admin user %s", outcome, extra={"username": username})


if __name__ == "__main__":
    main()
