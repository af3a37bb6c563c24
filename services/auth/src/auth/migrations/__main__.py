"""`python -m auth.migrations`: upgrade AUTH_DATABASE_URL to the newest schema (idempotent)."""

from auth.migrations import MIGRATIONS_DIR
from auth.settings import AuthSettings
from common.migrations import migrate_from_environment


def main() -> None:
    migrate_from_environment("auth", AuthSettings, MIGRATIONS_DIR)


if __name__ == "__main__":
    main()
