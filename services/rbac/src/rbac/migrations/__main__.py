"""`python -m rbac.migrations`: upgrade RBAC_DATABASE_URL to the newest schema (idempotent)."""

from common.migrations import migrate_from_environment
from rbac.migrations import SCRIPT_LOCATION
from rbac.settings import RbacSettings


def main() -> None:
    migrate_from_environment("rbac", RbacSettings, SCRIPT_LOCATION)


if __name__ == "__main__":
    main()
